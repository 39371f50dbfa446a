"""Workflows the browser tests register and launch from the UI."""

from __future__ import annotations

import dataclasses
import enum
import time

import pandas as pd

from slipstream import (
    Cache,
    Directory,
    File,
    LaunchPlan,
    current_context,
    dynamic,
    map_task,
    task,
    workflow,
)
from slipstream.dask import Dask, WorkerGroup


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Scaling:
    factor: int
    label: str = "total"


@task
def total(xs: list[int], scaling: Scaling, color: Color) -> str:
    return f"{scaling.label}={sum(xs) * scaling.factor} in {color.value}"


@task
def shout(text: str) -> str:
    return text.upper()


@workflow
def typed(xs: list[int], scaling: Scaling, color: Color = Color.RED) -> str:
    """A list, a dataclass and an Enum in; one string out."""
    return shout(text=total(xs=xs, scaling=scaling, color=color))


blue_plan = LaunchPlan.get_or_create(
    typed, name="blue_plan", default_inputs={"xs": [2, 3]}, fixed_inputs={"color": Color.BLUE}
)


def _explode(n: int) -> int:
    raise ValueError(f"n={n} is not allowed here")


@task
def boom(n: int) -> int:
    return _explode(n)


@workflow
def failing(n: int = 7) -> int:
    return boom(n=n)


@task
def nap(seconds: float) -> float:
    print(f"napping for {seconds} s", flush=True)
    time.sleep(seconds)
    return seconds


@workflow
def sleepy(seconds: float = 60.0) -> float:
    return nap(seconds=seconds)


@task
def square(x: int) -> int:
    return x * x


@workflow
def squares(xs: list[int] = [1, 2, 3]) -> list[int]:  # noqa: B006 - a workflow default
    return map_task(square)(x=xs)


@workflow
def inner(x: int) -> int:
    return square(x=square(x=x))


@workflow
def nested(x: int = 2) -> int:
    """A sub-workflow (a collapsible group) and a map (one node with counts)."""
    return square(x=inner(x=x))


@task
def table(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"i": range(rows), "name": [f"row {i}" for i in range(rows)]})


@workflow
def framed(rows: int = 25) -> pd.DataFrame:
    return table(rows=rows)


@task
def inc(x: int) -> int:
    return x + 1


@workflow
def chain(x: int = 0) -> int:
    """600 nodes: more than the graph draws at once."""
    for _ in range(600):
        x = inc(x=x)
    return x


@task(task_config=Dask(workers=WorkerGroup(number_of_workers=1)))
def dask_sum(n: int) -> int:
    from distributed import Client

    client = Client()
    return int(sum(client.gather(client.map(lambda i: i + 1, range(n)))))


@workflow
def dasky(n: int = 20) -> int:
    return dask_sum(n=n)


@task(retries=1)
def flaky(x: int) -> int:
    if current_context().attempt == 1:
        raise RuntimeError("the first attempt always fails")
    return x


@task(cache=Cache(version="1"))
def remembered(x: int) -> int:
    return x * 10


@workflow
def retried(x: int = 4) -> int:
    """A retry and (from the second run on) a cache hit, for the timeline."""
    return flaky(x=remembered(x=x))


@dynamic
def ladder(n: int) -> int:
    value = 0
    for _ in range(n):
        value = inc(x=value)
    return value


@workflow
def climbing(n: int = 3) -> int:
    """A dynamic node: its body appears in the graph as a group once it runs."""
    return ladder(n=n)


@task
def echo_hostile(text: str) -> str:
    """Prints and returns whatever it is given (the XSS test gives it markup)."""
    print(f"log line: {text}", flush=True)
    return f"out: {text}"


@task
def fail_hostile(text: str) -> str:
    raise ValueError(f"bad value: {text}")


@workflow
def hostile(text: str) -> str:
    return echo_hostile(text=text)


@workflow
def hostile_failing(text: str) -> str:
    return fail_hostile(text=echo_hostile(text=text))


@task
def read_text(f: File) -> str:
    with open(f.path, encoding="utf-8") as handle:
        return f"{f.path.rsplit('/', 1)[-1]}: {handle.read()}"


@workflow
def read_file(f: File) -> str:
    return read_text(f=f)


@task
def list_tree(d: Directory) -> list[str]:
    import os

    found = []
    for folder, _, files in os.walk(d.path):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                found.append(f"{os.path.relpath(path, d.path)}={handle.read()}")
    return sorted(found)


@workflow
def list_folder(d: Directory) -> list[str]:
    return list_tree(d=d)

"""Fan-out flows the engine tests run out of process or across an engine crash (by module name)."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Optional

from slipstream import Cache, conditional, dynamic, map_task, task, workflow


def bump(path: str | Path) -> int:
    """Count a call in a file shared between processes; returns the count so far."""
    with open(path, "a") as f:
        f.write("x")
    return Path(path).stat().st_size


def count(path: str | Path) -> int:
    return Path(path).stat().st_size if Path(path).exists() else 0


def _wait(flag: str) -> None:
    deadline = time.monotonic() + 60
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.05)


@task
def square(x: int) -> int:
    return x * x


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task
def label(text: str) -> str:
    return text


@task
def as_text(x: int) -> str:
    return str(x)


@task
def gated(x: int, flag: str, counters: str) -> int:
    """Items below 2 return at once; the others wait for the flag file."""
    bump(Path(counters) / str(x))
    if x >= 2:
        _wait(flag)
    return x * 10


@task(retries=2)
def flaky(x: int, counters: str) -> int:
    """Fails the first attempt of every item."""
    if bump(Path(counters) / str(x)) == 1:
        raise ValueError(f"first try of item {x}")
    return x + 100


@task(cache=Cache(version="1"))
def cached_square(x: int, counters: str) -> int:
    bump(Path(counters) / str(x))
    return x * x


@task(cache=Cache(version="1", serialize=True))
def serialized_square(x: int, counters: str) -> int:
    """Identical items wait for the first to finish, then reuse its cached output."""
    bump(Path(counters) / str(x))
    time.sleep(0.3)
    return x * x


@task(timeout=1)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@workflow
def gated_map(xs: list[int], flag: str, counters: str) -> list[int]:
    return map_task(functools.partial(gated, flag=flag, counters=counters))(x=xs)


@workflow
def squares_map(xs: list[int]) -> list[int]:
    return map_task(square, concurrency=2)(x=xs)


@workflow
def sleepy_map(xs: list[float]) -> list[Optional[float]]:  # noqa: UP045 - the hint users write
    return map_task(sleepy, min_success_ratio=0.5)(seconds=xs)


@dynamic
def squares(n: int) -> list[int]:
    return [square(x=i) for i in range(n)]


@dynamic
def sum_of_squares(n: int) -> int:
    """A dynamic calling a dynamic."""
    return total(xs=squares(n=n))


@dynamic
def gated_fan(n: int, flag: str, counters: str) -> list[int]:
    return [gated(x=i, flag=flag, counters=counters) for i in range(n)]


@dynamic
def wrong_type(n: int) -> int:
    return as_text(x=n)  # a str where the dynamic declares an int


@workflow
def inner_gate(flag: str, counters: str) -> int:
    first = gated(x=0, flag=flag, counters=counters)
    second = gated(x=5, flag=flag, counters=counters)
    first >> second
    return second


@workflow
def middle_gate(flag: str, counters: str) -> int:
    return inner_gate(flag=flag, counters=counters)


@workflow
def nested_gate(flag: str, counters: str) -> int:
    before = gated(x=1, flag=flag, counters=counters)
    inside = middle_gate(flag=flag, counters=counters)
    before >> inside
    return inside


@workflow
def sized(n: int) -> str:
    return (
        conditional("size")
        .if_(n < 10)
        .then(label(text="small"))
        .elif_((n >= 10) & (n < 100))
        .then(label(text="medium"))
        .else_()
        .then(label(text="large"))
    )


@workflow
def gated_branch(n: int, flag: str, counters: str) -> int:
    return (
        conditional("gate")
        .if_(n > 0)
        .then(inner_gate(flag=flag, counters=counters))
        .else_()
        .then(gated(x=9, flag=flag, counters=counters))
    )


tripled = map_task(functools.partial(gated, flag="", counters=""), concurrency=2)

"""Reading inside outputs (`out.field`, `out["k"]`, `out[0]`) and Flyte's condition helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pydantic
import pytest

from slipstream import CompileError, conditional, task, workflow


@dataclass
class Stats:
    mean: float
    count: int
    tags: list[str]


class Report(pydantic.BaseModel):
    name: str
    scores: dict[str, int]


@task
def stats(n: int) -> Stats:
    return Stats(mean=n / 2, count=n, tags=[f"t{i}" for i in range(n)])


@task
def report() -> Report:
    return Report(name="r", scores={"x": 7})


@task
def mapping() -> dict[str, int]:
    return {"k": 5}


@task
def listing() -> list[str]:
    return ["first", "second"]


@task
def join(x: float, n: int, tag: str, name: str, score: int, k: int, first: str) -> str:
    return f"{x} {n} {tag} {name} {score} {k} {first}"


@task
def say(s: str) -> str:
    return s


@task
def flag(on: bool) -> bool:
    return on


@task
def maybe(x: int) -> Optional[int]:  # noqa: UP045 - the hint Flyte users write
    return x if x > 0 else None


def test_fields_keys_and_indexes_feed_tasks(home: Path) -> None:
    @workflow
    def wf(n: int) -> str:
        s = stats(n=n)
        r = report()
        return join(
            x=s.mean,
            n=s.count,
            tag=s.tags[1],
            name=r.name,
            score=r.scores["x"],
            k=mapping()["k"],
            first=listing()[0],
        )

    node = next(n for n in wf.template.nodes if n.id == "join")
    assert node.inputs["tag"].path == ("tags", 1)
    assert node.inputs["score"].path == ("scores", "x")
    assert wf(n=3) == "1.5 3 t1 r 7 5 first"


def test_a_workflow_input_field_and_a_workflow_output_from_a_field(home: Path) -> None:
    @workflow
    def wf(s: Stats) -> int:
        return stats(n=s.count).count

    assert wf(s=Stats(mean=0.0, count=4, tags=[])) == 4


def test_fields_in_conditions_and_the_helpers(home: Path) -> None:
    @workflow
    def wf(n: int, on: bool, x: int) -> str:
        s = stats(n=n)
        return (
            conditional("size")
            .if_(s.count > 2)
            .then(
                conditional("kind")
                .if_(flag(on=on).is_true())
                .then(say(s="on"))
                .elif_(maybe(x=x).is_none())
                .then(say(s="none"))
                .else_()
                .then(say(s="other"))
            )
            .elif_(flag(on=on).is_false())
            .then(say(s="small and off"))
            .else_()
            .then(say(s="small"))
        )

    assert wf(n=3, on=True, x=1) == "on"
    assert wf(n=3, on=False, x=0) == "none"
    assert wf(n=3, on=False, x=1) == "other"
    assert wf(n=1, on=False, x=1) == "small and off"
    assert wf(n=1, on=True, x=1) == "small"


def test_bad_paths_are_compile_errors_naming_the_field() -> None:
    with pytest.raises(CompileError, match=r"dataclass Stats has no field 'median'.*mean, count"):

        @workflow
        def wf1() -> float:
            return stats(n=1).median

    with pytest.raises(CompileError, match=r"a list\[str\] cannot be indexed with 'a'"):

        @workflow
        def wf2() -> str:
            return listing()["a"]

    with pytest.raises(CompileError, match="a str has no attribute 'upper'"):

        @workflow
        def wf3() -> str:
            return say(s="x").upper

    with pytest.raises(CompileError, match=r"expects str but gets int from .count of output"):

        @workflow
        def wf4() -> str:
            return say(s=stats(n=1).count)

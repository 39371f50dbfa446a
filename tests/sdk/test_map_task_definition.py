"""map_task(): its node, its list interface, partial-bound inputs, and errors at definition."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import pytest

from slipstream import CompileError, DefinitionError, dynamic, map_task, task, workflow
from slipstream.ir import LiteralType


@task
def scale(x: int, factor: int = 2) -> int:
    return x * factor


@task
def split(x: int) -> tuple[int, int] | None:  # a union output stays one union
    return None


class Pair(NamedTuple):
    low: int
    high: int


@task
def bounds(x: int, y: int) -> Pair:
    return Pair(min(x, y), max(x, y))


def test_a_map_is_one_node_with_list_inputs_and_outputs() -> None:
    @workflow
    def wf(xs: list[int]) -> list[int]:
        return map_task(scale, concurrency=3)(x=xs)

    [node] = wf.template.nodes
    assert (node.id, node.kind, node.target) == ("map-scale", "map", scale.name)
    assert node.spec == {"mapped": ["x", "factor"], "min_success_ratio": 1.0, "concurrency": 3}
    assert set(node.inputs) == {"x"}  # factor keeps the task's default per item
    assert wf.template.tasks[scale.name] is scale.template


def test_partial_binds_a_constant_for_every_item() -> None:
    mapped = map_task(functools.partial(scale, factor=10))
    assert mapped.mapped == ["x"]
    ir = mapped.interface.ir
    assert ir.input("x").type == LiteralType("list", item=LiteralType("int"))  # type: ignore[union-attr]
    assert ir.input("factor").type == LiteralType("int")  # type: ignore[union-attr]

    @workflow
    def wf(xs: list[int]) -> list[int]:
        return mapped(x=xs)

    [node] = wf.template.nodes
    assert node.inputs["factor"].literal.value == 10
    assert node.spec["mapped"] == ["x"]


def test_min_success_ratio_makes_output_elements_optional() -> None:
    mapped = map_task(scale, min_success_ratio=0.5)
    output = mapped.interface.ir.output("o0")
    assert output is not None
    assert output.type == LiteralType(
        "list", item=LiteralType("union", variants=(LiteralType("int"), LiteralType("none")))
    )
    already_optional = map_task(split, min_success_ratio=0.5).interface.ir.output("o0")
    assert already_optional is not None and already_optional.type.item is not None
    assert already_optional.type.item.variants.count(LiteralType("none")) == 1


def test_optional_outputs_must_be_consumed_as_optional() -> None:
    @task
    def strict(xs: list[int]) -> int:
        return sum(xs)

    with pytest.raises(CompileError, match=r"expects list\[int\] but gets list\[int \| none\]"):

        @workflow
        def wf(xs: list[int]) -> int:
            return strict(xs=map_task(scale, min_success_ratio=0.9)(x=xs))


def test_named_outputs_become_lists_and_unpack() -> None:
    @task
    def spread(lows: list[int], highs: list[int]) -> int:
        return sum(highs) - sum(lows)

    @workflow
    def wf(xs: list[int], ys: list[int]) -> int:
        low, high = map_task(bounds)(x=xs, y=ys)
        return spread(lows=low, highs=high)

    spread_node = wf.template.nodes[1]
    assert spread_node.inputs["highs"].name == "high"


def test_feeding_a_list_output_to_a_scalar_input_is_a_compile_error() -> None:
    @task
    def one(x: int) -> int:
        return x

    with pytest.raises(CompileError, match=r"input 'x' expects int but gets list\[int\]"):

        @workflow
        def wf(xs: list[int]) -> int:
            return one(x=map_task(scale)(x=xs))


def test_mapped_input_needs_a_list() -> None:
    with pytest.raises(CompileError, match=r"input 'x' expects list\[int\] but gets int"):

        @workflow
        def wf(x: int) -> list[int]:
            return map_task(scale)(x=x)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: map_task(scale, concurrency=0), r"concurrency=0 must be None .* or an int >= 1"),
        (lambda: map_task(scale, concurrency=True), r"concurrency=True"),
        (lambda: map_task(scale, min_success_ratio=1.5), r"min_success_ratio=1.5 must be a"),
        (lambda: map_task(functools.partial(scale, 3)), r"bind inputs by keyword"),
        (lambda: map_task(functools.partial(scale, nope=1)), r"unknown input\(s\) \['nope'\]"),
        (lambda: map_task(functools.partial(scale, x=1, factor=2)), r"leave at least one input"),
        (lambda: map_task(len), r"maps a @task"),
    ],
)
def test_bad_map_task_options_are_rejected_clearly(make, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        make()


def test_a_dynamic_cannot_be_mapped() -> None:
    @dynamic
    def fan(n: int) -> int:
        return n

    with pytest.raises(DefinitionError, match="maps a @task"):
        map_task(fan)


def test_calls_take_keywords_and_do_not_rebind_partial_inputs() -> None:
    mapped = map_task(functools.partial(scale, factor=3))
    with pytest.raises(TypeError, match="keyword arguments"):
        mapped([1, 2])
    with pytest.raises(TypeError, match=r"\['factor'\] are already bound"):
        mapped(x=[1], factor=2)


def test_a_direct_call_runs_the_map_locally(home: Path) -> None:
    assert map_task(functools.partial(scale, factor=3))(x=[1, 2, 3]) == [3, 6, 9]
    assert tuple(map_task(bounds)(x=[1, 9], y=[5, 2])) == ([1, 2], [5, 9])

"""Tuple return annotations are several outputs o0, o1, ...; one-field NamedTuples return bare."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import NamedTuple

import pytest

from slipstream import CompileError, dynamic, task, workflow
from slipstream.errors import TypeTransformError


@task
def typing_tuple(x: int) -> typing.Tuple[int, str]:  # noqa: UP006 - Flyte's spelling
    return x, str(x)


@task
def builtin_tuple(x: int) -> tuple[int, str]:
    return x + 1, f"b{x}"


@task
def bare_tuple(x: int) -> (int, str):  # type: ignore[syntax]
    return x + 2, f"c{x}"


@task
def wrong_length(x: int) -> tuple[int, str]:
    return (x,)  # type: ignore[return-value]


class Slope(NamedTuple):
    slope_value: float


@task
def slope(x: int) -> Slope:
    return x * 1.5  # type: ignore[return-value]  # Flyte lets a one-field NamedTuple return bare


@pytest.mark.parametrize("fn", [typing_tuple, builtin_tuple, bare_tuple])
def test_each_spelling_declares_outputs_o0_o1(fn: typing.Any) -> None:
    assert [v.name for v in fn.interface.ir.outputs] == ["o0", "o1"]
    assert [str(v.type) for v in fn.interface.ir.outputs] == ["int", "str"]


def test_local_calls_return_an_unpackable_tuple_with_o_names(home: Path) -> None:
    result = bare_tuple(x=1)
    assert result == (3, "c1")
    number, text = result
    assert (number, text) == (result.o0, result.o1) == (3, "c1")
    assert repr(typing_tuple(x=5)) == "DefaultNamedTupleOutput(o0=5, o1='5')"


def test_tuples_unpack_in_workflows_and_return_from_them(home: Path) -> None:
    @workflow
    def wf(x: int) -> tuple[str, int, str]:
        a, b = typing_tuple(x=x)
        both = builtin_tuple(x=a)
        return b, both.o0, bare_tuple(x=both[0]).o1

    assert [v.name for v in wf.interface.ir.outputs] == ["o0", "o1", "o2"]
    assert wf(x=1) == ("1", 2, "c2")


def test_a_dynamic_body_unpacks_tuple_promises(home: Path) -> None:
    @dynamic
    def fan(n: int) -> list[str]:
        texts = []
        for i in range(n):
            _, text = builtin_tuple(x=i)
            texts.append(text)
        return texts

    assert fan(n=3) == ["b0", "b1", "b2"]


def test_wrong_tuple_length_is_named(home: Path) -> None:
    with pytest.raises(TypeTransformError, match=r"must return a tuple of 2 values \(o0, o1\)"):
        wrong_length(x=1)
    with pytest.raises(CompileError, match="must return 2 values"):

        @workflow
        def wf(x: int) -> tuple[int, str]:
            return typing_tuple(x=x).o0  # type: ignore[return-value]


def test_a_one_field_named_tuple_may_be_returned_bare(home: Path) -> None:
    assert slope(x=2) == Slope(slope_value=3.0)

    @workflow
    def wf(x: int) -> Slope:
        return slope(x=x).slope_value  # type: ignore[return-value]

    @workflow
    def whole(x: int) -> Slope:
        return slope(x=x)

    assert wf(x=4) == Slope(6.0)
    assert whole(x=4) == Slope(6.0)

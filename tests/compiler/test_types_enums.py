"""Enums with str and int values travel as their values."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mixed(enum.Enum):
    A = 1.5


def test_literal_type(registry: TypeRegistry) -> None:
    assert registry.literal_type(Color) == LiteralType(
        "enum", name=f"{__name__}.Color", values=('"red"', '"green"')
    )
    assert registry.literal_type(Level).values == ("1", "2")


@pytest.mark.parametrize("member", [Color.RED, Color.GREEN, Level.LOW, Level.HIGH])
def test_roundtrip(roundtrip: Any, member: enum.Enum) -> None:
    assert roundtrip(member, type(member)) is member


def test_value_is_stored(registry: TypeRegistry, ctx: TransformContext) -> None:
    assert registry.to_literal(Color.GREEN, Color, ctx) == Literal(value="green")
    assert registry.to_literal("green", Color, ctx) == Literal(value="green")


def test_wrong_member_names_value_and_allowed(
    registry: TypeRegistry, ctx: TransformContext
) -> None:
    with pytest.raises(TypeTransformError, match=r"one of 'red', 'green'\), got str 'blue'"):
        registry.to_literal("blue", Color, ctx)
    with pytest.raises(TypeTransformError, match=r"one of 1, 2\), got int 3"):
        registry.to_python(Literal(value=3), Level, ctx)
    with pytest.raises(TypeTransformError, match="got Level"):
        registry.to_literal(Level.LOW, Color, ctx)


def test_values_must_be_str_or_int(registry: TypeRegistry) -> None:
    with pytest.raises(TypeTransformError, match=r"Mixed .*member A has the value 1\.5"):
        registry.literal_type(Mixed)


def test_enum_inside_list(roundtrip: Any) -> None:
    assert roundtrip([Color.RED, Color.RED], list[Color]) == [Color.RED, Color.RED]

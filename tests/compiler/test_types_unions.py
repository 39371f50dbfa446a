"""Optional / Union: variant selection, decoding with and without a recorded variant."""

from __future__ import annotations

from typing import Any, Optional, Union

import pytest

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


def test_literal_type(registry: TypeRegistry) -> None:
    expected = LiteralType("union", variants=(LiteralType("int"), LiteralType("none")))
    assert registry.literal_type(Optional[int]) == expected  # noqa: UP045 - both spellings
    assert registry.literal_type(int | None) == expected


@pytest.mark.parametrize(
    ("py_type", "value", "variant"),
    [
        (Optional[int], 5, 0),  # noqa: UP045
        (Optional[int], None, 1),  # noqa: UP045
        (str | None, "x", 0),
        (Union[int, str], "7", 1),  # noqa: UP007
        (Union[float, int], 3, 1),  # noqa: UP007 - exact type first: 3 stays an int
        (Union[int, float], 3.0, 1),  # noqa: UP007
        (Union[int, bool], True, 1),  # noqa: UP007
        (Optional[list[int]], [1, 2], 0),  # noqa: UP045
        (list[int] | dict[str, int], {"a": 1}, 1),
    ],
)
def test_roundtrip_records_variant(
    registry: TypeRegistry,
    ctx: TransformContext,
    roundtrip: Any,
    py_type: Any,
    value: Any,
    variant: int,
) -> None:
    assert registry.to_literal(value, py_type, ctx).variant == variant
    decoded = roundtrip(value, py_type)
    assert decoded == value
    assert type(decoded) is type(value)


def test_int_falls_back_to_float_member(registry: TypeRegistry, ctx: TransformContext) -> None:
    literal = registry.to_literal(2, float | None, ctx)
    assert literal == Literal(value=2.0, variant=0)


def test_no_member_matches(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"^expected Optional\[int\], got str 'a'$"):
        registry.to_literal("a", Optional[int], ctx)  # noqa: UP045
    with pytest.raises(TypeTransformError, match=r"^expected int \| str, got float 1\.5$"):
        registry.to_literal(1.5, int | str, ctx)


def test_bad_inside_of_the_right_member_is_explained(
    registry: TypeRegistry, ctx: TransformContext
) -> None:
    with pytest.raises(TypeTransformError, match=r"\[1\]: expected int, got str 'x'"):
        registry.to_literal([1, "x"], Optional[list[int]], ctx)  # noqa: UP045


def test_plain_values_decode_without_variant(registry: TypeRegistry, ctx: TransformContext) -> None:
    # A value from a non-union output bound to an Optional input carries no variant.
    assert registry.to_python(Literal(value=4), Optional[int], ctx) == 4  # noqa: UP045
    assert registry.to_python(Literal(value=None), Optional[int], ctx) is None  # noqa: UP045
    assert registry.to_python(Literal(value="s"), int | str, ctx) == "s"


def test_values_from_a_reordered_union_still_decode(
    registry: TypeRegistry, ctx: TransformContext
) -> None:
    written = registry.to_literal(2.5, Union[int, float], ctx)  # noqa: UP007
    assert written.variant == 1
    assert registry.to_python(written, Union[float, str, int], ctx) == 2.5  # noqa: UP007


def test_bad_variant_index(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match="variant 5 of a union with 2 members"):
        registry.to_python(Literal(value=1, variant=5), Optional[int], ctx)  # noqa: UP045


def test_none_member_rejects_values(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"expected Optional\[int\], got str 'x'"):
        registry.to_python(Literal(value="x"), Optional[int], ctx)  # noqa: UP045

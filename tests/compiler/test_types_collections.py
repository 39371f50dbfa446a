"""list[T] and dict[str, T]: inline and nested encodings, errors with paths."""

from __future__ import annotations

import datetime as dt
import typing
from typing import Any

import pytest

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


def test_list_of_ints_is_one_inline_value(registry: TypeRegistry, ctx: TransformContext) -> None:
    literal = registry.to_literal([1, 2, 3], list[int], ctx)
    assert literal == Literal(value=[1, 2, 3])
    assert registry.to_python(literal, list[int], ctx) == [1, 2, 3]


@pytest.mark.parametrize(
    ("py_type", "value"),
    [
        (list[float], [1.5, 2.0, -3.25]),
        (list[str], ["a", "", "ü"]),
        (list[bool], [True, False]),
        (list[dt.datetime], [dt.datetime(2024, 5, 1, 12, 30), dt.datetime(2000, 1, 1)]),
        (list[list[int]], [[1], [], [2, 3]]),
        (dict[str, int], {"a": 1, "b": 2}),
        (dict[str, list[str]], {"x": ["a", "b"], "y": []}),
        (typing.List[int], [4, 5]),  # noqa: UP006 - the typing spelling must work too
        (typing.Dict[str, float], {"pi": 3.14}),  # noqa: UP006
    ],
)
def test_roundtrip(roundtrip: Any, py_type: Any, value: Any) -> None:
    assert roundtrip(value, py_type) == value


def test_float_list_accepts_ints_and_returns_floats(
    registry: TypeRegistry, ctx: TransformContext
) -> None:
    literal = registry.to_literal([1, 2.5], list[float], ctx)
    decoded = registry.to_python(literal, list[float], ctx)
    assert decoded == [1.0, 2.5]
    assert all(type(v) is float for v in decoded)


def test_literal_types(registry: TypeRegistry) -> None:
    assert registry.literal_type(list[int]) == LiteralType("list", item=LiteralType("int"))
    assert registry.literal_type(dict[str, list[str]]) == LiteralType(
        "dict", item=LiteralType("list", item=LiteralType("str"))
    )


def test_wrong_member_is_named_by_index(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"^\[2\]: expected int, got str 'abc'$"):
        registry.to_literal([1, 2, "abc"], list[int], ctx)


def test_nested_paths(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"^\['b'\]\[1\]: expected int, got float 2\.5$"):
        registry.to_literal({"a": [1], "b": [1, 2.5]}, dict[str, list[int]], ctx)


def test_not_a_list(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"expected list\[int\], got tuple \(1, 2\)"):
        registry.to_literal((1, 2), list[int], ctx)
    with pytest.raises(TypeTransformError, match=r"expected dict\[str, int\], got list"):
        registry.to_literal([("a", 1)], dict[str, int], ctx)


def test_bool_is_not_an_int_member(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"\[0\]: expected int, got bool True"):
        registry.to_literal([True], list[int], ctx)


def test_dict_keys_must_be_str(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"dict\[int, float\].*keys must be str"):
        registry.literal_type(dict[int, float])
    with pytest.raises(TypeTransformError, match=r"got a key of type int 1"):
        registry.to_literal({1: 2}, dict[str, int], ctx)


def test_bare_collections_need_item_types(registry: TypeRegistry) -> None:
    with pytest.raises(TypeTransformError, match=r"annotate it as list\[T\]"):
        registry.literal_type(list)
    with pytest.raises(TypeTransformError, match=r"annotate it as dict\[str, T\]"):
        registry.literal_type(typing.Dict)  # noqa: UP006


def test_decoding_checks_stored_members(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"^\[1\]: expected int, got str 'x'$"):
        registry.to_python(Literal(value=[1, "x"]), list[int], ctx)
    with pytest.raises(TypeTransformError, match=r"expected a stored list\[int\], got int 5"):
        registry.to_python(Literal(value=5), list[int], ctx)


def test_items_form_decodes(registry: TypeRegistry, ctx: TransformContext) -> None:
    literal = Literal(items=(Literal(value=1), Literal(value=2)))
    assert registry.to_python(literal, list[int], ctx) == [1, 2]
    entries = Literal(entries={"a": Literal(value=[1])})
    assert registry.to_python(entries, dict[str, list[int]], ctx) == {"a": [1]}


def test_optional_members_keep_their_variant(registry: TypeRegistry, ctx: TransformContext) -> None:
    literal = registry.to_literal([1, None], list[int | None], ctx)
    assert literal.items is not None
    assert [m.variant for m in literal.items] == [0, 1]
    assert registry.to_python(literal, list[int | None], ctx) == [1, None]

"""Transformers for ``list[T]`` and ``dict[str, T]``; registered by slipstream.compiler.types."""

from __future__ import annotations

import math
import typing
from typing import Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.common import (
    decode_error,
    decode_member,
    encode_member,
    is_plain,
    key_segment,
    mismatch,
    type_label,
)
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType

# Item types whose Python values are already their JSON form: a list of them is checked with
# one pass over exact types instead of one transformer call per member.
_JSON_SCALARS: tuple[type, ...] = (int, float, str, bool)


def _item_type(py_type: Any, origin: type) -> Any:
    args = typing.get_args(py_type)
    if origin is list:
        if len(args) != 1:
            raise TypeTransformError(
                f"{type_label(py_type)} has no item type; annotate it as list[T], e.g. list[int]"
            )
        return args[0]
    if len(args) != 2:
        raise TypeTransformError(
            f"{type_label(py_type)} has no key and value types; annotate it as dict[str, T]"
        )
    if args[0] is not str:
        raise TypeTransformError(
            f"{type_label(py_type)} is not supported: dict keys must be str, "
            f"not {type_label(args[0])}"
        )
    return args[1]


class ListTransformer:
    """``list[T]`` (and ``typing.List[T]``)."""

    name = "list"

    def matches(self, py_type: Any) -> bool:
        return py_type is list or typing.get_origin(py_type) is list

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        item = _item_type(py_type, list)
        return LiteralType("list", item=registry.literal_type(item))

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        item = _item_type(py_type, list)
        if not isinstance(value, list):
            raise mismatch(value, type_label(py_type))
        if (
            item in _JSON_SCALARS
            and all(type(v) is item for v in value)
            and (item is not float or all(map(math.isfinite, value)))
        ):
            return Literal(value=list(value))
        members = [encode_member(registry, v, item, ctx, f"[{i}]") for i, v in enumerate(value)]
        if all(is_plain(m) for m in members):
            return Literal(value=[m.value for m in members])
        return Literal(items=tuple(members))

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        item = _item_type(py_type, list)
        if literal.items is not None:
            return [
                decode_member(registry, m, item, ctx, f"[{i}]") for i, m in enumerate(literal.items)
            ]
        values = literal.value
        if not isinstance(values, list):
            raise decode_error(literal, type_label(py_type))
        if item in _JSON_SCALARS and all(type(v) is item for v in values):
            return list(values)
        return [
            decode_member(registry, Literal(value=v), item, ctx, f"[{i}]")
            for i, v in enumerate(values)
        ]


class DictTransformer:
    """``dict[str, T]`` (and ``typing.Dict[str, T]``)."""

    name = "dict"

    def matches(self, py_type: Any) -> bool:
        return py_type is dict or typing.get_origin(py_type) is dict

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        item = _item_type(py_type, dict)
        return LiteralType("dict", item=registry.literal_type(item))

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        item = _item_type(py_type, dict)
        if not isinstance(value, dict):
            raise mismatch(value, type_label(py_type))
        members: dict[str, Literal] = {}
        for key, member in value.items():
            if not isinstance(key, str):
                raise TypeTransformError(
                    f"expected {type_label(py_type)}, got a key of type "
                    f"{type(key).__name__} {key!r} (keys must be str)"
                )
            members[key] = encode_member(registry, member, item, ctx, key_segment(key))
        if all(is_plain(m) for m in members.values()):
            return Literal(value={k: m.value for k, m in members.items()})
        return Literal(entries=members)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        item = _item_type(py_type, dict)
        if literal.entries is not None:
            return {
                k: decode_member(registry, m, item, ctx, key_segment(k))
                for k, m in literal.entries.items()
            }
        values = literal.value
        if not isinstance(values, dict):
            raise decode_error(literal, type_label(py_type))
        return {
            k: decode_member(registry, Literal(value=v), item, ctx, key_segment(k))
            for k, v in values.items()
        }


def register(registry: TypeRegistry) -> None:
    registry.register(ListTransformer())
    registry.register(DictTransformer())

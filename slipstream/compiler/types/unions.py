"""Transformer for ``Optional[T]``, ``T | None`` and ``Union[A, B]``; registered by types/."""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.common import NONE_TYPES, is_union, mismatch, type_label
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


def _python_class(py_type: Any) -> Any:
    if py_type in NONE_TYPES:
        return type(None)
    origin = typing.get_origin(py_type)
    return origin if origin is not None else py_type


def _encode_order(value: Any, args: tuple[Any, ...]) -> list[int]:
    """Variants whose Python class is exactly the value's first, then the rest in order."""
    exact = [i for i, arg in enumerate(args) if _python_class(arg) is type(value)]
    return exact + [i for i in range(len(args)) if i not in exact]


def _decode_order(literal: Literal, args: tuple[Any, ...]) -> list[int]:
    if 0 <= literal.variant < len(args):
        # The recorded variant first; the others cover a value written under another union
        # whose members come in a different order (an assignable but not identical type).
        return [literal.variant] + [i for i in range(len(args)) if i != literal.variant]
    plain_none = literal.value is None and not literal.uri and literal.items is None
    plain_none = plain_none and literal.entries is None
    nones = [i for i, arg in enumerate(args) if arg in NONE_TYPES]
    others = [i for i in range(len(args)) if i not in nones]
    return nones + others if plain_none else others


class UnionTransformer:
    """A value of one of several types; the literal records which one (``variant``)."""

    name = "union"

    def matches(self, py_type: Any) -> bool:
        return is_union(py_type)

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        variants = tuple(registry.literal_type(arg) for arg in typing.get_args(py_type))
        return LiteralType("union", variants=variants)

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        args = typing.get_args(py_type)
        order = _encode_order(value, args)
        first_error: TypeTransformError | None = None
        for i in order:
            try:
                literal = registry.transformer_for(args[i]).to_literal(
                    value, args[i], ctx, registry
                )
            except TypeTransformError as exc:
                first_error = first_error or exc
                continue
            return msgspec.structs.replace(literal, variant=i)
        error = mismatch(value, type_label(py_type))
        if first_error is not None and _python_class(args[order[0]]) is type(value):
            # The value has a member's outer type but a bad inside: say what is wrong there.
            raise TypeTransformError(f"{error} ({first_error})") from first_error
        raise error

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        args = typing.get_args(py_type)
        if literal.variant >= len(args):
            raise TypeTransformError(
                f"expected {type_label(py_type)}, got a value stored as variant "
                f"{literal.variant} of a union with {len(args)} members"
            )
        inner = msgspec.structs.replace(literal, variant=-1)
        first_error: TypeTransformError | None = None
        for i in _decode_order(literal, args):
            try:
                return registry.to_python(inner, args[i], ctx)
            except TypeTransformError as exc:
                first_error = first_error or exc
        shown = literal.value if not literal.uri else literal.uri
        error = mismatch(shown, type_label(py_type))
        if first_error is not None and literal.variant >= 0:
            raise TypeTransformError(f"{error} ({first_error})") from first_error
        raise error


def register(registry: TypeRegistry) -> None:
    registry.register(UnionTransformer())

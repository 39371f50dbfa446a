"""Transformer for ``enum.Enum`` subclasses with str or int values; registered by types/."""

from __future__ import annotations

import enum
import json
from typing import Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.common import qualified_name, short_repr
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


def _members(py_type: type[enum.Enum]) -> list[enum.Enum]:
    members = list(py_type)
    for member in members:
        value = member.value
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise TypeTransformError(
                f"enum {py_type.__qualname__} is not supported: member {member.name} has the "
                f"value {short_repr(value)}; enum values must be str or int"
            )
    return members


def allowed_values(py_type: type[enum.Enum]) -> str:
    return ", ".join(repr(m.value) for m in py_type)


def lookup(py_type: type[enum.Enum], value: Any) -> enum.Enum:
    """The member of py_type for value (a member or a member's value), or a clear error."""
    if isinstance(value, py_type):
        return value
    if not isinstance(value, enum.Enum):
        for member in _members(py_type):
            if member.value == value and type(member.value) is type(value):
                return member
    raise TypeTransformError(
        f"expected {py_type.__qualname__} (one of {allowed_values(py_type)}), "
        f"got {type(value).__name__} {short_repr(value)}"
    )


class EnumTransformer:
    """An Enum member travels as its value."""

    name = "enum"

    def matches(self, py_type: Any) -> bool:
        return isinstance(py_type, type) and issubclass(py_type, enum.Enum)

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        values = tuple(json.dumps(m.value) for m in _members(py_type))
        return LiteralType("enum", name=qualified_name(py_type), values=values)

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        return Literal(value=lookup(py_type, value).value)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        return lookup(py_type, literal.value)


def register(registry: TypeRegistry) -> None:
    registry.register(EnumTransformer())

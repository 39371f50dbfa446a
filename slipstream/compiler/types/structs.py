"""Transformer for dataclasses and pydantic v2 models (structs); registered by types/."""

from __future__ import annotations

import dataclasses
import threading
import typing
from typing import Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.common import (
    decode_error,
    decode_member,
    encode_member,
    is_plain,
    mismatch,
    nested,
    qualified_name,
    short_repr,
    type_label,
)
from slipstream.compiler.types.schema import dumps_schema, json_schema
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str  # the attribute, and the key in the literal
    py_type: Any
    required: bool
    key: str  # the keyword the constructor / model_validate takes
    default: Any = None  # a JSON-able default, shown in the schema when has_default
    has_default: bool = False


@dataclasses.dataclass(frozen=True)
class _Shape:
    fields: tuple[_Field, ...]
    pydantic: bool


def looks_pydantic(py_type: Any) -> bool:
    """A pydantic model, recognised without importing pydantic for ordinary types."""
    if not isinstance(py_type, type):
        return False
    if not (hasattr(py_type, "model_fields") or hasattr(py_type, "__pydantic_fields__")):
        return False
    import pydantic

    return issubclass(py_type, pydantic.BaseModel)


def is_struct(py_type: Any) -> bool:
    return (isinstance(py_type, type) and dataclasses.is_dataclass(py_type)) or looks_pydantic(
        py_type
    )


def _json_default(value: Any) -> tuple[Any, bool]:
    """(value, True) for a default a schema can show, else (None, False)."""
    if value is None or type(value) in (str, int, float, bool):
        return value, True
    return None, False


def _unresolved_field(cls: type, exc: Exception) -> TypeTransformError:
    """Find which field's annotation cannot be resolved, to name it."""
    for field in dataclasses.fields(cls):
        probe = type("_probe", (), {"__annotations__": {field.name: field.type}})
        probe.__module__ = cls.__module__
        try:
            typing.get_type_hints(probe)
        except Exception as field_exc:
            return TypeTransformError(
                f"field {field.name!r} of dataclass {cls.__qualname__} has no usable type "
                f"({short_repr(field.type)}: {field_exc})"
            )
    return TypeTransformError(
        f"the field types of dataclass {cls.__qualname__} are unusable: {exc}"
    )


def _dataclass_shape(cls: type) -> _Shape:
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:
        raise _unresolved_field(cls, exc) from exc
    fields = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue  # computed in __post_init__, rebuilt by the constructor
        if field.name not in hints:
            raise TypeTransformError(
                f"field {field.name!r} of dataclass {cls.__qualname__} has no type annotation"
            )
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        default, shown = _json_default(field.default)
        fields.append(_Field(field.name, hints[field.name], required, field.name, default, shown))
    return _Shape(tuple(fields), pydantic=False)


def _pydantic_shape(cls: Any) -> _Shape:
    if not getattr(cls, "__pydantic_complete__", True):
        try:
            cls.model_rebuild()
        except Exception as exc:
            raise TypeTransformError(
                f"pydantic model {cls.__qualname__} is not fully defined: {exc}"
            ) from exc
    fields = []
    for name, info in cls.model_fields.items():
        if info.annotation is None:
            raise TypeTransformError(
                f"field {name!r} of pydantic model {cls.__qualname__} has no usable type"
            )
        key = name
        if isinstance(info.validation_alias, str):
            key = info.validation_alias
        elif isinstance(info.alias, str) and info.alias:
            key = info.alias
        fields.append(_Field(name, info.annotation, info.is_required(), key))
    return _Shape(tuple(fields), pydantic=True)


class StructTransformer:
    """A struct travels as a JSON object of its fields, each converted by its own transformer."""

    name = "struct"

    def __init__(self) -> None:
        self._shapes: dict[type, _Shape] = {}
        self._describing = threading.local()  # classes whose literal_type is being built

    def matches(self, py_type: Any) -> bool:
        return is_struct(py_type)

    def _shape(self, cls: type) -> _Shape:
        shape = self._shapes.get(cls)
        if shape is None:
            shape = _pydantic_shape(cls) if looks_pydantic(cls) else _dataclass_shape(cls)
            self._shapes[cls] = shape
        return shape

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        name = qualified_name(py_type)
        describing: set[type] = self._describing.__dict__.setdefault("classes", set())
        if py_type in describing:
            return LiteralType("struct", name=name)  # a recursive reference
        describing.add(py_type)
        try:
            shape = self._shape(py_type)
            field_types = {}
            for field in shape.fields:
                try:
                    field_types[field.name] = registry.literal_type(field.py_type)
                except TypeTransformError as exc:
                    raise nested(f"{py_type.__qualname__}.{field.name}", exc) from exc
            schema = _pydantic_schema(py_type) if shape.pydantic else None
            if schema is None:
                schema = _fields_schema(py_type, shape, field_types)
        finally:
            describing.discard(py_type)
        return LiteralType("struct", name=name, schema=dumps_schema(schema))

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        if not isinstance(value, py_type):
            raise mismatch(value, type_label(py_type))
        members = {
            field.name: encode_member(
                registry, getattr(value, field.name), field.py_type, ctx, f".{field.name}"
            )
            for field in self._shape(py_type).fields
        }
        if all(is_plain(m) for m in members.values()):
            return Literal(value={k: m.value for k, m in members.items()})
        return Literal(entries=members)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        stored: dict[str, Any]
        if literal.entries is not None:
            stored = dict(literal.entries)
        elif isinstance(literal.value, dict):
            stored = {k: Literal(value=v) for k, v in literal.value.items()}
        else:
            raise decode_error(literal, type_label(py_type))
        shape = self._shape(py_type)
        kwargs: dict[str, Any] = {}
        for field in shape.fields:
            member = stored.get(field.name)
            if member is None and field.key != field.name:
                member = stored.get(field.key)
            if member is None:
                if field.required:
                    raise TypeTransformError(
                        f".{field.name}: missing from the stored {type_label(py_type)}"
                    )
                continue  # the constructor fills in the default
            kwargs[field.key] = decode_member(
                registry, member, field.py_type, ctx, f".{field.name}"
            )
        try:
            if shape.pydantic:
                return py_type.model_validate(kwargs)
            return py_type(**kwargs)
        except (TypeError, ValueError) as exc:
            raise TypeTransformError(f"cannot build a {type_label(py_type)}: {exc}") from exc


def _pydantic_schema(cls: Any) -> dict[str, Any] | None:
    try:
        schema: dict[str, Any] = cls.model_json_schema()
    except Exception:
        return None  # e.g. a DataFrame field: pydantic has no schema for it; ours describes it
    return schema


def _fields_schema(cls: type, shape: _Shape, field_types: dict[str, LiteralType]) -> dict[str, Any]:
    properties = {}
    for field in shape.fields:
        prop = json_schema(field_types[field.name])
        if field.has_default:
            prop["default"] = field.default
        properties[field.name] = prop
    return {
        "title": cls.__qualname__,
        "type": "object",
        "properties": properties,
        "required": [f.name for f in shape.fields if f.required],
    }


def register(registry: TypeRegistry) -> None:
    registry.register(StructTransformer())

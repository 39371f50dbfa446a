"""Helpers shared by the type transformers: labels, error messages with paths, member coding."""

from __future__ import annotations

from typing import Any

from slipstream.compiler.labels import is_union, type_label
from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal

__all__ = ["is_union", "type_label"]

NONE_TYPES = (None, type(None))


def qualified_name(py_type: Any) -> str:
    """``module.QualName`` of a class, or the label of a typing construct."""
    qualname = getattr(py_type, "__qualname__", None)
    module = getattr(py_type, "__module__", None)
    if isinstance(py_type, type) and qualname:
        return f"{module}.{qualname}" if module and module != "builtins" else qualname
    return type_label(py_type)


def short_repr(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mismatch(value: Any, expected: str) -> TypeTransformError:
    """``expected list[int], got str 'abc'``."""
    return TypeTransformError(
        f"expected {expected}, got {type(value).__name__} {short_repr(value)}"
    )


def nested(segment: str, exc: Exception) -> TypeTransformError:
    """Prefix an error with where it happened: ``[2]: ...``, ``.field[0]: ...``."""
    message = str(exc)
    joiner = "" if message.startswith(("[", ".")) else ": "
    return TypeTransformError(f"{segment}{joiner}{message}")


def key_segment(key: str) -> str:
    return f"[{key!r}]"


def is_plain(literal: Literal) -> bool:
    """True when only ``value`` is set: the literal can be folded into an inline collection."""
    return (
        not literal.uri
        and literal.items is None
        and literal.entries is None
        and literal.variant == -1
        and not literal.format
        and not literal.hash
    )


def encode_member(
    registry: TypeRegistry, value: Any, py_type: Any, ctx: TransformContext, segment: str
) -> Literal:
    """Encode a member of a collection or struct (never offloaded on its own as JSON)."""
    try:
        return registry.transformer_for(py_type).to_literal(value, py_type, ctx, registry)
    except TypeTransformError as exc:
        raise nested(segment, exc) from exc


def decode_member(
    registry: TypeRegistry, literal: Literal, py_type: Any, ctx: TransformContext, segment: str
) -> Any:
    try:
        return registry.to_python(literal, py_type, ctx)
    except TypeTransformError as exc:
        raise nested(segment, exc) from exc


def decode_error(literal: Literal, expected: str) -> TypeTransformError:
    """A stored literal that does not have the shape its type needs."""
    shown = literal.value if literal.uri == "" else literal.uri
    return TypeTransformError(
        f"expected a stored {expected}, got {type(shown).__name__} {short_repr(shown)}"
    )

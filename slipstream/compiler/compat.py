"""Compile-time type compatibility of LiteralTypes; used by the DAG compiler to check bindings."""

from __future__ import annotations

from slipstream.ir import LiteralType

_SIMPLE = frozenset(
    {"int", "float", "str", "bool", "datetime", "timedelta", "none", "file", "directory"}
)


def is_assignable(source: LiteralType, target: LiteralType) -> bool:
    """True if a value of type ``source`` may be bound where ``target`` is expected.

    Strict like Flyte: no numeric widening (an int output cannot feed a float input). A
    union source fits if every one of its members fits; a non-union source fits a union
    target if it fits one member (so ``none`` and ``T`` both fit ``Optional[T]``).
    """
    if source == target:
        return True
    if source.kind == "union":
        return all(is_assignable(variant, target) for variant in source.variants)
    if target.kind == "union":
        return any(is_assignable(source, variant) for variant in target.variants)
    if source.kind != target.kind:
        return False
    kind = source.kind
    if kind in ("list", "dict"):
        if source.item is None or target.item is None:
            return False
        return is_assignable(source.item, target.item)
    if kind == "struct":
        # An empty schema is a recursive reference inside a struct's own schema.
        same_schema = source.schema == target.schema or not source.schema or not target.schema
        return source.name == target.name and same_schema
    if kind == "enum":
        return source.name == target.name and source.values == target.values
    if kind == "dataframe":
        # Both formats are stored as parquet and read back as whichever the input asks for.
        return True
    if kind == "pickle":
        return source.name == target.name
    # Scalars, none, file, directory: the same kind is the same type.
    return kind in _SIMPLE

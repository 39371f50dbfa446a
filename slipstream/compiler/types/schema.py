"""JSON Schema of a LiteralType; used by the struct transformer and by input forms."""

from __future__ import annotations

import json
from typing import Any

from slipstream.ir import LiteralType

_SCALARS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "timedelta": {"type": "number", "description": "seconds"},
    "none": {"type": "null"},
}


def json_schema(literal_type: LiteralType) -> dict[str, Any]:
    """The JSON Schema of the inline form of a value of literal_type.

    Offloaded kinds (dataframe, file, directory, pickle) are objects marked with
    ``x-slipstream-kind``: they are given by reference, not typed in.
    """
    kind = literal_type.kind
    if kind in _SCALARS:
        return dict(_SCALARS[kind])
    if kind == "list" and literal_type.item is not None:
        return {"type": "array", "items": json_schema(literal_type.item)}
    if kind == "dict" and literal_type.item is not None:
        return {"type": "object", "additionalProperties": json_schema(literal_type.item)}
    if kind == "union":
        return {"anyOf": [json_schema(v) for v in literal_type.variants]}
    if kind == "enum":
        return {"title": literal_type.name, "enum": [json.loads(v) for v in literal_type.values]}
    if kind == "struct":
        if literal_type.schema:
            loaded: dict[str, Any] = json.loads(literal_type.schema)
            return loaded
        # A recursive reference to a struct being described: its schema is its parent's.
        return {"type": "object", "title": literal_type.name}
    marker: dict[str, Any] = {"type": "object", "x-slipstream-kind": kind}
    if literal_type.name:
        marker["title"] = literal_type.name
    if literal_type.format:
        marker["format"] = literal_type.format
    return marker


def dumps_schema(schema: dict[str, Any]) -> str:
    """Canonical text of a schema: equal schemas give equal strings (they are compared)."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str)

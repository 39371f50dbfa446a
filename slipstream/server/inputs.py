"""JSON values from an API request to literals of a registered interface; used by the services.

The server has no Python types, only the IR: each value is checked against its LiteralType
before anything is queued, and a bad one names the input and the type it expected. File,
Directory and DataFrame values are URIs, accepted only where `References` allows (the
server's blob store, the allowed prefixes): never a path of the server's own disk.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from slipstream.compiler.types.schema import json_schema
from slipstream.ir import Literal, LiteralMap, LiteralType, TypedInterface
from slipstream.server.identifiers import check_identifier
from slipstream.server.references import ReferenceRefused, References

_BY_REFERENCE = {"file", "directory", "dataframe"}


class InputError(ValueError):
    """A request's inputs do not fit the interface; `input` names the offending one."""

    def __init__(self, input_name: str, message: str) -> None:
        super().__init__(message)
        self.input = input_name


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fail(where: str, literal_type: LiteralType, value: Any, why: str = "") -> ValueError:
    shown = json.dumps(value, default=str)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    suffix = f" ({why})" if why else ""
    return ValueError(f"{where}: expected {literal_type}, got {shown}{suffix}")


def _check_struct(value: Any, schema: dict[str, Any], where: str, lt: LiteralType) -> None:
    if not isinstance(value, dict):
        raise _fail(where, lt, value, "an object")
    missing = [name for name in schema.get("required", ()) if name not in value]
    if missing:
        raise _fail(where, lt, value, f"missing field(s) {', '.join(map(repr, missing))}")
    properties = schema.get("properties", {})
    for name, field_schema in properties.items():
        kind = field_schema.get("type") if isinstance(field_schema, dict) else None
        if name not in value or kind is None:
            continue
        ok = {
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": _is_number,
            "string": lambda v: isinstance(v, str),
            "boolean": lambda v: isinstance(v, bool),
            "array": lambda v: isinstance(v, list),
            "object": lambda v: isinstance(v, dict),
        }.get(kind)
        if ok is not None and not ok(value[name]):
            raise _fail(f"{where}.{name}", lt, value[name], f"field {name!r} must be a {kind}")


def to_literal(value: Any, literal_type: LiteralType, where: str, refs: References) -> Literal:
    """The literal of a JSON value of literal_type; ValueError naming `where` if it does not fit.
    URIs (File, Directory, DataFrame) must be where `refs` allows."""
    kind = literal_type.kind
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return Literal(value=value)
    elif kind == "float":
        if _is_number(value):
            return Literal(value=float(value))
        if value in ("nan", "inf", "-inf"):
            return Literal(value=value)
    elif kind == "str":
        if isinstance(value, str):
            return Literal(value=value)
    elif kind == "bool":
        if isinstance(value, bool):
            return Literal(value=value)
    elif kind == "none":
        if value is None:
            return Literal(value=None)
    elif kind == "datetime":
        if isinstance(value, str):
            try:
                return Literal(value=dt.datetime.fromisoformat(value).isoformat())
            except ValueError:
                raise _fail(where, literal_type, value, "an ISO 8601 date-time") from None
    elif kind == "timedelta":
        if _is_number(value):
            return Literal(value=float(value))
    elif kind == "list" and literal_type.item is not None:
        if isinstance(value, list):
            items = [
                to_literal(v, literal_type.item, f"{where}[{i}]", refs) for i, v in enumerate(value)
            ]
            if all(_plain(m) for m in items):
                return Literal(value=[m.value for m in items])
            return Literal(items=tuple(items))
    elif kind == "dict" and literal_type.item is not None:
        if isinstance(value, dict):
            entries = {
                k: to_literal(v, literal_type.item, f"{where}[{k!r}]", refs)
                for k, v in value.items()
            }
            if all(_plain(m) for m in entries.values()):
                return Literal(value={k: m.value for k, m in entries.items()})
            return Literal(entries=entries)
    elif kind == "enum":
        allowed = [json.loads(v) for v in literal_type.values]
        if value in allowed and not isinstance(value, bool):
            return Literal(value=value)
        raise _fail(where, literal_type, value, f"one of {allowed}")
    elif kind == "union":
        for index, variant in enumerate(literal_type.variants):
            try:
                literal = to_literal(value, variant, where, refs)
            except ReferenceRefused:
                raise
            except ValueError:
                continue
            return Literal(
                value=literal.value,
                uri=literal.uri,
                hash=literal.hash,
                format=literal.format,
                items=literal.items,
                entries=literal.entries,
                variant=index,
            )
    elif kind == "struct":
        _check_struct(value, json_schema(literal_type), where, literal_type)
        return Literal(value=value)
    elif kind in _BY_REFERENCE:
        uri = value.get("uri") if isinstance(value, dict) else value
        if isinstance(uri, str) and "://" in uri:
            uri, sha = refs.stored(uri, kind, where)
            fmt = "parquet" if kind == "dataframe" else kind
            name = uri.rstrip("/").rsplit("/", 1)[-1]
            if isinstance(value, dict) and value.get("name") is not None:
                try:  # the name it had when uploaded: the task sees the file by that name
                    name = check_identifier("file name", value["name"])
                except ValueError as exc:
                    raise ValueError(f"{where}: {exc}") from None
            value = None if kind == "dataframe" else name
            return Literal(value=value, uri=uri, hash=sha, format=fmt)
        raise _fail(where, literal_type, value, 'a URI such as {"uri": "s3://bucket/key"}')
    elif kind == "pickle":
        raise ValueError(
            f"{where}: {literal_type} is a pickled (untyped) value, which the API does not accept"
        )
    raise _fail(where, literal_type, value)


def _plain(literal: Literal) -> bool:
    return not literal.uri and literal.items is None and literal.entries is None


def encode_inputs(
    interface: TypedInterface,
    values: dict[str, Any],
    refs: References,
    fixed: frozenset[str] = frozenset(),
) -> LiteralMap:
    """Literals for `values`; defaults fill the rest. InputError names the first bad input."""
    if not isinstance(values, dict):
        raise InputError("", f"inputs must be a JSON object, got {type(values).__name__}")
    known = {v.name for v in interface.inputs}
    for name in values:
        if name not in known:
            raise InputError(
                name,
                f"unknown input {name!r}; the inputs are: {', '.join(sorted(known)) or 'none'}",
            )
        if name in fixed:
            raise InputError(name, f"input {name!r} is fixed by the launch plan")
    literals: LiteralMap = {}
    for variable in interface.inputs:
        if variable.name in values:
            try:
                literals[variable.name] = to_literal(
                    values[variable.name], variable.type, f"input {variable.name!r}", refs
                )
            except ValueError as exc:
                raise InputError(variable.name, str(exc)) from None
        elif variable.has_default and variable.default is not None:
            literals[variable.name] = variable.default
        elif not variable.has_default:
            raise InputError(
                variable.name, f"missing required input {variable.name!r} ({variable.type})"
            )
    return literals

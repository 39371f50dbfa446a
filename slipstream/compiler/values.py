"""Values for people: command-line text to typed values, literals to JSON; for CLI and server."""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import re
from typing import Any

from slipstream.compiler.labels import is_union, type_label
from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.common import NONE_TYPES
from slipstream.compiler.types.enums import allowed_values
from slipstream.compiler.types.files import Directory, File
from slipstream.compiler.types.frames import frame_format
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType

__all__ = ["literal_to_display", "parse_text", "type_label"]

_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
_NULL = frozenset({"null", "none", ""})
_DURATION = re.compile(
    r"(?:(?P<d>\d+(?:\.\d+)?)d)?(?:(?P<h>\d+(?:\.\d+)?)h)?"
    r"(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?"
)


def _bad(text: str, py_type: Any, why: str = "") -> TypeTransformError:
    suffix = f": {why}" if why else ""
    return TypeTransformError(f"{text!r} is not a valid {type_label(py_type)}{suffix}")


def parse_text(text: str, py_type: Any, registry: TypeRegistry) -> Any:
    """The Python value of py_type that the command-line text ``text`` stands for.

    Scalars are written as usual (bools as true/false/1/0/yes/no, datetimes in ISO 8601,
    durations as "90", "90s", "15m", "2h", "1d", "1h30m"), enums by value or name, files,
    directories and frames (.parquet, .csv) by local path, and anything else as JSON.
    """
    if py_type in NONE_TYPES:
        if text.strip().lower() in _NULL:
            return None
        raise _bad(text, py_type)
    if is_union(py_type):
        return _parse_union(text, py_type, registry)
    if py_type is str:
        return text
    if py_type is bool:
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise _bad(text, py_type, "use true/false, yes/no or 1/0")
    if py_type is int:
        try:
            return int(text.strip())
        except ValueError:
            raise _bad(text, py_type) from None
    if py_type is float:
        try:
            return float(text.strip())
        except ValueError:
            raise _bad(text, py_type) from None
    if py_type is dt.datetime:
        try:
            return dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise _bad(text, py_type, "use ISO 8601, e.g. 2024-05-01T12:30:00") from None
    if py_type is dt.timedelta:
        return _parse_duration(text, py_type)
    if isinstance(py_type, type) and issubclass(py_type, enum.Enum):
        return _parse_enum(text, py_type)
    if py_type is File or py_type is Directory:
        return _parse_path(text, py_type)
    if frame_format(py_type) is not None:
        return _parse_frame(text, py_type)
    return _parse_json(text, py_type, registry)


def _parse_union(text: str, py_type: Any, registry: TypeRegistry) -> Any:
    import typing

    args = typing.get_args(py_type)
    if any(a in NONE_TYPES for a in args) and text.strip().lower() in ("null", "none"):
        return None
    reasons = []
    prefix = f"{text!r} is not a valid "
    for arg in args:
        if arg in NONE_TYPES:
            continue
        try:
            return parse_text(text, arg, registry)
        except TypeTransformError as exc:
            message = str(exc)
            reasons.append(message[len(prefix) :] if message.startswith(prefix) else message)
    if len(reasons) == 1:
        # Optional[T]: T's own explanation, if it has one, is the whole story.
        _label, _sep, why = reasons[0].partition(": ")
        raise _bad(text, py_type, why)
    raise _bad(text, py_type, "; ".join(f"as {reason}" for reason in reasons))


def _parse_duration(text: str, py_type: Any) -> dt.timedelta:
    word = text.strip().lower().replace(" ", "")
    try:
        return dt.timedelta(seconds=float(word))
    except OverflowError:
        raise _bad(text, py_type, "too long a duration") from None
    except ValueError:
        pass
    match = _DURATION.fullmatch(word)
    if not word or match is None or not any(match.groupdict().values()):
        raise _bad(text, py_type, 'use seconds ("90") or units like "90s", "15m", "1h30m", "1d"')
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    try:
        return dt.timedelta(
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    except OverflowError:
        raise _bad(text, py_type, "too long a duration") from None


def _parse_enum(text: str, py_type: type[enum.Enum]) -> enum.Enum:
    for member in py_type:
        if str(member.value) == text:
            return member
    for member in py_type:
        if member.name == text:
            return member
    raise _bad(text, py_type, f"expected one of {allowed_values(py_type)}")


def _parse_path(text: str, py_type: type[File] | type[Directory]) -> File | Directory:
    path = os.path.expanduser(text)
    exists = os.path.isfile(path) if py_type is File else os.path.isdir(path)
    if not exists:
        kind = "file" if py_type is File else "directory"
        raise _bad(text, py_type, f"no such {kind} on this machine")
    return py_type(os.path.abspath(path))


def _parse_frame(text: str, py_type: Any) -> Any:
    path = os.path.expanduser(text)
    if not os.path.isfile(path):
        raise _bad(text, py_type, "no such file on this machine (give a .parquet or .csv path)")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise _bad(text, py_type, "give a .parquet or .csv file")
    arrow = frame_format(py_type) == "arrow"
    try:
        if suffix == ".csv":
            if arrow:
                import pyarrow.csv as pacsv

                return pacsv.read_csv(path)
            import pandas as pd

            return pd.read_csv(path)
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return table if arrow else table.to_pandas()
    except Exception as exc:  # the readers raise many types for a malformed file
        raise _bad(text, py_type, str(exc)) from exc


def _parse_json(text: str, py_type: Any, registry: TypeRegistry) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(text, py_type, f"not JSON ({exc})") from None
    try:
        return registry.to_python(Literal(value=data), py_type, TransformContext())
    except TypeTransformError as exc:
        raise _bad(text, py_type, str(exc)) from exc


def literal_to_display(literal: Literal, literal_type: LiteralType) -> Any:
    """A JSON-able form of a value for people (CLI ``--json``, the server, the UI).

    Inline values are shown as they are (structs as dicts, enums as their values, datetimes
    as ISO strings, durations in seconds); offloaded ones as ``{"uri", "hash", "format"}``.
    """
    if literal.uri:
        return {"uri": literal.uri, "hash": literal.hash, "format": literal.format}
    if literal_type.kind == "union" and 0 <= literal.variant < len(literal_type.variants):
        literal_type = literal_type.variants[literal.variant]
    # Members of a list or dict have its item type; struct fields are shown by their own
    # shape, which the literal carries.
    member_type = literal_type.item or literal_type
    if literal.items is not None:
        return [literal_to_display(m, member_type) for m in literal.items]
    if literal.entries is not None:
        return {k: literal_to_display(m, member_type) for k, m in literal.entries.items()}
    return literal.value

"""Records <-> table rows: dict fields become JSON text; used by store.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from slipstream.storage.records import (
    AttemptRecord,
    CacheEntry,
    EntityRecord,
    EventRecord,
    ExecutionRecord,
    NodeRecord,
)

R = TypeVar("R", bound=msgspec.Struct)

_encode = msgspec.json.Encoder(order="deterministic").encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode
_asdict = msgspec.structs.asdict


def _to_row(json_fields: tuple[str, ...]) -> Callable[[Any], dict]:
    def convert(record: Any) -> dict[str, Any]:
        row = _asdict(record)
        for name in json_fields:
            row[name] = _encode(row[name]).decode()
        return row

    return convert


def _from_row(cls: type[R], json_fields: tuple[str, ...]) -> Callable[[Mapping[Any, Any]], R]:
    def convert(mapping: Mapping[Any, Any]) -> R:
        row = dict(mapping)
        for name in json_fields:
            raw = row[name]
            row[name] = _decode(raw) if raw else {}
        return cls(**row)

    return convert


# Used by create_execution; the hot write path (batch.py) binds from astuple instead.
execution_row = _to_row(("options",))
node_row = _to_row(("info",))

execution_record = _from_row(ExecutionRecord, ("options",))
node_record = _from_row(NodeRecord, ("info",))
attempt_record = _from_row(AttemptRecord, ("handle", "info"))
event_record = _from_row(EventRecord, ())
cache_record = _from_row(CacheEntry, ())
entity_record = _from_row(EntityRecord, ())

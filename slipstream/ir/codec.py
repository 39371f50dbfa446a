"""JSON codec for IR documents and the canonical content hash of literals; used by every layer."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

import msgspec

from slipstream.ir.model import Literal

T = TypeVar("T")

_encoder = msgspec.json.Encoder(order="deterministic")


def encode(obj: Any) -> bytes:
    """Encode an IR object (or plain JSON data) deterministically."""
    return _encoder.encode(obj)


def dumps(obj: Any) -> str:
    return _encoder.encode(obj).decode()


def decode(data: bytes | str, type: type[T]) -> T:
    return msgspec.json.decode(data, type=type)


def literal_hash(literal: Literal) -> str:
    """The content hash of a value: equal values hash equal, offloaded data by its own hash."""
    return hashlib.sha256(_encoder.encode(literal)).hexdigest()

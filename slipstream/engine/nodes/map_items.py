"""The items of one map node in compact arrays: inputs, phases, counters, outputs, saved chunks.

Used by slipstream.engine.nodes.map. Per item it holds a phase byte, two failure counters
(one byte each), an attempt counter (two bytes) and the output literals; nothing else.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from typing import Any

import msgspec

from slipstream.compiler.kinds import optional
from slipstream.engine.state import combine, list_item
from slipstream.errors import ExecutionError
from slipstream.ir import Literal, LiteralMap, LiteralType, TypedInterface, decode, encode

PENDING, RUNNING, SUCCEEDED, CACHED, FAILED = 0, 1, 2, 3, 4
WAITING = 5  # to start again later (a retry's backoff, a serialized cache's lock): not pending
ERROR_SAMPLES = 5


class ProgressChunk(msgspec.Struct, frozen=True):
    """Items finished since the previous chunk: (index, phase, outputs or None)."""

    items: list[tuple[int, int, dict[str, Literal] | None]]


class ItemTable:
    """Everything a map knows about its items, O(1) small values per item."""

    def __init__(
        self,
        where: str,
        inputs: LiteralMap,
        mapped: list[str],
        values: dict[str, Any] | None,
        interface: TypedInterface,
        ratio: float,
        blobs: Any,
    ) -> None:
        self.where = where
        self.blobs = blobs
        self.mapped = [name for name in mapped if name in inputs]
        self.inputs = dict(inputs)
        for name in self.mapped:
            self.inputs[name] = self._inline_list(name, inputs[name])
        lengths = {name: _length(self.inputs[name]) for name in self.mapped}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{name} has {length}" for name, length in lengths.items())
            raise ExecutionError(
                f"{where}: its list inputs must have the same length, but {shown} items"
            )
        self.values = values
        n = self.n = next(iter(lengths.values()), 0)
        self.ratio = ratio
        self.required = math.ceil(ratio * n - 1e-9)
        self.phase = bytearray(n)
        self.user_failures = bytearray(n)
        self.system_failures = bytearray(n)
        self.attempts = array("H", bytes(2 * n))
        self.output_types = {v.name: v.type for v in interface.outputs}
        self.outputs: dict[str, list[Literal | None]] = {
            name: [None] * n for name in self.output_types
        }
        self.succeeded = self.cached = self.failed = 0
        self.errors: list[dict[str, Any]] = []
        self.unsaved: list[int] = []
        self.chunks = 0

    # -- inputs ------------------------------------------------------------------------------------
    def _inline_list(self, name: str, literal: Literal) -> Literal:
        if literal.format == "json" and literal.uri:  # a long list offloaded to the blob store
            data = self.blobs.get_bytes(literal.uri)
            if literal.hash and hashlib.sha256(data).hexdigest() != literal.hash:
                raise ExecutionError(f"{self.where}: input {name!r} does not match its hash")
            literal = Literal(value=msgspec.json.decode(data))
        if literal.items is None and not isinstance(literal.value, list):
            raise ExecutionError(f"{self.where}: input {name!r} is not a list")
        return literal

    def item_inputs(self, index: int) -> LiteralMap:
        return {
            name: list_item(literal, index) if name in self.mapped else literal
            for name, literal in self.inputs.items()
        }

    def item_values(self, index: int) -> dict[str, Any] | None:
        if self.values is None:
            return None
        return {
            name: value[index] if name in self.mapped else value
            for name, value in self.values.items()
        }

    # -- outcomes ----------------------------------------------------------------------------------
    def succeed(self, index: int, outputs: LiteralMap, cached: bool) -> None:
        for name, column in self.outputs.items():
            column[index] = outputs.get(name)
        self.phase[index] = CACHED if cached else SUCCEEDED
        self.succeeded += 1
        self.cached += cached
        self.unsaved.append(index)

    def fail(self, index: int, error_type: str, message: str) -> bool:
        """Record a final failure; True if the map can no longer reach its success ratio."""
        self.phase[index] = FAILED
        self.failed += 1
        self.unsaved.append(index)
        if len(self.errors) < ERROR_SAMPLES:
            self.errors.append({"item": index, "type": error_type, "message": message[:500]})
        return self.failed > self.n - self.required

    def summary(self, running: int) -> dict[str, Any]:
        info: dict[str, Any] = {
            "items": self.n,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "running": running,
            "cached": self.cached,
        }
        if self.errors:
            info["errors"] = list(self.errors)
        return info

    def results(self, offload_threshold: int) -> LiteralMap:
        """The map's outputs: one list per output, in input order (None for failed items)."""
        outputs: dict[str, Literal] = {}
        for name, item_type in self.output_types.items():
            column = self.outputs[name]
            if self.ratio < 1.0:
                members = [
                    _some(lit, item_type) if lit is not None else _none(item_type) for lit in column
                ]
            else:
                members = [lit for lit in column if lit is not None]
            outputs[name] = self._offload(combine(members, "list"), offload_threshold)
        self.outputs = {}
        return outputs

    def _offload(self, literal: Literal, threshold: int) -> Literal:
        """A long inline list goes to the blob store, like any large value."""
        if literal.items is not None or not isinstance(literal.value, list):
            return literal
        data = encode(literal.value)
        if len(data) <= threshold:
            return literal
        uri, sha = self.blobs.put_bytes(data)
        return Literal(uri=uri, hash=sha, format="json")

    # -- saved progress ----------------------------------------------------------------------------
    def save(self, uri_of: Any) -> bool:
        """Write the items finished since the last chunk; True if a chunk was written."""
        if not self.unsaved:
            return False
        items: list[tuple[int, int, dict[str, Literal] | None]] = []
        for index in self.unsaved:
            phase = self.phase[index]
            outputs: dict[str, Literal] | None = None
            if phase in (SUCCEEDED, CACHED):
                outputs = {}
                for name, column in self.outputs.items():
                    literal = column[index]
                    if literal is not None:
                        outputs[name] = literal
            items.append((index, phase, outputs))
        self.blobs.write_bytes(uri_of(self.chunks), encode(ProgressChunk(items)))
        self.chunks += 1
        self.unsaved = []
        return True

    def restore(self, chunks: int, uri_of: Any, errors: list[dict[str, Any]]) -> None:
        """Take back the items of the first `chunks` saved chunks."""
        for number in range(chunks):
            chunk = decode(self.blobs.read_bytes(uri_of(number)), ProgressChunk)
            for index, phase, outputs in chunk.items:
                self.phase[index] = phase
                if phase == FAILED:
                    self.failed += 1
                    continue
                self.succeeded += 1
                self.cached += phase == CACHED
                for name, literal in (outputs or {}).items():
                    self.outputs[name][index] = literal
        self.chunks = chunks
        self.errors = list(errors)


def _length(literal: Literal) -> int:
    return len(literal.items) if literal.items is not None else len(literal.value)


def _some(literal: Literal, item_type: LiteralType) -> Literal:
    """An item's output as a member of Optional[T]."""
    if item_type.kind in ("union", "none"):
        return literal
    return msgspec.structs.replace(literal, variant=0)


def _none(item_type: LiteralType) -> Literal:
    """None as a member of Optional[T] (a failed item's output)."""
    union = optional(item_type)
    if union.kind == "none":
        return Literal(value=None)
    return Literal(value=None, variant=union.variants.index(LiteralType("none")))

"""What an execution writes about itself, batched: node rows, events, attempt rows, cache entries.

The loop owns one Recorder and lends it to node kinds through their context; `flush()` writes
everything gathered so far in one transaction (every transition is written before it is acted
on: the loop flushes before it launches anything). With a lease (an execution driven by a
server), every write carries it as a fence: once the lease is lost, or its owner's own
deadline passed without a renewal, `flush()` raises LeaseLostError and writes nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from slipstream.errors import LeaseLostError
from slipstream.ir import ErrorDocument, LiteralMap, LiteralMapDocument, dumps
from slipstream.storage.records import (
    AttemptRecord,
    CacheEntry,
    EventRecord,
    ExecutionRecord,
    Lease,
    NodeRecord,
    WriteBatch,
)
from slipstream.types import ExecutionPhase

if TYPE_CHECKING:
    from slipstream.storage.metadata import MetadataStore


class Recorder:
    """The write buffer of one execution."""

    def __init__(
        self, store: MetadataStore, execution: ExecutionRecord, lease: Lease | None = None
    ) -> None:
        self.store = store
        self.execution = execution
        self.lease = lease
        self.batch = WriteBatch(lease=lease)

    def node(self, record: NodeRecord) -> None:
        """A node row changed (written once per flush however often it changes)."""
        self.batch.nodes.append(record)

    def new_nodes(self, records: list[NodeRecord]) -> None:
        self.batch.nodes.extend(records)

    def event(self, node_id: str, attempt: int, phase: str, message: str = "") -> None:
        self.batch.events.append(
            EventRecord(
                execution_id=self.execution.id,
                node_id=node_id,
                attempt=attempt,
                phase=phase,
                at=time.time(),
                message=message,
            )
        )

    def execution_event(self, phase: str, at: float) -> None:
        self.batch.execution = self.execution
        self.batch.events.append(EventRecord(execution_id=self.execution.id, phase=phase, at=at))

    def end(
        self,
        phase: ExecutionPhase,
        *,
        error: ErrorDocument | None = None,
        outputs: LiteralMap | None = None,
        failed_node: str = "",
    ) -> None:
        """The execution ended: its row and last event, written at once."""
        record = self.execution
        record.phase = phase.value
        if error is not None:
            record.error = dumps(error)
        if failed_node:
            record.options = {**record.options, "failed_node": failed_node}
        if outputs is not None:
            record.outputs = dumps(LiteralMapDocument(literals=outputs))
        record.ended_at = time.time()
        self.execution_event(record.phase, record.ended_at)
        self.flush()

    def attempt(self, record: AttemptRecord) -> None:
        self.batch.attempts.append(record)

    def cache_entry(self, entry: CacheEntry) -> None:
        self.batch.cache_entries.append(entry)

    def flush(self) -> None:
        self.check_lease()
        if self.batch:
            batch, self.batch = self.batch, WriteBatch(lease=self.lease)
            batch.nodes = list({id(n): n for n in batch.nodes}.values())
            self.store.write(batch)

    def check_lease(self) -> None:
        """LeaseLostError once the owner's own deadline passed (no renewal came in time)."""
        lease = self.lease
        if lease is not None and time.monotonic() >= lease.held_until:
            raise LeaseLostError(
                f"execution {lease.execution_id!r}: the lease of this server ({lease.owner}) "
                "could not be renewed in time; it stops driving the execution"
            )

    def heartbeat(self, pid: int) -> None:
        self.check_lease()
        self.store.heartbeat(self.execution.id, pid, time.time(), self.lease)

    def abort_requested(self) -> bool:
        return bool(self.store.is_abort_requested(self.execution.id))

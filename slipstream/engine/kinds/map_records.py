"""The bookkeeping of a map node: summary, saved chunks, item attempt records, events, cache."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slipstream.engine.cache import cache_version
from slipstream.engine.kinds.map_items import ItemTable
from slipstream.ir import ErrorDocument, LiteralMap, LiteralMapDocument, TaskTemplate, dumps
from slipstream.runners.base import AttemptHandle, AttemptSpec
from slipstream.storage.records import AttemptRecord, CacheEntry, EventRecord
from slipstream.types import AttemptPhase

if TYPE_CHECKING:
    from slipstream.engine.run import ExecutionRun
    from slipstream.engine.state import NodeState

SUMMARY_EVERY_SECONDS = 0.5
LEASE_SECONDS = 30.0


@dataclass
class ItemAttempt:
    """One running item attempt (at most `concurrency` of these exist)."""

    attempt: int
    spec: AttemptSpec
    runner: Any
    started: float
    key: str = ""  # cache key
    handle: AttemptHandle | None = None
    deadline: float | None = None


class MapBookkeeping:
    """What MapRun writes down; kept apart from how it schedules items."""

    run: ExecutionRun
    state: NodeState
    engine: Any
    task: TaskTemplate
    items: ItemTable
    running: dict[int, ItemAttempt]
    reserved: dict[int, str]
    last_summary: float
    last_save: float
    last_renew: float

    # -- records -----------------------------------------------------------------------------------
    def _summarize(self, now: float, force: bool = False) -> None:
        if not force and now - self.last_summary < SUMMARY_EVERY_SECONDS:
            return
        self.last_summary = now
        summary = self.items.summary(len(self.running))
        self.state.record.info.update(summary)
        self.run.batch.nodes.append(self.state.record)
        self.engine.observer.node_info(self.run, self.state, summary)

    def _save(self, now: float) -> None:
        """Save finished items in a chunk first, then count it in the node record."""
        self.last_save = now
        if self.items.save(self._chunk_uri):
            self.state.record.info["chunks"] = self.items.chunks
            self.run.batch.nodes.append(self.state.record)

    def _chunk_uri(self, number: int) -> str:
        prefix = self.engine.blobs.attempt_prefix(
            self.run.record.id, f"{self.state.id}/progress", number + 1
        )
        return f"{prefix}.json"

    def _record(
        self, item: ItemAttempt, phase: AttemptPhase, error: ErrorDocument | None = None
    ) -> AttemptRecord:
        return AttemptRecord(
            execution_id=self.run.record.id,
            node_id=item.spec.node_id,
            attempt=item.attempt,
            phase=phase.value,
            runner=item.runner.name,
            handle=dict(item.handle.ref) if item.handle else {},
            output_prefix=item.spec.output_prefix,
            error=dumps(error) if error else None,
            started_at=item.started,
            ended_at=None if phase == AttemptPhase.RUNNING else time.time(),
        )

    def _event(self, item: ItemAttempt, phase: str, message: str) -> None:
        self.run.batch.events.append(
            EventRecord(
                execution_id=self.run.record.id,
                node_id=item.spec.node_id,
                attempt=item.attempt,
                phase=phase,
                at=time.time(),
                message=message,
            )
        )

    # -- cache -------------------------------------------------------------------------------------
    def _owner(self, index: int) -> str:
        return f"{self.run.record.id}/{self.state.id}/{index}"

    def _store_cache(self, item: ItemAttempt, outputs: LiteralMap) -> None:
        task = self.task
        if task.cache is None or not item.key:
            return
        now = time.time()
        ttl = task.cache.ttl_seconds
        self.run.batch.cache_entries.append(
            CacheEntry(
                key=item.key,
                task_name=task.name,
                cache_version=cache_version(task),
                outputs=dumps(LiteralMapDocument(literals=outputs)),
                created_at=now,
                expires_at=None if ttl is None else now + ttl,
                execution_id=self.run.record.id,
                node_id=item.spec.node_id,
            )
        )

    def _release(self, index: int) -> None:
        key = self.reserved.pop(index, None)
        if key is not None:
            self.run.flush()  # the cache entry is written before the others stop waiting
            self.engine.store.cache_release(key, self._owner(index))

    def _renew_reservations(self, now: float) -> None:
        self.last_renew = now
        for index, key in self.reserved.items():
            self.engine.store.cache_reserve(key, self._owner(index), LEASE_SECONDS, time.time())

"""The "map" node kind: one node running a task per list element; registered by engine.kinds.

The node launches its items' attempts itself, through the same runners as any task, under
ids "<map>/<index>", within its own `concurrency` and the engine's max_parallelism. Item
state lives in an ItemTable (a few bytes per item). Attempt records are written for items
that run out of process (so a restarted engine can re-adopt them) and for failed attempts;
finished items are saved in chunks so a resumed map re-runs none of them. The node's info
carries the summary {"items", "succeeded", "failed", "running", "cached"}.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from slipstream.engine.cache import cache_key
from slipstream.engine.kinds.map_items import PENDING, RUNNING, WAITING, ItemTable
from slipstream.engine.kinds.map_records import LEASE_SECONDS, ItemAttempt, MapBookkeeping
from slipstream.engine.retry import decide
from slipstream.engine.run import cancel_in_background
from slipstream.errors import ExecutionError
from slipstream.ir import (
    ErrorDocument,
    LiteralMap,
    LiteralMapDocument,
    TaskTemplate,
    decode,
    failures,
)
from slipstream.runners.base import AttemptHandle, AttemptResult, AttemptSpec
from slipstream.storage.records import AttemptRecord
from slipstream.types import AttemptPhase, ErrorKind

if TYPE_CHECKING:
    from slipstream.engine.run import ExecutionRun
    from slipstream.engine.state import NodeState

SAVE_EVERY_SECONDS = 1.0
RENEW_SECONDS = 2.0


def run_map(
    run: ExecutionRun, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
) -> None:
    """The node handler: start the map on the first call, launch what may run on each call."""
    owner = run.owners.get(state.id)
    if owner is None:
        try:
            owner = MapRun(run, state, inputs, values)
        except ExecutionError as exc:
            run._fail(state, failures.user_failure(str(exc)))
            return
        if owner.finished:  # it failed while taking back a previous engine's attempts
            return
        run.owners[state.id] = owner
    owner.pump()


class MapRun(MapBookkeeping):
    """One running map node; lives in ExecutionRun.owners, which routes item results here."""

    def __init__(
        self, run: ExecutionRun, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
    ) -> None:
        self.run = run
        self.state = state
        self.engine = run.engine
        self.task: TaskTemplate = run._effective_task(state)
        spec = state.node.spec
        self.where = f"map_task {state.id!r} ({self.task.name})"
        self.limit: int | None = spec.get("concurrency") or None
        self.items = ItemTable(
            self.where,
            inputs,
            list(spec.get("mapped", [])),
            values,
            self.task.interface,
            float(spec.get("min_success_ratio", 1.0)),
            self.engine.blobs,
        )
        self.next_index = 0
        self.retry_ready: deque[int] = deque()
        self.retry_at: list[tuple[float, int]] = []
        self.running: dict[int, ItemAttempt] = {}
        self.reserved: dict[int, str] = {}
        self.first_failure: tuple[int, ErrorDocument, BaseException | None] | None = None
        self.last_save = self.last_summary = self.last_renew = time.monotonic()
        self.wake_at = float("inf")
        self.pump_requested = False
        self.finished = False
        if state.record.info.get("items") is not None:
            self._restore()
        self._summarize(0.0, force=True)  # flushed with the first launches: marks it started

    # -- launching ---------------------------------------------------------------------------------
    def pump(self) -> None:
        """Launch every item that may start now; finish the node when all are done."""
        self.pump_requested = False
        if self.finished or self.state.phase.terminal:
            return
        now = time.monotonic()
        self._check_deadlines(now)
        if self.finished:
            return
        while self.retry_at and self.retry_at[0][0] <= now:
            self.retry_ready.append(heapq.heappop(self.retry_at)[1])
        launches: list[AttemptSpec] = []
        while not self.run._stopping and (self.limit is None or len(self.running) < self.limit):
            if not self.retry_ready and self.next_index >= self.items.n:
                break
            if self.run.running >= self.run.settings.max_parallelism:
                self._request_pump()  # again once the engine has room
                break
            index = self._next()
            if index is None:
                break
            spec = self._prepare(index)
            if spec is not None:
                launches.append(spec)
        if self.reserved and now - self.last_renew >= RENEW_SECONDS:
            self._renew_reservations(now)
        # Every pump asks again for the wake-ups it still needs (retries, timeouts, leases).
        if self.retry_at:
            self._wake(self.retry_at[0][0])
        if self.task.timeout_seconds is not None and self.running:
            self._wake(min(item.deadline or float("inf") for item in self.running.values()))
        if self.reserved:
            self._wake(now + RENEW_SECONDS)
        if any(not self.running[_index(spec)].runner.capabilities.in_process for spec in launches):
            self.run.flush()  # their attempt records are written before they start
        for spec in launches:
            self._launch(spec)
        if (
            not (self.running or self.retry_ready or self.retry_at)
            and self.next_index >= self.items.n
        ):
            self._finish()
            return
        if now - self.last_save >= SAVE_EVERY_SECONDS:
            self._save(now)
        elif self.items.unsaved:
            self._wake(self.last_save + SAVE_EVERY_SECONDS)  # saved even if nothing else happens
        self._summarize(now)

    def _next(self) -> int | None:
        if self.retry_ready:
            return self.retry_ready.popleft()
        phase = self.items.phase
        while self.next_index < self.items.n:
            index = self.next_index
            self.next_index += 1
            if phase[index] == PENDING:
                return index
        return None

    def _prepare(self, index: int) -> AttemptSpec | None:
        """A cache hit settles the item at once (None); otherwise its next attempt's spec."""
        run, task, items = self.run, self.task, self.items
        inputs = items.item_inputs(index)
        key = ""
        if task.cache is not None:
            key = cache_key(task, inputs)
            entry = self.engine.store.cache_get(key, time.time())
            if entry is not None:
                items.succeed(index, decode(entry.outputs, LiteralMapDocument).literals, True)
                self._release(index)
                return None
            if task.cache.serialize and index not in self.reserved:
                if not self.engine.store.cache_reserve(
                    key, self._owner(index), LEASE_SECONDS, time.time()
                ):
                    heapq.heappush(self.retry_at, (time.monotonic() + 0.2, index))
                    items.phase[index] = WAITING
                    return None
                self.reserved[index] = key
        attempt = items.attempts[index] + 1
        items.attempts[index] = attempt
        node_id = f"{self.state.id}/{index}"
        last_system_try = items.system_failures[index] >= run.settings.system_retries
        spec = AttemptSpec(
            execution_id=run.record.id,
            node_id=node_id,
            attempt=attempt,
            task=task,
            inputs=inputs,
            output_prefix=self.engine.blobs.attempt_prefix(run.record.id, node_id, attempt),
            source_root=run.record.options.get("source_root", ""),
            on_demand=task.interruptible and last_system_try,
            bundle_uri=run.record.options.get("bundle_uri", ""),
            input_values=items.item_values(index),
        )
        item = ItemAttempt(attempt, spec, self.engine.runner_for(task), time.time(), key)
        self.running[index] = item
        items.phase[index] = RUNNING
        run.running += 1
        if not item.runner.capabilities.in_process:
            run.batch.attempts.append(self._record(item, AttemptPhase.RUNNING))
        return spec

    def _launch(self, spec: AttemptSpec) -> None:
        item = self.running[_index(spec)]
        try:
            item.handle = item.runner.launch(spec, self.run)
        except Exception as exc:
            item.handle = AttemptHandle(runner=item.runner.name)
            self.run.attempt_done(
                spec,
                AttemptResult(AttemptPhase.FAILED, error=failures.launch_failed(exc)),
            )
            return
        if self.task.timeout_seconds is not None:
            item.deadline = time.monotonic() + self.task.timeout_seconds
            self._wake(item.deadline)
        if item.handle.ref and not item.runner.capabilities.in_process:
            self.run.batch.attempts.append(self._record(item, AttemptPhase.RUNNING))

    def _request_pump(self) -> None:
        if not self.pump_requested:
            self.pump_requested = True
            self.run.ready.append(self.state.id)

    def _wake(self, when: float) -> None:
        """Have the engine call pump() again at `when` (retries, timeouts, leases)."""
        if when == float("inf"):
            return
        if when < self.wake_at or self.wake_at <= time.monotonic():
            self.wake_at = when
            heapq.heappush(self.run.delayed, (when, self.state.id))

    # -- results -----------------------------------------------------------------------------------
    def handle(self, kind: str, spec: AttemptSpec, payload: Any) -> None:
        """An item attempt reported (called by ExecutionRun._handle on the engine thread)."""
        index = _index(spec)
        item = self.running.get(index)
        if item is None or item.attempt != spec.attempt or kind != "done" or self.finished:
            return
        del self.running[index]
        self.run.running -= 1
        result: AttemptResult = payload
        if result.phase == AttemptPhase.SUCCEEDED and result.outputs is not None:
            self._store_cache(item, result.outputs)
            if not item.runner.capabilities.in_process:
                self.run.batch.attempts.append(self._record(item, AttemptPhase.SUCCEEDED))
            self.items.succeed(index, result.outputs, False)
            self._release(index)
        else:
            error = result.error or failures.no_error_document()
            if result.phase == AttemptPhase.SUCCEEDED:
                error = failures.system_failure("a mapped task returned a graph instead of outputs")
            self._failed_attempt(index, item, error, result.exception)
        self._request_pump()

    def _failed_attempt(
        self, index: int, item: ItemAttempt, error: ErrorDocument, exception: BaseException | None
    ) -> None:
        run, settings, items = self.run, self.run.settings, self.items
        decision = decide(
            error,
            user_failures=items.user_failures[index],
            system_failures=items.system_failures[index],
            user_retries=self.task.retries,
            system_retries=settings.system_retries,
            backoff=settings.retry_backoff,
            backoff_max=settings.retry_backoff_max,
        )
        counts = items.system_failures if decision.budget == "system" else items.user_failures
        counts[index] = min(255, counts[index] + 1)
        run.batch.attempts.append(self._record(item, AttemptPhase.FAILED, error))
        if decision.retry and not run._stopping:
            items.phase[index] = WAITING
            heapq.heappush(self.retry_at, (time.monotonic() + decision.delay, index))
            self._event(
                item,
                "RETRYING",
                f"{error.type}: {error.message} ({decision.budget} retry in {decision.delay:.2f}s)",
            )
            return
        self._release(index)
        self._event(item, "FAILED", f"{error.type}: {error.message}")
        if self.first_failure is None:
            self.first_failure = (index, error, exception)
        if items.fail(index, error.type, error.message):
            self._fail()

    def _check_deadlines(self, now: float) -> None:
        for index, item in list(self.running.items()):
            if self.finished:
                return
            if item.deadline is None or now < item.deadline or item.handle is None:
                continue
            threading.Thread(target=item.runner.cancel, args=(item.handle,), daemon=True).start()
            del self.running[index]
            self.run.running -= 1
            seconds = self.task.timeout_seconds or 0.0
            which = f"item {index}, attempt {item.attempt}"
            self._failed_attempt(
                index, item, failures.timed_out(self.task.name, seconds, which), None
            )

    # -- the end -----------------------------------------------------------------------------------
    def _finish(self) -> None:
        self.finished = True
        self._save(0.0)
        outputs = self.items.results(self.run.settings.offload_threshold)
        self._summarize(0.0, force=True)
        self.run.owners.pop(self.state.id, None)
        self.run._succeed(
            self.state,
            outputs,
            None,
            message=(f"{self.items.succeeded} of {self.items.n} items succeeded"),
        )

    def _fail(self) -> None:
        assert self.first_failure is not None
        index, error, exception = self.first_failure
        items = self.items
        self.finished = True
        self._summarize(0.0, force=True)
        how = (
            f"{items.failed} of {items.n} items failed; min_success_ratio={items.ratio:g} "
            f"needs {items.required} to succeed"
        )
        document = msgspec.structs.replace(
            error, recoverable=False, message=f"{self.where}: item {index}: {error.message} ({how})"
        )
        if exception is not None:
            self.run.exception = exception  # a local caller gets the user's own exception
        self.run._fail(self.state, document)
        self.run.owners.pop(self.state.id, None)

    def abort(self) -> None:
        """Stop every running item (this node failed, another node failed, or an abort)."""
        stopping = []
        for index, item in list(self.running.items()):
            if item.handle is not None:  # all asked at once, then waited for, like plain nodes
                stopping.append(cancel_in_background(item.runner, item.handle, item.spec.node_id))
            if not item.runner.capabilities.in_process:
                self.run.batch.attempts.append(self._record(item, AttemptPhase.ABORTED))
            self.run.running -= 1
            self._release(index)
        self.running.clear()
        self.finished = True
        self._summarize(0.0, force=True)
        for thread in stopping:
            thread.join()

    # -- resume ------------------------------------------------------------------------------------
    def _restore(self) -> None:
        """Resume: take back the saved items, then re-adopt the attempts still running."""
        info = self.state.record.info
        items = self.items
        items.restore(int(info.get("chunks", 0)), self._chunk_uri, info.get("errors", []))
        prefix = f"{self.state.id}/"
        latest: dict[int, AttemptRecord] = {}
        for record in self.engine.store.get_attempts(self.run.record.id):
            tail = record.node_id[len(prefix) :]
            if not record.node_id.startswith(prefix) or not tail.isdigit() or int(tail) >= items.n:
                continue
            index = int(tail)
            items.attempts[index] = max(items.attempts[index], record.attempt)
            if record.error and record.phase == AttemptPhase.FAILED.value:
                system = decode(record.error, ErrorDocument).kind == ErrorKind.SYSTEM.value
                counts = items.system_failures if system else items.user_failures
                counts[index] = min(255, counts[index] + 1)
            if index not in latest or record.attempt > latest[index].attempt:
                latest[index] = record
        for index, record in latest.items():
            if items.phase[index] == PENDING and record.phase == AttemptPhase.RUNNING.value:
                self._readopt(index, record)

    def _readopt(self, index: int, record: AttemptRecord) -> None:
        runner = (
            self.engine.runner(record.runner)
            if record.runner
            else self.engine.runner_for(self.task)
        )
        spec = AttemptSpec(
            execution_id=self.run.record.id,
            node_id=record.node_id,
            attempt=record.attempt,
            task=self.task,
            inputs=self.items.item_inputs(index),
            output_prefix=record.output_prefix,
            source_root=self.run.record.options.get("source_root", ""),
        )
        handle = AttemptHandle(runner=record.runner, ref=record.handle)
        item = ItemAttempt(record.attempt, spec, runner, record.started_at, handle=handle)
        if record.handle and runner.adopt(handle, spec, self.run):
            self.running[index] = item
            self.items.phase[index] = RUNNING
            self.run.running += 1
            return
        self._failed_attempt(index, item, failures.attempt_lost(record.attempt), None)


def _index(spec: AttemptSpec) -> int:
    return int(spec.node_id.rpartition("/")[2])

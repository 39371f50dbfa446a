"""The "map" node kind: one node running a task per list element.

The node launches its items' attempts through the same attempt path as any task, under ids
"<map>/<index>", within its own `concurrency` and the engine's max_parallelism. Item state
lives in an ItemTable (a few bytes per item). Attempt rows are written for items that run
out of process (so a restarted engine can re-adopt them) and for failed attempts; finished
items are saved in chunks so a resumed map re-runs none of them. The node's info carries the
summary {"items", "succeeded", "failed", "running", "cached"}.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from slipstream.engine.attempts import (
    CACHE_WAIT_SECONDS,
    Attempt,
    attempt_spec,
    effective_task,
    retry_decision,
    retry_message,
)
from slipstream.engine.nodes.base import BaseNodeKind, RunContext
from slipstream.engine.nodes.map_items import PENDING, RUNNING, WAITING, ItemTable
from slipstream.engine.nodes.map_progress import MapProgress
from slipstream.errors import ExecutionError
from slipstream.ir import ErrorDocument, LiteralMap, TaskTemplate, decode, failures
from slipstream.runners.base import AttemptResult, Runner
from slipstream.storage.records import AttemptRecord
from slipstream.types import AttemptPhase, ErrorKind

if TYPE_CHECKING:
    from slipstream.engine.state import NodeState


class MapKind(BaseNodeKind):
    """Starts a MapRun on a map node's first start; each later start launches what may run."""

    name = "map"

    def start(
        self, ctx: RunContext, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
    ) -> None:
        run = state.kind_state
        if run is None:
            try:
                run = state.kind_state = MapRun(ctx, state, inputs, values)
            except ExecutionError as exc:
                ctx.fail(state, failures.user_failure(str(exc)))
                return
            run.restore()
        run.pump()

    def on_result(
        self, ctx: RunContext, state: NodeState, attempt: Attempt, result: AttemptResult
    ) -> None:
        state.kind_state.item_ended(attempt, result)

    def abort(self, ctx: RunContext, state: NodeState) -> None:
        if state.kind_state is not None:
            state.kind_state.abort()


class MapRun:
    """One running map node (its NodeState.kind_state)."""

    def __init__(
        self, ctx: RunContext, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
    ) -> None:
        self.ctx = ctx
        self.state = state
        self.task: TaskTemplate = effective_task(state)
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
            ctx.blobs,
        )
        self.progress = MapProgress(ctx, state, self.items)
        self.next_index = 0
        self.retry_ready: deque[int] = deque()
        self.retry_at: list[tuple[float, int]] = []
        self.in_flight: set[int] = set()  # items with an attempt running
        self.runner: Runner | None = None
        self.first_failure: tuple[int, ErrorDocument, BaseException | None] | None = None
        self.wake_at = float("inf")
        self.pump_requested = False
        self.finished = False

    # -- launching ---------------------------------------------------------------------------------
    def pump(self) -> None:
        """Launch every item that may start now; finish the node when all are done."""
        self.pump_requested = False
        if self.finished or self.state.phase.terminal:
            return
        ctx, now = self.ctx, time.monotonic()
        while self.retry_at and self.retry_at[0][0] <= now:
            self.retry_ready.append(heapq.heappop(self.retry_at)[1])
        while not ctx.stopping and (self.limit is None or len(self.in_flight) < self.limit):
            if not self.retry_ready and self.next_index >= self.items.n:
                break
            if not ctx.take_slot():
                self._request_pump()  # again once the engine has room
                break
            index = self._next()
            if index is None or not self._launch(index):
                ctx.release_slot()
            if index is None:
                break
        if self.retry_at:  # every pump asks again for the wake-ups it still needs
            self._wake(self.retry_at[0][0])
        if (
            not (self.in_flight or self.retry_ready or self.retry_at)
            and self.next_index >= self.items.n
        ):
            self._finish()
            return
        if self.progress.save_due(now):
            self.progress.save(now)
        elif self.items.unsaved:
            self._wake(self.progress.next_save())  # saved even if nothing else happens
        if not self.progress.summarize(now, len(self.in_flight)):
            # Too soon after the last one: written at its time, even if nothing else happens
            # (the last items to end before a long wait would be missing from it until then).
            self._wake(self.progress.next_summary())

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

    def _launch(self, index: int) -> bool:
        """Launch the item's next attempt; False if the cache settled it (or it must wait)."""
        ctx, task, items = self.ctx, self.task, self.items
        inputs = items.item_inputs(index)
        node_id = f"{self.state.id}/{index}"
        key = ""
        if task.cache is not None:
            check = ctx.cache.check(task, inputs, node_id)
            if check.outputs is not None:
                items.succeed(index, check.outputs, True)
                ctx.cache.release(node_id)
                return False
            if check.wait:
                heapq.heappush(self.retry_at, (time.monotonic() + CACHE_WAIT_SECONDS, index))
                items.phase[index] = WAITING
                return False
            key = check.key
        number = items.attempts[index] + 1
        items.attempts[index] = number
        spec = attempt_spec(
            ctx.execution,
            ctx.settings,
            node_id=node_id,
            attempt=number,
            task=task,
            inputs=inputs,
            values=items.item_values(index),
            output_prefix=ctx.blobs.attempt_prefix(ctx.execution.id, node_id, number),
            system_failures=items.system_failures[index],
        )
        attempt = Attempt(
            owner=self.state.id,
            spec=spec,
            runner=self.runner or self._runner(),
            label=f"item {index}, attempt {number}",
            started=time.time(),
            compact=True,
            cache_key=key,
        )
        self.in_flight.add(index)
        items.phase[index] = RUNNING
        ctx.launch(attempt)
        return True

    def _runner(self) -> Runner:
        """The runner of every item (the same task each time): asked for once."""
        self.runner = self.ctx.services.runner_for(self.task)
        return self.runner

    def _request_pump(self) -> None:
        if not self.pump_requested:
            self.pump_requested = True
            self.ctx.wake_at(self.state)

    def _wake(self, when: float) -> None:
        """Have the engine call pump() again at `when` (retries, saves)."""
        if when < self.wake_at or self.wake_at <= time.monotonic():
            self.wake_at = when
            self.ctx.wake_at(self.state, when)

    # -- results -----------------------------------------------------------------------------------
    def item_ended(self, attempt: Attempt, result: AttemptResult) -> None:
        """An item attempt ended (the loop routes it here on the engine thread)."""
        index = int(attempt.id.rpartition("/")[2])
        if index not in self.in_flight or self.finished:
            return
        self.in_flight.discard(index)
        if result.phase == AttemptPhase.SUCCEEDED and result.outputs is not None:
            self.items.succeed(index, result.outputs, False)
            task = self.task
            if task.cache is not None:  # (most maps are not cached: no calls for nothing)
                self.ctx.cache.store_outputs(task, attempt.cache_key, result.outputs, attempt.id)
                self.ctx.cache.release(attempt.id)
            if attempt.ran_long(result):  # kept at once: a kill from now on cannot re-run it
                now = time.monotonic()
                self.progress.save(now)
                self.progress.summarize(now, len(self.in_flight), force=True)
                self.ctx.recorder.flush()
        else:
            error = result.error or failures.no_error_document()
            if result.phase == AttemptPhase.SUCCEEDED:
                error = failures.system_failure("a mapped task returned a graph instead of outputs")
            self._failed(index, attempt, error, result.exception)
        self._request_pump()

    def _failed(
        self, index: int, attempt: Attempt, error: ErrorDocument, exception: BaseException | None
    ) -> None:
        ctx, items = self.ctx, self.items
        decision = retry_decision(
            error,
            self.task,
            ctx.settings,
            user_failures=items.user_failures[index],
            system_failures=items.system_failures[index],
        )
        counts = items.system_failures if decision.budget == "system" else items.user_failures
        counts[index] = min(255, counts[index] + 1)
        if decision.retry and not ctx.stopping:
            items.phase[index] = WAITING
            heapq.heappush(self.retry_at, (time.monotonic() + decision.delay, index))
            ctx.recorder.event(
                attempt.id, attempt.spec.attempt, "RETRYING", retry_message(error, decision)
            )
            return
        ctx.cache.release(attempt.id)
        ctx.recorder.event(
            attempt.id, attempt.spec.attempt, "FAILED", f"{error.type}: {error.message}"
        )
        if self.first_failure is None:
            self.first_failure = (index, error, exception)
        if items.fail(index, error.type, error.message):
            self._fail()

    # -- the end -----------------------------------------------------------------------------------
    def _finish(self) -> None:
        self.finished = True
        self.progress.save(0.0)
        outputs = self.items.results(self.ctx.settings.offload_threshold)
        self.progress.summarize(0.0, 0, force=True)
        message = f"{self.items.succeeded} of {self.items.n} items succeeded"
        self.ctx.succeed(self.state, outputs, None, message=message)

    def _fail(self) -> None:
        assert self.first_failure is not None
        index, error, exception = self.first_failure
        items = self.items
        self.finished = True
        self.progress.summarize(0.0, len(self.in_flight), force=True)
        how = (
            f"{items.failed} of {items.n} items failed; min_success_ratio={items.ratio:g} "
            f"needs {items.required} to succeed"
        )
        document = msgspec.structs.replace(
            error, recoverable=False, message=f"{self.where}: item {index}: {error.message} ({how})"
        )
        self.ctx.fail(self.state, document, exception)

    def abort(self) -> None:
        """The execution stops; the loop cancels the items' attempts and their cache locks."""
        self.in_flight.clear()
        self.finished = True
        self.progress.summarize(0.0, 0, force=True)

    # -- resume ------------------------------------------------------------------------------------
    def restore(self) -> None:
        """Resume: take back the saved items, then re-adopt the attempts still running."""
        if self.state.record.info.get("items") is None:
            self.progress.summarize(0.0, 0, force=True)  # flushed with the first launches
            return
        items = self.items
        self.progress.restore()
        prefix = f"{self.state.id}/"
        latest: dict[int, AttemptRecord] = {}
        for record in self.ctx.attempts_of():
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
                self.in_flight.add(index)
                items.phase[index] = RUNNING
                label = f"item {index}, attempt {record.attempt}"
                inputs = items.item_inputs(index)
                self.ctx.adopt(self.state, record, self.task, inputs, label=label, compact=True)
        self.progress.summarize(0.0, len(self.in_flight), force=True)

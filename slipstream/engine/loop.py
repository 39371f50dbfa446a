"""The loop of one execution: starts ready nodes through their kinds, launches their attempts,
routes each result to the kind of the node that launched it, times attempts out, aborts and
heartbeats. It owns its queues and counters and is the RunContext its node kinds are given.
"""

from __future__ import annotations

import os
import queue
import time
from typing import TYPE_CHECKING, Any

from slipstream.engine.attempts import Attempt, CacheGate, Cancellations, adopted, launch, readopt
from slipstream.engine.failure_handlers import FailureHandlers
from slipstream.engine.flight import InFlight
from slipstream.engine.graph import NodeGraph
from slipstream.engine.nodes.base import EngineServices
from slipstream.engine.nodes.registry import NodeKindRegistry
from slipstream.engine.observer import Observer
from slipstream.engine.recording import Recorder
from slipstream.engine.state import NodeState, Scope
from slipstream.errors import ExecutionError
from slipstream.ir import (
    ErrorDocument,
    LiteralMap,
    LiteralMapDocument,
    TaskTemplate,
    WorkflowTemplate,
    dumps,
    failures,
)
from slipstream.runners.base import AttemptHandle, AttemptResult, AttemptSpec
from slipstream.storage.records import AttemptRecord, ExecutionRecord, Lease
from slipstream.types import AttemptPhase, ExecutionPhase, NodePhase

if TYPE_CHECKING:
    from slipstream.config import Settings
    from slipstream.storage.blobs import BlobStore
    from slipstream.storage.metadata import MetadataStore

ABORT_POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 2.0


class ExecutionLoop:
    """Drives one execution to a terminal phase. Not thread-safe: one thread drives it."""

    def __init__(
        self,
        record: ExecutionRecord,
        scope: Scope,
        *,
        settings: Settings,
        store: MetadataStore,
        blobs: BlobStore,
        kinds: NodeKindRegistry,
        services: EngineServices,
        observer: Observer,
        lease: Lease | None = None,
    ) -> None:
        self.record = self.execution = record
        self.root = scope
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.kinds = kinds
        self.services = services
        self.observer = observer
        self.recorder = Recorder(store, record, lease)
        self.cache = CacheGate(store, self.recorder, blobs)
        self.graph = NodeGraph(record.id)
        self.states = self.graph.states
        self.ready = self.graph.ready
        self.in_flight = InFlight(settings.max_parallelism)
        self.inbox: queue.SimpleQueue[tuple[str, AttemptSpec, Any]] = queue.SimpleQueue()
        self.failure: tuple[NodeState, ErrorDocument] | None = None
        self.failure_handlers = FailureHandlers(self, self.graph, self.recorder, scope)
        self.exception: BaseException | None = None
        self.outputs: LiteralMap | None = None
        self.output_values: dict[str, Any] | None = None
        self.aborting = ""
        self.last_abort_poll = self.last_heartbeat = 0.0

    @property
    def stopping(self) -> bool:
        return self.failure is not None or bool(self.aborting)

    # -- runner callbacks (any thread) --------------------------------------------------------
    def attempt_info(self, spec: AttemptSpec, info: dict[str, Any]) -> None:
        self.inbox.put(("info", spec, info))

    def attempt_done(self, spec: AttemptSpec, result: AttemptResult) -> None:
        self.inbox.put(("done", spec, result))

    # -- the loop ------------------------------------------------------------------------------
    def drive(self) -> None:
        """Run until every node is in a terminal phase, then write the execution's end."""
        try:
            while self.graph.unfinished > 0:
                self._start_ready()
                self._launch_queued()
                if self.graph.unfinished <= 0:
                    break
                self._wait_and_handle()
                self._housekeeping()
            self._finish()
        except KeyboardInterrupt:
            try:
                self._abort_all("interrupted by Ctrl-C")
            finally:  # also when a second Ctrl-C cuts the abort short
                self._finish()
            raise
        finally:
            # Timed-out attempts stop on their own non-daemon threads: the caller does not wait
            # for their teardown (the process does at exit); aborts wait (see _abort_all).
            self.recorder.flush()

    def _wait_and_handle(self) -> None:
        timeout = self._next_wakeup()
        try:
            item = self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return
        self._handle(item)
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return
            self._handle(item)

    def _next_wakeup(self) -> float:
        if self.ready and not self.stopping and self.in_flight.has_room():
            return 0.0
        now = time.monotonic()
        wake = now + ABORT_POLL_SECONDS
        for when in (self.graph.next_wake(), self.in_flight.next_deadline()):
            if when is not None:
                wake = min(wake, when)
        return max(0.0, wake - now)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        self.graph.wake_due(now)  # (a stopping loop starts none of them)
        for attempt in self.in_flight.timed_out(now):
            self._time_out(attempt)
        if now - self.last_abort_poll >= ABORT_POLL_SECONDS:
            self.last_abort_poll = now
            self.recorder.flush()
            if not self.aborting and self.recorder.abort_requested():
                self._abort_all("aborted on request")
        if now - self.last_heartbeat >= HEARTBEAT_SECONDS:
            self.last_heartbeat = now
            self.recorder.heartbeat(os.getpid())
            self.cache.renew()

    # -- starting nodes and launching attempts ---------------------------------------------------
    def _start_ready(self) -> None:
        if self.stopping:
            self.ready.clear()
            return
        while self.ready and self.in_flight.has_room():
            state = self.states[self.ready.popleft()]
            if state.phase.terminal or state.child_scope is not None:
                continue
            if state.phase == NodePhase.QUEUED:
                self._set_phase(state, NodePhase.RUNNING)
            try:
                kind = self.kinds.get(state.node.kind)
                inputs, values = self.graph.inputs_of(state)
            except ExecutionError as exc:
                self.fail(state, failures.system_failure(str(exc)))
                continue
            inputs, values = self.failure_handlers.handler_inputs(state, inputs, values)
            kind.start(self, state, inputs, values)

    def _launch_queued(self) -> None:
        flight = self.in_flight
        if not flight.to_launch:
            return
        launches, flight.to_launch = flight.to_launch, []
        self.recorder.flush()  # every transition is written before it is acted on
        # A lone in-process attempt runs on this thread: no hand-off to a pool thread and back.
        inline = len(launches) == 1 and len(flight.attempts) == 1 and not self.graph.delayed
        out_of_process = False
        for attempt in launches:
            if flight.attempts.get(attempt.id) is attempt:
                out_of_process |= not attempt.runner.capabilities.in_process
                self._launch(attempt, inline)
        # Handles of out-of-process attempts (a PID, a Pod) are written at once: an engine
        # killed right after launching must be able to re-adopt them instead of re-running.
        if out_of_process:
            self.recorder.flush()

    def _launch(self, attempt: Attempt, inline: bool) -> None:
        owner = self.states[attempt.owner]
        runner = attempt.runner
        if inline and runner.capabilities.in_process:
            attempt.handle = AttemptHandle(runner=runner.name)
            self.observer.node_changed(self, owner)
            self._ended(attempt, runner.run_now(attempt.spec, self))
            return
        failed = launch(attempt, self)
        if failed is not None:
            self.attempt_done(attempt.spec, failed)
            return
        assert attempt.handle is not None
        timeout = attempt.spec.task.timeout_seconds
        if timeout is not None:
            self.in_flight.set_deadline(attempt, time.monotonic() + timeout)
        if attempt.handle.ref and not runner.capabilities.in_process:
            self.recorder.attempt(attempt.row(AttemptPhase.RUNNING))
        if not attempt.compact:
            self.observer.node_changed(self, owner)

    # -- results -------------------------------------------------------------------------------
    def _handle(self, item: tuple[str, AttemptSpec, Any]) -> None:
        what, spec, payload = item
        attempt = self.in_flight.current(spec.node_id, spec.attempt)
        if attempt is None:
            return  # cancelled, timed out or aborted already
        if what == "done":
            self._ended(attempt, payload)
        elif not attempt.compact:  # runtime facts (a dashboard link) of a node's own attempt
            attempt.info.update(payload)
            state = self.states[attempt.owner]
            self.recorder.attempt(attempt.row(AttemptPhase.RUNNING))
            self.recorder.event(state.id, spec.attempt, "INFO", dumps(payload))
            self.node_info(state, payload)

    def _ended(self, attempt: Attempt, result: AttemptResult) -> None:
        """Route an attempt's end to the kind of its node."""
        self.in_flight.ended(attempt)
        if attempt.keeps_rows or result.phase != AttemptPhase.SUCCEEDED:
            self.recorder.attempt(attempt.row(result.phase, result.error))
        state = self.states[attempt.owner]
        self.kinds.get(state.node.kind).on_result(self, state, attempt, result)

    def _time_out(self, attempt: Attempt) -> None:
        self.in_flight.stop(attempt)
        task = attempt.spec.task
        error = failures.timed_out(task.name, task.timeout_seconds or 0.0, attempt.label)
        self._ended(attempt, AttemptResult(AttemptPhase.FAILED, error=error))

    # -- the RunContext of node kinds ----------------------------------------------------------
    def launch(self, attempt: Attempt) -> None:
        if attempt.keeps_rows:
            self.recorder.attempt(attempt.row(AttemptPhase.RUNNING))
        self.in_flight.add(attempt, launch=True)

    def adopt(
        self,
        state: NodeState,
        row: AttemptRecord,
        task: TaskTemplate,
        inputs: LiteralMap,
        *,
        label: str,
        compact: bool = False,
    ) -> None:
        runner = self.services.runner(row.runner) if row.runner else self.services.runner_for(task)
        attempt = adopted(self.record, row, state.id, task, inputs, runner, label, compact)
        self.in_flight.add(attempt, launch=False)
        if readopt(attempt, self):
            if task.timeout_seconds is not None:
                left = task.timeout_seconds - (time.time() - row.started_at)
                self.in_flight.set_deadline(attempt, time.monotonic() + max(0.0, left))
            return
        lost = failures.attempt_lost(row.attempt)
        self._ended(attempt, AttemptResult(AttemptPhase.FAILED, error=lost))

    def take_slot(self) -> bool:
        return self.in_flight.take_slot()

    def release_slot(self) -> None:
        self.in_flight.release_slot()

    def wake_at(self, state: NodeState, when: float | None = None) -> None:
        self.graph.wake_at(state.id, when)

    def node_changed(self, state: NodeState) -> None:
        self.recorder.node(state.record)
        self.observer.node_changed(self, state)

    def node_info(self, state: NodeState, info: dict[str, Any]) -> None:
        state.record.info.update(info)
        self.recorder.node(state.record)
        self.observer.node_info(self, state, info)

    def attempts_of(self, node_id: str = "") -> list[AttemptRecord]:
        return list(self.store.get_attempts(self.record.id, node_id or None))

    def inputs_of(self, state: NodeState) -> tuple[LiteralMap, dict[str, Any] | None]:
        return self.graph.inputs_of(state)

    def scope_outputs(self, scope: Scope) -> tuple[LiteralMap, dict[str, Any] | None]:
        return self.graph.scope_outputs(scope)

    def expand(
        self,
        state: NodeState,
        template: WorkflowTemplate,
        inputs: LiteralMap,
        values: dict[str, Any] | None,
    ) -> None:
        scope = Scope(
            template=template, prefix=state.id + "/", inputs=inputs, input_values=values or {}
        )
        state.child_scope = scope
        self.recorder.new_nodes(self.graph.add_scope(scope, state.id, {}))
        if not state.children:
            self.complete(state)

    def complete(self, state: NodeState) -> None:
        """Every child of `state` finished: its kind completes it."""
        self.kinds.get(state.node.kind).complete(self, state)

    def succeed(
        self,
        state: NodeState,
        outputs: LiteralMap,
        values: dict[str, Any] | None = None,
        message: str = "",
    ) -> None:
        self.cache.release(state.id)
        state.outputs = outputs
        state.output_values = values
        state.record.outputs = dumps(LiteralMapDocument(literals=outputs))
        self._set_phase(state, NodePhase.SUCCEEDED, message)
        self.graph.release_dependents(state)
        if self.failure_handlers.succeeded(state):
            return  # part of a failed body
        parent = self.graph.child_done(state)
        if parent is not None:
            self.complete(parent)

    def fail(
        self, state: NodeState, error: ErrorDocument, exception: BaseException | None = None
    ) -> None:
        if self.failure is None and self.exception is None and exception is not None:
            self.exception = exception  # a local caller gets the (first) user's own exception
        self.cache.release(state.id)
        state.record.error = dumps(error)
        self._set_phase(state, NodePhase.FAILED, f"{error.type}: {error.message}")
        self.failure_handlers.failed(state, error)

    # -- the FailureHost of failure handlers ---------------------------------------------------
    def skip(self, state: NodeState, message: str) -> None:
        self._set_phase(state, NodePhase.SKIPPED, message)

    def stop_body(self, prefix: str) -> None:
        self._abort_all("", prefix)

    def fail_execution(self, state: NodeState, error: ErrorDocument) -> None:
        if self.failure is None:
            self.failure = (state, error)
            self._abort_all("")

    # -- phases, abort and the end ---------------------------------------------------------------
    def _set_phase(self, state: NodeState, phase: NodePhase, message: str = "") -> None:
        self.graph.set_phase(state, phase)
        self.recorder.event(state.id, state.record.attempts, phase.value, message)
        self.node_changed(state)

    def _abort_all(self, reason: str, prefix: str = "") -> None:
        """Stop every attempt in flight (under `prefix`) at once; unfinished nodes are ABORTED."""
        if reason:
            self.aborting = reason
        stopping = Cancellations()  # only these are waited for, not earlier timeout stops
        for attempt in self.in_flight.stop_under(prefix, stopping):
            if attempt.keeps_rows:
                self.recorder.attempt(attempt.row(AttemptPhase.ABORTED))
        if not prefix:
            self.cache.release_all()
        for state in list(self.states.values()):
            if state.phase.terminal or not state.id.startswith(prefix):
                continue
            self.cache.release(state.id)
            self.kinds.get(state.node.kind).abort(self, state)
            self._set_phase(state, NodePhase.ABORTED, reason or "another node failed")
        stopping.join()  # all were asked to stop at once; now wait for each to go

    def _finish(self) -> None:
        if self.failure is not None:
            state, error = self.failure
            self.recorder.end(ExecutionPhase.FAILED, error=error, failed_node=state.id)
        elif self.aborting:
            self.recorder.end(ExecutionPhase.ABORTED, error=failures.aborted(self.aborting))
        else:
            self.outputs, self.output_values = self.scope_outputs(self.root)
            self.recorder.end(ExecutionPhase.SUCCEEDED, outputs=self.outputs)
        self.observer.execution_changed(self)

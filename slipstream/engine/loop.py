"""The loop of one execution: starts ready nodes through their kinds, launches their attempts,
routes each result to the kind of the node that launched it, times attempts out, aborts and
heartbeats. It owns its queues and counters and is the RunContext its node kinds are given.
"""

from __future__ import annotations

import heapq
import os
import queue
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from slipstream.compiler.dag import dependencies, downstream, node_interface
from slipstream.engine.attempts import Attempt, CacheGate, Cancellations, launch
from slipstream.engine.nodes.base import EngineServices
from slipstream.engine.nodes.registry import NodeKindRegistry
from slipstream.engine.observer import Observer
from slipstream.engine.recording import Recorder
from slipstream.engine.state import MISSING, NodeState, Scope, resolve, resolve_inputs
from slipstream.errors import ExecutionError
from slipstream.ir import (
    ErrorDocument,
    LiteralMap,
    LiteralMapDocument,
    TaskTemplate,
    WorkflowTemplate,
    decode,
    dumps,
    failures,
)
from slipstream.runners.base import AttemptHandle, AttemptResult, AttemptSpec
from slipstream.sdk.failure import failure_literal
from slipstream.storage.records import AttemptRecord, ExecutionRecord, NodeRecord
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
    ) -> None:
        self.record = record
        self.root = scope
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.kinds = kinds
        self.services = services
        self.observer = observer
        self.recorder = Recorder(store, record)
        self.cache = CacheGate(store, self.recorder, blobs)
        self.states: dict[str, NodeState] = {}
        self.unfinished = 0  # nodes not yet in a terminal phase: the loop ends at zero
        self.ready: deque[str] = deque()
        self.delayed: list[tuple[float, str]] = []  # (when, node id): retries, wake-ups
        self.in_flight: dict[str, Attempt] = {}  # attempt node id -> attempt
        self.deadlines: dict[str, float] = {}  # attempt node id -> when it times out
        self.slots_taken = 0  # of settings.max_parallelism
        self.to_launch: list[Attempt] = []
        self.inbox: queue.SimpleQueue[tuple[str, AttemptSpec, Any]] = queue.SimpleQueue()
        self.cancellations = Cancellations()
        self.failure: tuple[NodeState, ErrorDocument] | None = None
        # A failed workflow body, by the id of the node that runs it ("" for the execution):
        # its first failure, and the full id of its on_failure handler node once started.
        self.body_failures: dict[str, tuple[NodeState, ErrorDocument]] = {}
        self.handlers: dict[str, str] = {}
        self.exception: BaseException | None = None
        self.outputs: LiteralMap | None = None
        self.output_values: dict[str, Any] | None = None
        self.aborting = ""
        self.last_abort_poll = self.last_heartbeat = 0.0

    @property
    def execution(self) -> ExecutionRecord:
        return self.record

    @property
    def stopping(self) -> bool:
        return self.failure is not None or bool(self.aborting)

    # -- runner callbacks (any thread) --------------------------------------------------------
    def attempt_info(self, spec: AttemptSpec, info: dict[str, Any]) -> None:
        self.inbox.put(("info", spec, info))

    def attempt_done(self, spec: AttemptSpec, result: AttemptResult) -> None:
        self.inbox.put(("done", spec, result))

    # -- building the graph --------------------------------------------------------------------
    def add_scope(
        self, scope: Scope, parent: str, records: dict[str, NodeRecord]
    ) -> list[NodeRecord]:
        """Create the states of a workflow body's nodes; returns the records that are new."""
        created: list[NodeRecord] = []
        ids = {node.id for node in scope.template.nodes}
        for node in scope.template.nodes:
            full = scope.full_id(node.id)
            record = records.get(full)
            if record is None:
                record = NodeRecord(
                    execution_id=self.record.id,
                    node_id=full,
                    parent_id=parent,
                    kind=node.kind,
                    target=node.target,
                )
                created.append(record)
            state = NodeState(id=full, node=node, scope=scope, record=record)
            if not state.phase.terminal:
                self.unfinished += 1
            if record.outputs is not None:
                state.outputs = decode(record.outputs, LiteralMapDocument).literals
            self.states[full] = state
            if parent:
                self.states[parent].children.add(full)
        for node in scope.template.nodes:
            state = self.states[scope.full_id(node.id)]
            for dep in dependencies(node):
                if dep in ids:
                    dep_state = self.states[scope.full_id(dep)]
                    dep_state.dependents.append(state.id)
                    if dep_state.phase != NodePhase.SUCCEEDED:
                        state.waiting_on.add(dep_state.id)
        for node in scope.template.nodes:
            state = self.states[scope.full_id(node.id)]
            if state.phase == NodePhase.SUCCEEDED and parent:
                self.states[parent].children.discard(state.id)
            elif state.phase == NodePhase.QUEUED and not state.waiting_on:
                self.ready.append(state.id)
        return created

    # -- the loop ------------------------------------------------------------------------------
    def drive(self) -> None:
        """Run until every node is in a terminal phase, then write the execution's end."""
        try:
            while self.unfinished > 0:
                self._start_ready()
                self._launch_queued()
                if self.unfinished <= 0:
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
        if self.ready and not self.stopping and self.slots_taken < self.settings.max_parallelism:
            return 0.0
        now = time.monotonic()
        wake = now + ABORT_POLL_SECONDS
        if self.delayed:
            wake = min(wake, self.delayed[0][0])
        if self.deadlines:
            wake = min(wake, min(self.deadlines.values()))
        return max(0.0, wake - now)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        while self.delayed and self.delayed[0][0] <= now:
            _, node_id = heapq.heappop(self.delayed)
            if self.states[node_id].phase == NodePhase.RUNNING and not self.stopping:
                self.ready.append(node_id)
        for attempt_id, deadline in list(self.deadlines.items()):
            attempt = self.in_flight.get(attempt_id)
            if attempt is not None and now >= deadline and attempt.handle is not None:
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
        while self.ready and self.slots_taken < self.settings.max_parallelism:
            state = self.states[self.ready.popleft()]
            if state.phase.terminal or state.child_scope is not None:
                continue
            if state.phase == NodePhase.QUEUED:
                self._set_phase(state, NodePhase.RUNNING)
            try:
                kind = self.kinds.get(state.node.kind)
                inputs, values = resolve_inputs(state.node, state.scope, self.states)
            except ExecutionError as exc:
                self.fail(state, failures.system_failure(str(exc)))
                continue
            error_input = state.node.spec.get("error_input")
            if error_input and self.handlers.get(state.parent) == state.id:
                failed, error = self.body_failures[state.parent]
                variable = node_interface(state.scope.template, state.node).input(error_input)
                assert variable is not None
                inputs[error_input] = failure_literal(variable.type, error.message, failed.id)
                values = None
            kind.start(self, state, inputs, values)

    def _launch_queued(self) -> None:
        if not self.to_launch:
            return
        launches, self.to_launch = self.to_launch, []
        self.recorder.flush()  # every transition is written before it is acted on
        # A lone in-process attempt runs on this thread: no hand-off to a pool thread and back.
        inline = len(launches) == 1 and len(self.in_flight) == 1 and not self.delayed
        for attempt in launches:
            if self.in_flight.get(attempt.id) is attempt:
                self._launch(attempt, inline)
        # Handles of out-of-process attempts (a PID, a Pod) are written at once: an engine
        # killed right after launching must be able to re-adopt them instead of re-running.
        if any(not attempt.runner.capabilities.in_process for attempt in launches):
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
            self._set_deadline(attempt, time.monotonic() + timeout)
        if attempt.handle.ref and not runner.capabilities.in_process:
            self.recorder.attempt(attempt.row(AttemptPhase.RUNNING))
        if not attempt.compact:
            self.observer.node_changed(self, owner)

    def _set_deadline(self, attempt: Attempt, when: float) -> None:
        attempt.deadline = when
        self.deadlines[attempt.id] = when

    # -- results -------------------------------------------------------------------------------
    def _handle(self, item: tuple[str, AttemptSpec, Any]) -> None:
        what, spec, payload = item
        attempt = self.in_flight.get(spec.node_id)
        if attempt is None or attempt.spec.attempt != spec.attempt:
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
        del self.in_flight[attempt.id]
        self.deadlines.pop(attempt.id, None)
        self.slots_taken -= 1
        if attempt.keeps_rows or result.phase != AttemptPhase.SUCCEEDED:
            self.recorder.attempt(attempt.row(result.phase, result.error))
        state = self.states[attempt.owner]
        self.kinds.get(state.node.kind).on_result(self, state, attempt, result)

    def _time_out(self, attempt: Attempt) -> None:
        assert attempt.handle is not None
        self.cancellations.cancel(attempt.runner, attempt.handle, attempt.id)
        task = attempt.spec.task
        error = failures.timed_out(task.name, task.timeout_seconds or 0.0, attempt.label)
        self._ended(attempt, AttemptResult(AttemptPhase.FAILED, error=error))

    # -- the RunContext of node kinds ----------------------------------------------------------
    def launch(self, attempt: Attempt) -> None:
        self.in_flight[attempt.id] = attempt
        if attempt.keeps_rows:
            self.recorder.attempt(attempt.row(AttemptPhase.RUNNING))
        self.to_launch.append(attempt)

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
        spec = AttemptSpec(
            execution_id=self.record.id,
            node_id=row.node_id,
            attempt=row.attempt,
            task=task,
            inputs=inputs,
            output_prefix=row.output_prefix,
            source_root=self.record.options.get("source_root", ""),
        )
        handle = AttemptHandle(runner=row.runner, ref=row.handle)
        attempt = Attempt(
            state.id, spec, runner, label, row.started_at, compact=compact, handle=handle
        )
        self.in_flight[attempt.id] = attempt
        self.slots_taken += 1  # it runs already, whatever max_parallelism says now
        capabilities = runner.capabilities
        if (
            capabilities.adoptable
            and (bool(row.handle) or capabilities.finds_by_labels)
            and runner.adopt(handle, spec, self)
        ):
            if task.timeout_seconds is not None:
                left = task.timeout_seconds - (time.time() - row.started_at)
                self._set_deadline(attempt, time.monotonic() + max(0.0, left))
            return
        lost = failures.attempt_lost(row.attempt)
        self._ended(attempt, AttemptResult(AttemptPhase.FAILED, error=lost))

    def take_slot(self) -> bool:
        if self.slots_taken >= self.settings.max_parallelism:
            return False
        self.slots_taken += 1
        return True

    def release_slot(self) -> None:
        self.slots_taken -= 1

    def wake_at(self, state: NodeState, when: float | None = None) -> None:
        if when is None:
            self.ready.append(state.id)
        else:
            heapq.heappush(self.delayed, (when, state.id))

    def node_changed(self, state: NodeState) -> None:
        self.recorder.node(state.record)
        self.observer.node_changed(self, state)

    def node_info(self, state: NodeState, info: dict[str, Any]) -> None:
        state.record.info.update(info)
        self.recorder.node(state.record)
        self.observer.node_info(self, state, info)

    def attempts_of(self, node_id: str = "") -> list[AttemptRecord]:
        if node_id:
            return list(self.store.get_attempts(self.record.id, node_id))
        return list(self.store.get_attempts(self.record.id))

    def inputs_of(self, state: NodeState) -> tuple[LiteralMap, dict[str, Any] | None]:
        return resolve_inputs(state.node, state.scope, self.states)

    def scope_outputs(self, scope: Scope) -> tuple[LiteralMap, dict[str, Any] | None]:
        outputs: LiteralMap = {}
        values: dict[str, Any] = {}
        for name, binding in scope.template.outputs.items():
            outputs[name], values[name] = resolve(binding, scope, self.states)
        complete = all(v is not MISSING for v in values.values())
        return outputs, (values if complete else None)

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
        self.recorder.new_nodes(self.add_scope(scope, state.id, {}))
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
        for dependent_id in state.dependents:
            dependent = self.states[dependent_id]
            dependent.waiting_on.discard(state.id)
            if not dependent.waiting_on and dependent.phase == NodePhase.QUEUED:
                self.ready.append(dependent_id)
        if self.handlers.get(state.parent) == state.id:
            self._body_failed(state.parent)  # the handler ran: now its workflow fails
            return
        if state.parent in self.body_failures:
            if self._body_idle(state.parent):
                self._body_failed(state.parent)
            return
        if state.parent:
            parent = self.states[state.parent]
            parent.children.discard(state.id)
            if not parent.children and not parent.phase.terminal:
                self.complete(parent)

    def fail(
        self, state: NodeState, error: ErrorDocument, exception: BaseException | None = None
    ) -> None:
        if self.failure is None and self.exception is None and exception is not None:
            self.exception = exception  # a local caller gets the (first) user's own exception
        self.cache.release(state.id)
        state.record.error = dumps(error)
        self._set_phase(state, NodePhase.FAILED, f"{error.type}: {error.message}")
        key = state.parent
        if self.handlers.get(key) == state.id:  # the on_failure handler failed too
            self._body_failed(key)
            return
        self.body_failures.setdefault(key, (state, error))
        body = self._body(key)
        if body.template.failure_policy == "after_executable":
            for node_id in downstream(body.template, state.node.id):
                skipped = self.states[body.full_id(node_id)]
                if not skipped.phase.terminal:
                    self._set_phase(skipped, NodePhase.SKIPPED, f"upstream {state.id!r} failed")
            if not self._body_idle(key):
                return  # every node that can still run does; the last one fails the body
        self._body_failed(key)

    # -- failure handling: on_failure handlers and failure policies ----------------------------
    def _body(self, key: str) -> Scope:
        """The workflow body run by node `key` ("" for the execution's own)."""
        owner = self.states.get(key) if key else None
        return owner.child_scope if owner is not None and owner.child_scope else self.root

    def _body_idle(self, key: str) -> bool:
        body = self._body(key)
        return all(self.states[body.full_id(n.id)].phase.terminal for n in body.template.nodes)

    def _body_failed(self, key: str) -> None:
        """A workflow body failed: run its on_failure handler first, then fail its owner."""
        body = self._body(key)
        handler = body.template.failure_node
        if handler is not None and key not in self.handlers:
            self._abort_all("", prefix=body.prefix)
            full = body.full_id(handler.id)
            record = NodeRecord(
                execution_id=self.record.id,
                node_id=full,
                parent_id=key,
                kind=handler.kind,
                target=handler.target,
            )
            self.states[full] = NodeState(id=full, node=handler, scope=body, record=record)
            self.recorder.new_nodes([record])
            self.unfinished += 1
            self.handlers[key] = full
            if key:
                self.states[key].children.add(full)
            self.ready.append(full)
            return
        state, error = self.body_failures[key]
        if key:
            owner = self.states[key]
            if not owner.phase.terminal:
                self.fail(owner, error)
            return
        if self.failure is None:
            self.failure = (state, error)
            self._abort_all("")

    # -- phases, abort and the end ---------------------------------------------------------------
    def _set_phase(self, state: NodeState, phase: NodePhase, message: str = "") -> None:
        record = state.record
        if phase.terminal and not state.phase.terminal:
            self.unfinished -= 1
        record.phase = phase.value
        now = time.time()
        if phase == NodePhase.RUNNING and record.started_at is None:
            record.started_at = now
        if phase.terminal:
            record.ended_at = now
        self.recorder.event(state.id, record.attempts, phase.value, message)
        self.node_changed(state)

    def _abort_all(self, reason: str, prefix: str = "") -> None:
        """Stop every attempt in flight (under `prefix`) at once; unfinished nodes are ABORTED."""
        if reason:
            self.aborting = reason
        stopping = Cancellations()  # only these are waited for, not earlier timeout stops
        for attempt in list(self.in_flight.values()):
            if not attempt.owner.startswith(prefix):
                continue
            if attempt.handle is not None:
                stopping.cancel(attempt.runner, attempt.handle, attempt.id)
                if attempt.keeps_rows:
                    self.recorder.attempt(attempt.row(AttemptPhase.ABORTED))
            del self.in_flight[attempt.id]
            self.deadlines.pop(attempt.id, None)
            self.slots_taken -= 1
        self.to_launch = [a for a in self.to_launch if not a.owner.startswith(prefix)]
        if not prefix:
            self.cache.release_all()
            self.slots_taken = 0
        for state in list(self.states.values()):
            if state.phase.terminal or not state.id.startswith(prefix):
                continue
            self.cache.release(state.id)
            self.kinds.get(state.node.kind).abort(self, state)
            self._set_phase(state, NodePhase.ABORTED, reason or "another node failed")
        stopping.join()  # all were asked to stop at once; now wait for each to go

    def _finish(self) -> None:
        record = self.record
        now = time.time()
        if self.failure is not None:
            state, error = self.failure
            record.phase = ExecutionPhase.FAILED.value
            record.error = dumps(error)
            record.options = {**record.options, "failed_node": state.id}
        elif self.aborting:
            record.phase = ExecutionPhase.ABORTED.value
            record.error = dumps(failures.aborted(self.aborting))
        else:
            self.outputs, self.output_values = self.scope_outputs(self.root)
            record.outputs = dumps(LiteralMapDocument(literals=self.outputs))
            record.phase = ExecutionPhase.SUCCEEDED.value
        record.ended_at = now
        self.recorder.execution_event(record.phase, now)
        self.recorder.flush()
        self.observer.execution_changed(self)

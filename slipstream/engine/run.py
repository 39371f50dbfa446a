"""The run loop of one execution: launches ready nodes, handles results, retries, timeouts."""

from __future__ import annotations

import heapq
import logging
import os
import queue
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from slipstream.compiler.dag import dependencies
from slipstream.engine.cache import cache_key, cache_version
from slipstream.engine.recording import Recording
from slipstream.engine.retry import decide
from slipstream.engine.state import MISSING, NodeState, Scope, resolve, resolve_inputs
from slipstream.errors import ExecutionError
from slipstream.ir import (
    ErrorDocument,
    LiteralMap,
    LiteralMapDocument,
    TaskTemplate,
    decode,
    dumps,
    failures,
)
from slipstream.runners.base import AttemptHandle, AttemptResult, AttemptSpec
from slipstream.storage.records import (
    AttemptRecord,
    CacheEntry,
    ExecutionRecord,
    NodeRecord,
    WriteBatch,
)
from slipstream.types import AttemptPhase, NodePhase

if TYPE_CHECKING:
    from slipstream.engine.engine import Engine

log = logging.getLogger("slipstream.engine")

ABORT_POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 2.0
RESERVATION_LEASE_SECONDS = 30.0


class ExecutionRun(Recording):
    """Drives one execution to a terminal phase. Not thread-safe: one thread runs it."""

    def __init__(
        self,
        engine: Engine,
        record: ExecutionRecord,
        scope: Scope,
        entities: dict[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.record = record
        self.root = scope
        self.entities = entities or {}
        self.states: dict[str, NodeState] = {}
        self.batch = WriteBatch()
        self.inbox: queue.SimpleQueue[tuple[str, AttemptSpec, Any]] = queue.SimpleQueue()
        self.ready: deque[str] = deque()
        self.delayed: list[tuple[float, str]] = []  # (when, node id) retries and cache waits
        self.running = 0
        self.failure: tuple[NodeState, ErrorDocument] | None = None
        self.exception: BaseException | None = None
        self.outputs: LiteralMap | None = None
        self.output_values: dict[str, Any] | None = None
        self._last_abort_poll = 0.0
        self._last_heartbeat = 0.0
        self._aborting = ""
        self.unfinished = 0  # nodes not yet in a terminal phase: the loop ends at zero
        self.deadlines: dict[str, float] = {}  # node id -> monotonic time its attempt times out
        # Node id -> the object running attempts of its own under "<id>/..." (map nodes):
        # it gets their results through handle(kind, spec, payload) and stops them on abort().
        self.owners: dict[str, Any] = {}

    def set_deadline(self, state: NodeState, when: float | None) -> None:
        """When the running attempt of `state` times out (None: it does not)."""
        state.deadline = when
        if when is None:
            self.deadlines.pop(state.id, None)
        else:
            self.deadlines[state.id] = when

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
    def run(self) -> None:
        try:
            while not self._finished():
                self._launch_ready()
                if self._finished():
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
            self.flush()

    def _finished(self) -> bool:
        return self.unfinished <= 0

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
        if (
            self.ready
            and self.failure is None
            and not self._aborting
            and self.running < self.settings.max_parallelism
        ):
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
            if self.states[node_id].phase == NodePhase.RUNNING and not self._stopping:
                self.ready.append(node_id)
        for node_id, deadline in list(self.deadlines.items()):
            state = self.states[node_id]
            if now >= deadline and state.handle:
                self._time_out(state)
        if now - self._last_abort_poll >= ABORT_POLL_SECONDS:
            self._last_abort_poll = now
            self.flush()
            if not self._aborting and self.engine.store.is_abort_requested(self.record.id):
                self._abort_all("aborted on request")
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            self.engine.store.heartbeat(self.record.id, os.getpid(), time.time())
            for state in self.states.values():
                if state.holds_reservation:
                    self.engine.store.cache_reserve(
                        state.cache_key, self._owner(state), RESERVATION_LEASE_SECONDS, time.time()
                    )

    @property
    def _stopping(self) -> bool:
        return self.failure is not None or bool(self._aborting)

    # -- launching -------------------------------------------------------------------------------
    def _launch_ready(self) -> None:
        if self._stopping:
            self.ready.clear()
            return
        launches: list[tuple[NodeState, AttemptSpec]] = []
        while self.ready and self.running < self.settings.max_parallelism:
            state = self.states[self.ready.popleft()]
            if state.phase.terminal:
                continue
            spec = self._prepare(state)
            if spec is not None:
                launches.append((state, spec))
                self.running += 1
        if not launches:
            return
        self.flush()  # every transition is written before it is acted on
        # A lone in-process attempt runs on this thread: no hand-off to a pool thread and back.
        inline = len(launches) == 1 and self.running == 1 and not self.delayed
        for state, spec in launches:
            self._launch(state, spec, inline)
        # Handles of out-of-process attempts (a PID, a Pod) are written at once: an engine
        # killed right after launching must be able to re-adopt them instead of re-running.
        if any(
            state.runner is not None and not state.runner.capabilities.in_process
            for state, _ in launches
        ):
            self.flush()

    def _prepare(self, state: NodeState) -> AttemptSpec | None:
        """Start a node (or its next attempt). None when it needs no attempt now."""
        node = state.node
        if state.child_scope is not None:
            return None  # already running its children
        if state.phase == NodePhase.QUEUED:
            self._set_phase(state, NodePhase.RUNNING)
        try:
            inputs, values = resolve_inputs(node, state.scope, self.states)
        except ExecutionError as exc:
            self._fail(state, failures.system_failure(str(exc)))
            return None
        if node.kind == "workflow":
            self._expand_workflow(state, inputs, values)
            return None
        expander = self.engine.node_kinds.get(node.kind)
        if expander is not None:
            expander(self, state, inputs, values)
            return None
        task = state.task or self._effective_task(state)
        state.task = task
        if (
            task.cache is not None
            and not state.record.attempts
            and self._try_cache(state, task, inputs)
        ):
            return None
        state.record.attempts += 1
        attempt = state.record.attempts
        prefix = self.engine.blobs.attempt_prefix(self.record.id, state.id, attempt)
        last_system_try = state.record.system_attempts >= self.settings.system_retries
        spec = AttemptSpec(
            execution_id=self.record.id,
            node_id=state.id,
            attempt=attempt,
            task=task,
            inputs=inputs,
            output_prefix=prefix,
            source_root=self.record.options.get("source_root", ""),
            on_demand=task.interruptible and last_system_try,
            bundle_uri=self.record.options.get("bundle_uri", ""),
            input_values=values,
        )
        runner = self.engine.runner_for(task)
        state.runner = runner
        state.attempt_started = time.time()
        self.batch.attempts.append(
            AttemptRecord(
                execution_id=self.record.id,
                node_id=state.id,
                attempt=attempt,
                phase=AttemptPhase.RUNNING.value,
                runner=runner.name,
                output_prefix=prefix,
                started_at=state.attempt_started,
            )
        )
        self._event(state, "ATTEMPT", attempt, f"attempt {attempt} on {runner.name}")
        self.batch.nodes.append(state.record)
        return spec

    def _launch(self, state: NodeState, spec: AttemptSpec, inline: bool = False) -> None:
        if inline and state.runner.capabilities.in_process:
            state.handle = AttemptHandle(runner=state.runner.name)
            self.engine.observer.node_changed(self, state)
            self._handle(("done", spec, state.runner.run_now(spec, self)))
            return
        try:
            state.handle = state.runner.launch(spec, self)
        except Exception as exc:
            state.handle = AttemptHandle(runner=state.runner.name)
            self.attempt_done(
                spec,
                AttemptResult(AttemptPhase.FAILED, error=failures.launch_failed(exc)),
            )
            return
        assert state.task is not None
        if state.task.timeout_seconds is not None:
            self.set_deadline(state, time.monotonic() + state.task.timeout_seconds)
        if state.handle.ref and not state.runner.capabilities.in_process:
            self.batch.attempts.append(self._attempt_record(state, AttemptPhase.RUNNING))
        self.engine.observer.node_changed(self, state)

    def _effective_task(self, state: NodeState) -> TaskTemplate:
        task = state.scope.template.tasks[state.node.target]
        overrides = state.node.overrides
        if overrides is None:
            return task
        changes: dict[str, Any] = {}
        for field in ("requests", "limits", "retries", "timeout_seconds"):
            value = getattr(overrides, field)
            if value is not None:
                changes[field] = value
        if overrides.cache is False:
            changes["cache"] = None
        elif overrides.cache and task.cache is None:
            from slipstream.ir import CacheSpec

            changes["cache"] = CacheSpec()
        return msgspec.structs.replace(task, **changes)

    def _try_cache(self, state: NodeState, task: TaskTemplate, inputs: LiteralMap) -> bool:
        """True if the node was satisfied from the cache or must wait for another writer."""
        assert task.cache is not None
        store = self.engine.store
        state.cache_key = state.cache_key or cache_key(task, inputs)
        entry = store.cache_get(state.cache_key, time.time())
        if entry is not None:
            state.record.cached = True
            self._succeed(
                state, decode(entry.outputs, LiteralMapDocument).literals, None, message="cache hit"
            )
            return True
        if task.cache.serialize and not state.holds_reservation:
            if store.cache_reserve(
                state.cache_key, self._owner(state), RESERVATION_LEASE_SECONDS, time.time()
            ):
                state.holds_reservation = True
            else:
                heapq.heappush(self.delayed, (time.monotonic() + 0.2, state.id))
                return True
        return False

    def _owner(self, state: NodeState) -> str:
        return f"{self.record.id}/{state.id}"

    def _expand_workflow(
        self, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
    ) -> None:
        template = state.scope.template.workflows[state.node.target]
        self.expand(state, template, inputs, values or {})

    def expand(
        self, state: NodeState, template: Any, inputs: LiteralMap, values: dict[str, Any]
    ) -> None:
        """Run a workflow body as the children of `state` (sub-workflows, dynamic nodes)."""
        scope = Scope(template=template, prefix=state.id + "/", inputs=inputs, input_values=values)
        state.child_scope = scope
        created = self.add_scope(scope, state.id, {})
        self.batch.nodes.extend(created)
        if not state.children:
            self._complete_parent(state)

    # -- results ---------------------------------------------------------------------------------
    def _handle(self, item: tuple[str, AttemptSpec, Any]) -> None:
        kind, spec, payload = item
        state = self.states.get(spec.node_id)
        if state is None:
            owner = self.owners.get(spec.node_id.rpartition("/")[0])
            if owner is not None:
                owner.handle(kind, spec, payload)
            return
        if state.record.attempts != spec.attempt or state.phase.terminal:
            return
        if kind == "info":
            state.record.info.update(payload)
            self.batch.nodes.append(state.record)
            self.batch.attempts.append(
                self._attempt_record(state, AttemptPhase.RUNNING, info=payload)
            )
            self._event(state, "INFO", spec.attempt, dumps(payload))
            self.engine.observer.node_info(self, state, payload)
            return
        result: AttemptResult = payload
        self.running -= 1
        self.set_deadline(state, None)
        state.handle = None
        self.batch.attempts.append(self._attempt_record(state, result.phase, result.error))
        if result.phase == AttemptPhase.SUCCEEDED and result.workflow is not None:
            from slipstream.engine.kinds.dynamic import run_returned_workflow

            run_returned_workflow(self, state, spec, result)
            return
        if result.phase == AttemptPhase.SUCCEEDED:
            assert result.outputs is not None
            self._store_cache(state, result.outputs)
            self._succeed(state, result.outputs, result.output_values)
            return
        error = result.error or failures.no_error_document()
        self._failed_attempt(state, error, result.exception)

    def _failed_attempt(
        self, state: NodeState, error: ErrorDocument, exception: BaseException | None
    ) -> None:
        assert state.task is not None
        record = state.record
        decision = decide(
            error,
            user_failures=record.user_attempts,
            system_failures=record.system_attempts,
            user_retries=state.task.retries,
            system_retries=self.settings.system_retries,
            backoff=self.settings.retry_backoff,
            backoff_max=self.settings.retry_backoff_max,
        )
        if decision.budget == "system":
            record.system_attempts += 1
        else:
            record.user_attempts += 1
        if decision.retry and not self._stopping:
            self._event(
                state,
                "RETRYING",
                record.attempts,
                f"{error.type}: {error.message} ({decision.budget} retry in {decision.delay:.2f}s)",
            )
            self.batch.nodes.append(record)
            heapq.heappush(self.delayed, (time.monotonic() + decision.delay, state.id))
            self.engine.observer.node_changed(self, state)
            return
        self._release(state)
        self.exception = exception
        self._fail(state, error)

    def _succeed(
        self,
        state: NodeState,
        outputs: LiteralMap,
        values: dict[str, Any] | None,
        message: str = "",
    ) -> None:
        self._release(state)
        state.outputs = outputs
        state.output_values = values
        state.record.outputs = dumps(LiteralMapDocument(literals=outputs))
        self._set_phase(state, NodePhase.SUCCEEDED, message)
        for dependent_id in state.dependents:
            dependent = self.states[dependent_id]
            dependent.waiting_on.discard(state.id)
            if not dependent.waiting_on and dependent.phase == NodePhase.QUEUED:
                self.ready.append(dependent_id)
        if state.parent:
            parent = self.states[state.parent]
            parent.children.discard(state.id)
            if not parent.children and not parent.phase.terminal:
                self._complete_parent(parent)

    def _complete_parent(self, state: NodeState) -> None:
        scope = state.child_scope
        assert scope is not None
        completer = self.engine.node_completers.get(state.node.kind)
        if completer is not None:
            completer(self, state)
            return
        outputs: LiteralMap = {}
        values: dict[str, Any] = {}
        try:
            for name, binding in scope.template.outputs.items():
                outputs[name], values[name] = resolve(binding, scope, self.states)
        except ExecutionError as exc:
            self._fail(state, failures.system_failure(str(exc)))
            return
        complete = all(v is not MISSING for v in values.values())
        self._store_cache(state, outputs)  # a @dynamic's outputs, once its children are done
        self._succeed(state, outputs, values if complete else None)

    def _store_cache(self, state: NodeState, outputs: LiteralMap) -> None:
        task = state.task
        if task is None or task.cache is None or not state.cache_key:
            return
        now = time.time()
        ttl = task.cache.ttl_seconds
        self.batch.cache_entries.append(
            CacheEntry(
                key=state.cache_key,
                task_name=task.name,
                cache_version=cache_version(task),
                outputs=dumps(LiteralMapDocument(literals=outputs)),
                created_at=now,
                expires_at=None if ttl is None else now + ttl,
                execution_id=self.record.id,
                node_id=state.id,
            )
        )

    def _release(self, state: NodeState) -> None:
        if state.holds_reservation:
            self.flush()
            self.engine.store.cache_release(state.cache_key, self._owner(state))
            state.holds_reservation = False

    def _fail(self, state: NodeState, error: ErrorDocument) -> None:
        state.record.error = dumps(error)
        self._set_phase(state, NodePhase.FAILED, f"{error.type}: {error.message}")
        if state.parent:
            parent = self.states[state.parent]
            if not parent.phase.terminal:
                self._fail(parent, error)
                return
        if self.failure is None:
            self.failure = (state, error)
            self._abort_all("", failing=True)

    def _time_out(self, state: NodeState) -> None:
        assert state.task is not None and state.handle is not None
        cancel_in_background(state.runner, state.handle, state.id)
        seconds = state.task.timeout_seconds or 0.0
        error = failures.timed_out(state.task.name, seconds, f"attempt {state.record.attempts}")
        self.running -= 1
        self.set_deadline(state, None)
        state.handle = None
        self.batch.attempts.append(self._attempt_record(state, AttemptPhase.FAILED, error))
        self._failed_attempt(state, error, None)

    def _abort_all(self, reason: str, failing: bool = False) -> None:
        """Stop every running attempt; nodes not finished become ABORTED."""
        if reason:
            self._aborting = reason
        for owner in list(self.owners.values()):
            owner.abort()
        stopping: list[threading.Thread] = []
        for state in self.states.values():
            if state.phase.terminal:
                continue
            if state.handle is not None and state.runner is not None:
                stopping.append(cancel_in_background(state.runner, state.handle, state.id))
                self.batch.attempts.append(self._attempt_record(state, AttemptPhase.ABORTED))
                state.handle = None
                self.running -= 1
            self._release(state)
            self.set_deadline(state, None)
            self._set_phase(state, NodePhase.ABORTED, reason or "another node failed")
        self.running = max(self.running, 0)
        for thread in stopping:  # all were asked to stop at once; now wait for each to go
            thread.join()


def cancel_in_background(runner: Any, handle: AttemptHandle, node_id: str) -> threading.Thread:
    """Stop an attempt on a thread of its own: a runner may wait for it to go (5 s before a
    SIGKILL). Not a daemon, so the process waits for it at exit: no attempt outlives its engine
    because the engine ended first (e.g. a second Ctrl-C while aborting)."""

    def cancel() -> None:
        try:
            runner.cancel(handle)
        except Exception as exc:  # the others are being stopped all the same
            log.warning("could not cancel %s: %s", node_id, exc)

    thread = threading.Thread(target=cancel, name=f"slipstream-cancel-{node_id}")
    thread.start()
    return thread

"""The nodes of one execution: their states, who waits on whom, what is ready to start, and
the resolution of a node's inputs and a body's outputs; owned by the loop."""

from __future__ import annotations

import heapq
import time
from collections import deque
from typing import Any

from slipstream.compiler.dag import dependencies
from slipstream.engine.state import MISSING, NodeState, Scope, resolve, resolve_inputs
from slipstream.ir import LiteralMap, LiteralMapDocument, decode
from slipstream.storage.records import NodeRecord
from slipstream.types import NodePhase


class NodeGraph:
    """Node states by full id, the count of unfinished ones and the queue of ready ones."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.states: dict[str, NodeState] = {}
        self.unfinished = 0  # nodes not yet in a terminal phase: the execution ends at zero
        self.ready: deque[str] = deque()
        self.delayed: list[tuple[float, str]] = []  # (monotonic when, node id): wake-ups

    def new_record(self, node_id: str, parent: str, kind: str, target: str) -> NodeRecord:
        return NodeRecord(
            execution_id=self.execution_id,
            node_id=node_id,
            parent_id=parent,
            kind=kind,
            target=target,
        )

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
                record = self.new_record(full, parent, node.kind, node.target)
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

    def wake_at(self, node_id: str, when: float | None) -> None:
        """The node starts again once ready (None: now) or at `when`."""
        if when is None:
            self.ready.append(node_id)
        else:
            heapq.heappush(self.delayed, (when, node_id))

    def next_wake(self) -> float | None:
        return self.delayed[0][0] if self.delayed else None

    def wake_due(self, now: float) -> None:
        """Nodes whose wake-up time has come (and still run) are ready."""
        while self.delayed and self.delayed[0][0] <= now:
            _, node_id = heapq.heappop(self.delayed)
            if self.states[node_id].phase == NodePhase.RUNNING:
                self.ready.append(node_id)

    def add_ready(self, state: NodeState) -> None:
        """A node added to a running body on its own (an on_failure handler): ready at once."""
        self.states[state.id] = state
        self.unfinished += 1
        if state.parent:
            self.states[state.parent].children.add(state.id)
        self.ready.append(state.id)

    def set_phase(self, state: NodeState, phase: NodePhase) -> None:
        """Move a node's record to `phase` (with its start and end times)."""
        record = state.record
        if phase.terminal and not state.phase.terminal:
            self.unfinished -= 1
        record.phase = phase.value
        now = time.time()
        if phase == NodePhase.RUNNING and record.started_at is None:
            record.started_at = now
        if phase.terminal:
            record.ended_at = now

    def release_dependents(self, state: NodeState) -> None:
        """The node succeeded: its dependents with nothing else to wait for are ready."""
        for dependent_id in state.dependents:
            dependent = self.states[dependent_id]
            dependent.waiting_on.discard(state.id)
            if not dependent.waiting_on and dependent.phase == NodePhase.QUEUED:
                self.ready.append(dependent_id)

    def child_done(self, state: NodeState) -> NodeState | None:
        """The node's parent if this was its last unfinished child (and it is not over)."""
        if not state.parent:
            return None
        parent = self.states[state.parent]
        parent.children.discard(state.id)
        return parent if not parent.children and not parent.phase.terminal else None

    def inputs_of(self, state: NodeState) -> tuple[LiteralMap, dict[str, Any] | None]:
        return resolve_inputs(state.node, state.scope, self.states)

    def scope_outputs(self, scope: Scope) -> tuple[LiteralMap, dict[str, Any] | None]:
        outputs: LiteralMap = {}
        values: dict[str, Any] = {}
        for name, binding in scope.template.outputs.items():
            outputs[name], values[name] = resolve(binding, scope, self.states)
        complete = all(v is not MISSING for v in values.values())
        return outputs, (values if complete else None)

"""What an execution writes about itself: phases, events, attempt rows, its end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from slipstream.engine.state import MISSING, NodeState, Scope, resolve
from slipstream.ir import ErrorDocument, LiteralMap, LiteralMapDocument, dumps, failures
from slipstream.storage.records import AttemptRecord, EventRecord, ExecutionRecord, WriteBatch
from slipstream.types import AttemptPhase, ExecutionPhase, NodePhase

if TYPE_CHECKING:
    from slipstream.engine.engine import Engine


class Recording:
    """The run loop's bookkeeping; ExecutionRun holds the state these methods write."""

    engine: Engine
    record: ExecutionRecord
    root: Scope
    states: dict[str, NodeState]
    batch: WriteBatch
    unfinished: int
    failure: tuple[NodeState, ErrorDocument] | None
    _aborting: str
    outputs: LiteralMap | None
    output_values: dict[str, Any] | None

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
        self.batch.nodes.append(record)
        self._event(state, phase.value, record.attempts, message)
        self.engine.observer.node_changed(self, state)

    def _event(self, state: NodeState, phase: str, attempt: int, message: str) -> None:
        self.batch.events.append(
            EventRecord(
                execution_id=self.record.id,
                node_id=state.id,
                attempt=attempt,
                phase=phase,
                at=time.time(),
                message=message,
            )
        )

    def _attempt_record(
        self,
        state: NodeState,
        phase: AttemptPhase,
        error: ErrorDocument | None = None,
        info: dict[str, Any] | None = None,
    ) -> AttemptRecord:
        attempt = state.record.attempts
        return AttemptRecord(
            execution_id=self.record.id,
            node_id=state.id,
            attempt=attempt,
            phase=phase.value,
            runner=state.runner.name if state.runner else "",
            handle=dict(state.handle.ref) if state.handle else {},
            output_prefix=self.engine.blobs.attempt_prefix(self.record.id, state.id, attempt),
            error=dumps(error) if error else None,
            info=dict(info or state.record.info),
            started_at=state.attempt_started,
            ended_at=None if phase == AttemptPhase.RUNNING else time.time(),
        )

    def flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, WriteBatch()
            batch.nodes = list({id(n): n for n in batch.nodes}.values())
            self.engine.store.write(batch)

    def _finish(self) -> None:
        record = self.record
        now = time.time()
        if self.failure is not None:
            state, error = self.failure
            record.phase = ExecutionPhase.FAILED.value
            record.error = dumps(error)
            record.options = {**record.options, "failed_node": state.id}
        elif self._aborting:
            record.phase = ExecutionPhase.ABORTED.value
            record.error = dumps(failures.aborted(self._aborting))
        else:
            outputs: LiteralMap = {}
            values: dict[str, Any] = {}
            for name, binding in self.root.template.outputs.items():
                outputs[name], values[name] = resolve(binding, self.root, self.states)
            self.outputs = outputs
            self.output_values = values if all(v is not MISSING for v in values.values()) else None
            record.outputs = dumps(LiteralMapDocument(literals=outputs))
            record.phase = ExecutionPhase.SUCCEEDED.value
        record.ended_at = now
        self.batch.execution = record
        self.batch.events.append(EventRecord(execution_id=record.id, phase=record.phase, at=now))
        self.flush()
        self.engine.observer.execution_changed(self)

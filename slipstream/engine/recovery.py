"""Taking executions up again: resume after the engine died (re-expand, re-adopt) and abort
an execution whose engine is gone; called by the Engine facade."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from slipstream.engine.loop import ExecutionLoop
from slipstream.engine.nodes.base import EngineServices
from slipstream.engine.state import Scope
from slipstream.ir import dumps, failures
from slipstream.runners.base import AttemptHandle
from slipstream.storage.records import EventRecord, ExecutionRecord, NodeRecord, WriteBatch
from slipstream.types import AttemptPhase, ExecutionPhase, NodePhase

if TYPE_CHECKING:
    from slipstream.storage.metadata import MetadataStore

STALE_ENGINE_SECONDS = 10.0


def owner_alive(record: ExecutionRecord) -> bool:
    """True if another live engine process still drives this execution."""
    if record.engine_pid is None or record.engine_pid == os.getpid():
        return False
    fresh = (time.time() - (record.engine_heartbeat or 0)) < STALE_ENGINE_SECONDS
    try:
        os.kill(record.engine_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return fresh


def take_up(loop: ExecutionLoop, records: dict[str, NodeRecord], event: str = "RESUMED") -> None:
    """Rebuild a loop from the rows a dead engine left: nothing that succeeded runs again.

    `event` is the execution's event: RESUMED, or RUNNING for a QUEUED one starting."""
    loop.graph.add_scope(loop.root, "", records)
    _reexpand(loop, records)
    for state in list(loop.states.values()):
        if state.phase == NodePhase.RUNNING and state.child_scope is None:
            loop.kinds.get(state.node.kind).resume(loop, state)
    loop.recorder.execution_event(event, time.time())
    loop.recorder.flush()


def _reexpand(loop: ExecutionLoop, records: dict[str, NodeRecord]) -> None:
    """Rebuild the children of RUNNING nodes that had started them, from their rows."""
    pending = list(loop.states.values())
    while pending:
        state = pending.pop()
        if state.phase != NodePhase.RUNNING or state.child_scope is not None:
            continue
        template = loop.kinds.get(state.node.kind).children(loop, state)
        if template is None:
            continue
        inputs, values = loop.inputs_of(state)
        scope = Scope(
            template=template, prefix=state.id + "/", inputs=inputs, input_values=values or {}
        )
        state.child_scope = scope
        loop.recorder.new_nodes(loop.graph.add_scope(scope, state.id, records))
        if not state.children:
            loop.complete(state)  # everything inside had finished
        else:
            pending.extend(loop.states[scope.full_id(n.id)] for n in template.nodes)


def abort_orphan(
    store: MetadataStore, services: EngineServices, record: ExecutionRecord
) -> ExecutionPhase:
    """Abort an execution no engine drives: stop its attempts, end its nodes."""
    now = time.time()
    batch = WriteBatch()
    for attempt in store.get_attempts(record.id):
        if attempt.phase == AttemptPhase.RUNNING.value and attempt.handle and attempt.runner:
            services.runner(attempt.runner).cancel(
                AttemptHandle(runner=attempt.runner, ref=attempt.handle)
            )
            attempt.phase, attempt.ended_at = AttemptPhase.ABORTED.value, now
            batch.attempts.append(attempt)
    for node in store.get_nodes(record.id):
        if not NodePhase(node.phase).terminal:
            node.phase, node.ended_at = NodePhase.ABORTED.value, now
            batch.nodes.append(node)
            batch.events.append(
                EventRecord(
                    execution_id=record.id,
                    node_id=node.node_id,
                    phase=NodePhase.ABORTED.value,
                    at=now,
                    message="aborted on request",
                )
            )
    record.phase, record.ended_at = ExecutionPhase.ABORTED.value, now
    record.error = dumps(failures.aborted("aborted on request"))
    batch.execution = record
    batch.events.append(EventRecord(execution_id=record.id, phase=record.phase, at=now))
    store.write(batch)
    return ExecutionPhase.ABORTED

"""The "task" (and "dynamic") node kind: a task's attempts, its cache, retries and re-adoption."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from slipstream.engine.attempts import (
    CACHE_WAIT_SECONDS,
    Attempt,
    attempt_spec,
    effective_task,
    retry_decision,
    retry_message,
)
from slipstream.engine.nodes.base import BaseNodeKind, RunContext
from slipstream.engine.nodes.dynamic import expand_returned_graph, returned_graph
from slipstream.ir import ErrorDocument, LiteralMap, WorkflowTemplate, failures
from slipstream.runners.base import AttemptResult
from slipstream.types import AttemptPhase

if TYPE_CHECKING:
    from slipstream.engine.state import NodeState


class TaskKind(BaseNodeKind):
    """A node running one task: one attempt at a time, retried within its budgets."""

    def __init__(self, name: str = "task") -> None:
        self.name = name

    def start(
        self, ctx: RunContext, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
    ) -> None:
        task = state.task or effective_task(state)
        state.task = task
        record = state.record
        if task.cache is not None and not record.attempts:
            check = ctx.cache.check(task, inputs, state.id, state.cache_key)
            state.cache_key = check.key
            if check.outputs is not None:
                record.cached = True
                ctx.succeed(state, check.outputs, None, message="cache hit")
                return
            if check.wait:  # another execution is computing this entry right now
                ctx.wake_at(state, time.monotonic() + CACHE_WAIT_SECONDS)
                return
        if not ctx.take_slot():
            ctx.wake_at(state)
            return
        record.attempts += 1
        number = record.attempts
        spec = attempt_spec(
            ctx.execution,
            ctx.settings,
            node_id=state.id,
            attempt=number,
            task=task,
            inputs=inputs,
            values=values,
            output_prefix=ctx.blobs.attempt_prefix(ctx.execution.id, state.id, number),
            system_failures=record.system_attempts,
        )
        runner = ctx.services.runner_for(task)
        attempt = Attempt(
            owner=state.id,
            spec=spec,
            runner=runner,
            label=f"attempt {number}",
            started=time.time(),
            cache_key=state.cache_key,
        )
        ctx.recorder.event(state.id, number, "ATTEMPT", f"attempt {number} on {runner.name}")
        ctx.recorder.node(record)
        ctx.launch(attempt)

    def on_result(
        self, ctx: RunContext, state: NodeState, attempt: Attempt, result: AttemptResult
    ) -> None:
        if result.phase == AttemptPhase.SUCCEEDED and result.workflow is not None:
            expand_returned_graph(ctx, state, attempt.spec, result)
            return
        if result.phase == AttemptPhase.SUCCEEDED:
            assert result.outputs is not None
            ctx.cache.store_outputs(state.task, state.cache_key, result.outputs, state.id)
            ctx.succeed(state, result.outputs, result.output_values)
            if attempt.ran_long(result):
                ctx.recorder.flush()  # a kill from now on cannot make it run again
            return
        self.failed(ctx, state, result.error or failures.no_error_document(), result.exception)

    def failed(
        self,
        ctx: RunContext,
        state: NodeState,
        error: ErrorDocument,
        exception: BaseException | None,
    ) -> None:
        """Retry within the budget the failure spends, or fail the node."""
        assert state.task is not None
        record = state.record
        decision = retry_decision(
            error,
            state.task,
            ctx.settings,
            user_failures=record.user_attempts,
            system_failures=record.system_attempts,
        )
        if decision.budget == "system":
            record.system_attempts += 1
        else:
            record.user_attempts += 1
        if decision.retry and not ctx.stopping:
            ctx.recorder.event(
                state.id, record.attempts, "RETRYING", retry_message(error, decision)
            )
            ctx.wake_at(state, time.monotonic() + decision.delay)
            ctx.node_changed(state)
            return
        ctx.fail(state, error, exception)

    def completed(self, ctx: RunContext, state: NodeState, outputs: LiteralMap) -> None:
        # A @dynamic's outputs, once its children are done, are cached like any task's.
        ctx.cache.store_outputs(state.task, state.cache_key, outputs, state.id)

    def children(self, ctx: RunContext, state: NodeState) -> WorkflowTemplate | None:
        return returned_graph(ctx, state)

    def resume(self, ctx: RunContext, state: NodeState) -> None:
        """Re-adopt the attempt a dead engine left running, or start the next one."""
        state.task = effective_task(state)
        rows = ctx.attempts_of(state.id)
        last = rows[-1] if rows else None
        if last is None or last.phase != AttemptPhase.RUNNING.value:
            ctx.wake_at(state)
            return
        inputs, _ = ctx.inputs_of(state)
        ctx.adopt(state, last, state.task, inputs, label=f"attempt {last.attempt}")

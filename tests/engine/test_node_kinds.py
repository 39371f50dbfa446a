"""Node kinds are pluggable: a toy kind registered on an Engine runs through the real engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from slipstream import task, workflow
from slipstream.config import load_settings
from slipstream.engine.attempts import Attempt, attempt_spec, effective_task
from slipstream.engine.engine import Engine
from slipstream.engine.nodes.base import BaseNodeKind, RunContext
from slipstream.engine.nodes.registry import NodeKindRegistry, default_kinds
from slipstream.engine.state import NodeState
from slipstream.errors import ConfigError, ExecutionError
from slipstream.ir import Literal, LiteralMap, WorkflowTemplate, failures
from slipstream.runners.base import AttemptResult
from slipstream.storage.blobs import BlobStore
from slipstream.storage.metadata import MetadataStore
from slipstream.types import AttemptPhase, ExecutionPhase

calls: list[int] = []


@task
def grow(x: int) -> int:
    calls.append(x)
    return x * 3


@workflow
def one_grow(x: int) -> int:
    return grow(x=x)


class Twice(BaseNodeKind):
    """Runs the node's task two times, one after the other; the node's outputs are the second's."""

    name = "twice"

    def start(
        self, ctx: RunContext, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
    ) -> None:
        if not ctx.take_slot():
            ctx.wake_at(state)
            return
        state.record.attempts += 1
        number = state.record.attempts
        task = effective_task(state)
        spec = attempt_spec(
            ctx.execution,
            ctx.settings,
            node_id=state.id,
            attempt=number,
            task=task,
            inputs=inputs,
            values=values,
            output_prefix=ctx.blobs.attempt_prefix(ctx.execution.id, state.id, number),
            system_failures=0,
        )
        runner = ctx.services.runner_for(task)
        ctx.launch(Attempt(state.id, spec, runner, f"attempt {number}", time.time()))

    def on_result(
        self, ctx: RunContext, state: NodeState, attempt: Attempt, result: AttemptResult
    ) -> None:
        if result.phase != AttemptPhase.SUCCEEDED or result.outputs is None:
            ctx.fail(state, result.error or failures.no_error_document())
        elif state.record.attempts < 2:
            ctx.wake_at(state)
        else:
            ctx.succeed(state, result.outputs, result.output_values)


def _engine(kinds: NodeKindRegistry) -> Engine:
    settings = load_settings()
    store = MetadataStore(settings.resolved_database_url)
    return Engine(settings, store, BlobStore(settings.resolved_blob_url), kinds=kinds)


def _as_twice(template: WorkflowTemplate) -> WorkflowTemplate:
    nodes = tuple(msgspec.structs.replace(node, kind="twice") for node in template.nodes)
    return msgspec.structs.replace(template, nodes=nodes)


def test_a_registered_toy_kind_runs_through_the_real_engine(home: Path) -> None:
    engine = _engine(default_kinds.extended(Twice()))
    calls.clear()
    try:
        outcome = engine.execute(
            _as_twice(one_grow.template),
            {"x": Literal(value=2)},
            entities={grow.name: grow},
            source_root=one_grow.source_root,
        )
        assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
        assert outcome.outputs["o0"] == Literal(value=6)
        assert calls == [2, 2]  # the task's body ran twice, both attempts in this process
        attempts = engine.store.get_attempts(outcome.execution_id)
        assert [(a.node_id, a.attempt, a.phase) for a in attempts] == [
            ("grow", 1, "SUCCEEDED"),
            ("grow", 2, "SUCCEEDED"),
        ]
        [node] = engine.store.get_nodes(outcome.execution_id)
        assert (node.kind, node.phase, node.attempts) == ("twice", "SUCCEEDED", 2)
    finally:
        engine.close()
        engine.store.close()


def test_an_engine_without_the_kind_fails_the_node_naming_it(home: Path) -> None:
    engine = _engine(default_kinds)
    try:
        outcome = engine.execute(_as_twice(one_grow.template), {"x": Literal(value=2)})
        assert outcome.phase == ExecutionPhase.FAILED
        assert outcome.error is not None and "unknown node kind 'twice'" in outcome.error.message
    finally:
        engine.close()
        engine.store.close()


def test_a_kind_name_is_registered_once() -> None:
    with pytest.raises(ConfigError, match="node kind 'twice' is already registered"):
        default_kinds.extended(Twice(), Twice())
    with pytest.raises(ConfigError, match="'map' is already registered"):
        default_kinds.extended(type("Map", (BaseNodeKind,), {"name": "map"})())
    assert "twice" not in default_kinds.names()
    with pytest.raises(ExecutionError, match="unknown node kind 'nope'"):
        default_kinds.get("nope")

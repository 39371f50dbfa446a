"""The in-memory state of one execution's nodes and the resolution of their input bindings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slipstream.compiler.paths import follow
from slipstream.errors import ExecutionError
from slipstream.ir import Binding, Literal, LiteralMap, Node, TaskTemplate, WorkflowTemplate
from slipstream.storage.records import NodeRecord
from slipstream.types import NodePhase

MISSING: Any = object()
_PHASES = {phase.value: phase for phase in NodePhase}


@dataclass
class Scope:
    """A workflow body being run: its template, its inputs, and the prefix of its node ids."""

    template: WorkflowTemplate
    prefix: str  # "" at top level, "<node id>/" inside a sub-workflow or dynamic node
    inputs: LiteralMap
    input_values: dict[str, Any] = field(default_factory=dict)

    def full_id(self, node_id: str) -> str:
        return self.prefix + node_id


@dataclass
class NodeState:
    """One node of a running execution; its kind keeps what else it needs in `kind_state`."""

    id: str  # full id
    node: Node
    scope: Scope
    record: NodeRecord
    waiting_on: set[str] = field(default_factory=set)  # full ids of unfinished upstream nodes
    dependents: list[str] = field(default_factory=list)
    outputs: LiteralMap | None = None
    output_values: dict[str, Any] | None = None
    task: TaskTemplate | None = None  # effective template (overrides applied)
    children: set[str] = field(default_factory=set)  # unfinished children (sub-workflows)
    child_scope: Scope | None = None
    cache_key: str = ""
    kind_state: Any = None  # the node kind's own per-node state (a map's items)

    @property
    def phase(self) -> NodePhase:
        return _PHASES[self.record.phase]

    @property
    def parent(self) -> str:
        return self.record.parent_id


def combine(literals: list[Literal], kind: str, keys: list[str] | None = None) -> Literal:
    """A list/dict literal from member literals: inline JSON when every member is inline."""
    inline = all(
        not (lit.uri or lit.items is not None or lit.entries is not None or lit.variant >= 0)
        for lit in literals
    )
    if kind == "list":
        if inline:
            return Literal(value=[lit.value for lit in literals])
        return Literal(items=tuple(literals))
    assert keys is not None
    if inline:
        return Literal(value={k: lit.value for k, lit in zip(keys, literals, strict=True)})
    return Literal(entries=dict(zip(keys, literals, strict=True)))


def list_item(literal: Literal, index: int) -> Literal:
    if literal.items is not None:
        return literal.items[index]
    return Literal(value=literal.value[index])


def resolve(binding: Binding, scope: Scope, states: dict[str, NodeState]) -> tuple[Literal, Any]:
    """The literal a binding delivers, and its Python value when one is at hand (else MISSING)."""
    if binding.kind == "literal":
        assert binding.literal is not None
        return binding.literal, MISSING
    if binding.kind == "input":
        literal = scope.inputs.get(binding.name)
        if literal is None:
            variable = scope.template.interface.input(binding.name)
            if variable is None or variable.default is None:
                raise ExecutionError(f"workflow input {binding.name!r} has no value")
            return follow(variable.default, MISSING, binding.path, missing=MISSING)
        value = scope.input_values.get(binding.name, MISSING)
        return follow(literal, value, binding.path, missing=MISSING)
    if binding.kind == "promise":
        upstream = states[scope.full_id(binding.node)]
        if upstream.outputs is None or binding.name not in upstream.outputs:
            raise ExecutionError(f"node {upstream.id!r} produced no output {binding.name!r}")
        literal = upstream.outputs[binding.name]
        value = (upstream.output_values or {}).get(binding.name, MISSING)
        if binding.index >= 0:
            return list_item(literal, binding.index), (
                MISSING if value is MISSING else value[binding.index]
            )
        return follow(literal, value, binding.path, missing=MISSING)
    if binding.kind == "list":
        parts = [resolve(item, scope, states) for item in binding.items]
        items = [value for _, value in parts]
        return combine([lit for lit, _ in parts], "list"), (
            MISSING if any(v is MISSING for v in items) else items
        )
    if binding.kind == "dict":
        entries = binding.entries or {}
        keys = list(entries)
        parts = [resolve(entries[k], scope, states) for k in keys]
        entry_values = {k: v for k, (_, v) in zip(keys, parts, strict=True)}
        return combine([lit for lit, _ in parts], "dict", keys), (
            MISSING if any(v is MISSING for v in entry_values.values()) else entry_values
        )
    raise ExecutionError(f"unknown binding kind {binding.kind!r}")


def resolve_inputs(
    node: Node, scope: Scope, states: dict[str, NodeState]
) -> tuple[LiteralMap, dict[str, Any] | None]:
    """All input literals of a node, plus their Python values if every one is at hand."""
    literals: dict[str, Literal] = {}
    values: dict[str, Any] = {}
    complete = True
    for name, binding in node.inputs.items():
        literal, value = resolve(binding, scope, states)
        literals[name] = literal
        if value is MISSING:
            complete = False
        else:
            values[name] = value
    return literals, (values if complete else None)

"""The "workflow" node kind: a sub-workflow run as the node's children."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slipstream.engine.nodes.base import BaseNodeKind, RunContext
from slipstream.ir import LiteralMap, WorkflowTemplate

if TYPE_CHECKING:
    from slipstream.engine.state import NodeState


class WorkflowKind(BaseNodeKind):
    name = "workflow"

    def start(
        self, ctx: RunContext, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
    ) -> None:
        ctx.expand(state, self.body(state), inputs, values)

    def children(self, ctx: RunContext, state: NodeState) -> WorkflowTemplate | None:
        return self.body(state)

    @staticmethod
    def body(state: NodeState) -> WorkflowTemplate:
        return state.scope.template.workflows[state.node.target]

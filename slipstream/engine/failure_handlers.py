"""Failed workflow bodies: their failure policy, their on_failure handler node and when the
body's owner fails at last; owned by the loop, which calls it on each node's end."""

from __future__ import annotations

from typing import Any, Protocol

from slipstream.compiler.dag import downstream, node_interface
from slipstream.engine.graph import NodeGraph
from slipstream.engine.recording import Recorder
from slipstream.engine.state import NodeState, Scope
from slipstream.ir import ErrorDocument, LiteralMap
from slipstream.sdk.failure import failure_literal


class FailureHost(Protocol):
    """What failure handling asks of the loop that owns it."""

    def skip(self, state: NodeState, message: str) -> None:
        """The node will not run: SKIPPED."""

    def stop_body(self, prefix: str) -> None:
        """Abort every attempt and unfinished node under `prefix` (the execution goes on)."""

    def fail(self, state: NodeState, error: ErrorDocument) -> None:
        """The node (a failed body's owner) failed."""

    def fail_execution(self, state: NodeState, error: ErrorDocument) -> None:
        """The execution's own body failed because `state` did: stop everything."""


class FailureHandlers:
    """Failed bodies, by the id of the node that runs them ("" for the execution's own)."""

    def __init__(self, host: FailureHost, graph: NodeGraph, recorder: Recorder, root: Scope):
        self.host = host
        self.graph = graph
        self.recorder = recorder
        self.root = root
        self.first_failures: dict[str, tuple[NodeState, ErrorDocument]] = {}
        self.handlers: dict[str, str] = {}  # body -> full id of its started handler node

    def handler_inputs(
        self, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
    ) -> tuple[LiteralMap, dict[str, Any] | None]:
        """A handler node's inputs get the body's first failure as its error input."""
        error_input = state.node.spec.get("error_input")
        if not error_input or self.handlers.get(state.parent) != state.id:
            return inputs, values
        failed, error = self.first_failures[state.parent]
        variable = node_interface(state.scope.template, state.node).input(error_input)
        assert variable is not None
        inputs[error_input] = failure_literal(variable.type, error.message, failed.id)
        return inputs, None

    def succeeded(self, state: NodeState) -> bool:
        """A node succeeded; True if it belongs to a failed body (its parent does not
        complete: the body fails once idle, or its handler ran)."""
        key = state.parent
        if self.handlers.get(key) == state.id:
            self._body_failed(key)  # the handler ran: now its workflow fails
            return True
        if key in self.first_failures:
            if self._idle(key):
                self._body_failed(key)
            return True
        return False

    def failed(self, state: NodeState, error: ErrorDocument) -> None:
        """A node failed: its body fails now, or once every node that can still run did."""
        key = state.parent
        if self.handlers.get(key) == state.id:  # the on_failure handler failed too
            self._body_failed(key)
            return
        self.first_failures.setdefault(key, (state, error))
        body = self._body(key)
        if body.template.failure_policy == "after_executable":
            for node_id in downstream(body.template, state.node.id):
                skipped = self.graph.states[body.full_id(node_id)]
                if not skipped.phase.terminal:
                    self.host.skip(skipped, f"upstream {state.id!r} failed")
            if not self._idle(key):
                return  # every node that can still run does; the last one fails the body
        self._body_failed(key)

    def _body(self, key: str) -> Scope:
        """The workflow body run by node `key` ("" for the execution's own)."""
        owner = self.graph.states.get(key) if key else None
        return owner.child_scope if owner is not None and owner.child_scope else self.root

    def _idle(self, key: str) -> bool:
        body = self._body(key)
        states = self.graph.states
        return all(states[body.full_id(n.id)].phase.terminal for n in body.template.nodes)

    def _body_failed(self, key: str) -> None:
        """A workflow body failed: run its on_failure handler first, then fail its owner."""
        body = self._body(key)
        handler = body.template.failure_node
        if handler is not None and key not in self.handlers:
            self.host.stop_body(body.prefix)
            full = body.full_id(handler.id)
            record = self.graph.new_record(full, key, handler.kind, handler.target)
            self.handlers[key] = full
            self.graph.add_ready(NodeState(id=full, node=handler, scope=body, record=record))
            self.recorder.new_nodes([record])
            return
        state, error = self.first_failures[key]
        if not key:
            self.host.fail_execution(state, error)
            return
        owner = self.graph.states[key]
        if not owner.phase.terminal:
            self.host.fail(owner, error)

"""The registry of node kinds an Engine runs, by name; `default_kinds` holds the built-in five."""

from __future__ import annotations

from collections.abc import Iterable

from slipstream.engine.nodes.base import NodeKind
from slipstream.engine.nodes.branch import BranchKind
from slipstream.engine.nodes.map import MapKind
from slipstream.engine.nodes.task import TaskKind
from slipstream.engine.nodes.workflow import WorkflowKind
from slipstream.errors import ConfigError, ExecutionError


class NodeKindRegistry:
    """Node kinds by name; a name is registered once."""

    def __init__(self, kinds: Iterable[NodeKind] = ()) -> None:
        self._kinds: dict[str, NodeKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: NodeKind) -> None:
        if not kind.name:
            raise ConfigError(f"node kind {kind!r} has no name")
        if kind.name in self._kinds:
            raise ConfigError(f"node kind {kind.name!r} is already registered")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> NodeKind:
        kind = self._kinds.get(name)
        if kind is None:
            raise ExecutionError(
                f"unknown node kind {name!r}; this engine runs: {', '.join(sorted(self._kinds))}"
            )
        return kind

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def extended(self, *kinds: NodeKind) -> NodeKindRegistry:
        """A new registry with these kinds and every kind of this one."""
        return NodeKindRegistry([*self._kinds.values(), *kinds])


# A @dynamic is a task whose attempt returns a graph; called at top level its node is a "task".
default_kinds = NodeKindRegistry(
    [TaskKind("task"), TaskKind("dynamic"), WorkflowKind(), BranchKind(), MapKind()]
)

"""The node-kind protocol and the narrow context a kind is given; a leaf of the engine.

A node kind (task, workflow, branch, dynamic, map, or one of your own) says what a node of
its kind does when it is ready, when an attempt it launched ends, when its children are done,
and how it takes up again after a restart. It acts on its execution only through the
`RunContext` (the loop implements it): it never touches the loop's queues or counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from slipstream.errors import ExecutionError
from slipstream.ir import ErrorDocument, LiteralMap, TaskTemplate, WorkflowTemplate, failures

if TYPE_CHECKING:
    from slipstream.config import Settings
    from slipstream.engine.attempts import Attempt, CacheGate
    from slipstream.engine.recording import Recorder
    from slipstream.engine.state import NodeState, Scope
    from slipstream.runners.base import AttemptResult, Runner
    from slipstream.storage.blobs import BlobStore
    from slipstream.storage.metadata import MetadataStore
    from slipstream.storage.records import AttemptRecord, ExecutionRecord


class EngineServices(Protocol):
    """What the loop needs from the engine that runs it."""

    def runner_for(self, task: TaskTemplate) -> Runner:
        """The runner an attempt of this task runs on."""

    def runner(self, name: str) -> Runner:
        """A runner by its name (as an attempt row records it)."""

    def remember(self, entities: dict[str, Any]) -> None:
        """Keep the Python objects a @dynamic's graph calls (in-process attempts use them)."""


class RunContext(Protocol):
    """What a node kind may do to the execution its node is part of."""

    @property
    def execution(self) -> ExecutionRecord: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> MetadataStore: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def recorder(self) -> Recorder:
        """Where rows and events are written (flushed before anything is launched)."""

    @property
    def cache(self) -> CacheGate: ...
    @property
    def services(self) -> EngineServices: ...
    @property
    def stopping(self) -> bool:
        """True once a node failed or an abort began: start nothing new."""

    def succeed(
        self,
        state: NodeState,
        outputs: LiteralMap,
        values: dict[str, Any] | None = None,
        message: str = "",
    ) -> None: ...

    def fail(
        self, state: NodeState, error: ErrorDocument, exception: BaseException | None = None
    ) -> None:
        """The node failed for good (its parents fail too, the execution stops)."""

    def expand(
        self,
        state: NodeState,
        template: WorkflowTemplate,
        inputs: LiteralMap,
        values: dict[str, Any] | None,
    ) -> None:
        """Run a workflow body as the node's children; complete() is called when they end."""

    def inputs_of(self, state: NodeState) -> tuple[LiteralMap, dict[str, Any] | None]:
        """The node's input literals (and their Python values when all are at hand)."""

    def scope_outputs(self, scope: Scope) -> tuple[LiteralMap, dict[str, Any] | None]:
        """A finished body's outputs (and their Python values when all are at hand)."""

    def launch(self, attempt: Attempt) -> None:
        """Launch an attempt in a parallelism slot taken for it; its end goes to on_result()."""

    def adopt(
        self,
        state: NodeState,
        row: AttemptRecord,
        task: TaskTemplate,
        inputs: LiteralMap,
        *,
        label: str,
        compact: bool = False,
    ) -> None:
        """Take back an attempt a dead engine left running (it takes a slot of its own); if
        it is gone, on_result() gets it as lost."""

    def take_slot(self) -> bool:
        """Take one of max_parallelism slots; False if all are taken."""

    def release_slot(self) -> None:
        """Give back a slot taken for an attempt that was not launched after all."""

    def wake_at(self, state: NodeState, when: float | None = None) -> None:
        """Call start() again at monotonic time `when` (None: as soon as a slot is free)."""

    def node_changed(self, state: NodeState) -> None:
        """The node's row changed: write it and tell the observer."""

    def node_info(self, state: NodeState, info: dict[str, Any]) -> None:
        """Runtime facts about the node (a map's counts): write them, tell the observer."""

    def attempts_of(self, node_id: str = "") -> list[AttemptRecord]:
        """The attempt rows stored for a node (all of the execution's if no node)."""


class NodeKind(Protocol):
    """What nodes of one kind do; one instance serves every node of the kind."""

    name: str

    def start(
        self,
        ctx: RunContext,
        state: NodeState,
        inputs: LiteralMap,
        values: dict[str, Any] | None,
    ) -> None:
        """The node is ready, or asked to be woken: do what it does now."""

    def on_result(
        self, ctx: RunContext, state: NodeState, attempt: Attempt, result: AttemptResult
    ) -> None:
        """An attempt the node launched ended (or timed out, or was lost)."""

    def complete(self, ctx: RunContext, state: NodeState) -> None:
        """Every child of the node (see RunContext.expand) has finished."""

    def children(self, ctx: RunContext, state: NodeState) -> WorkflowTemplate | None:
        """On resume: the body a RUNNING node runs as its children; None if it chose none."""

    def resume(self, ctx: RunContext, state: NodeState) -> None:
        """On resume: a RUNNING node without children takes up again (re-adopt, restart)."""

    def abort(self, ctx: RunContext, state: NodeState) -> None:
        """The execution stops (its attempts are being cancelled): let go of the rest."""


class BaseNodeKind:
    """Defaults for a kind: no attempts, children's outputs are the node's, restart on resume."""

    name = ""

    def on_result(
        self, ctx: RunContext, state: NodeState, attempt: Attempt, result: AttemptResult
    ) -> None:
        raise ExecutionError(f"node kind {self.name!r} launched no attempt {attempt.id!r}")

    def complete(self, ctx: RunContext, state: NodeState) -> None:
        assert state.child_scope is not None
        try:
            outputs, values = ctx.scope_outputs(state.child_scope)
        except ExecutionError as exc:
            ctx.fail(state, failures.system_failure(str(exc)))
            return
        self.completed(ctx, state, outputs)
        ctx.succeed(state, outputs, values)

    def completed(self, ctx: RunContext, state: NodeState, outputs: LiteralMap) -> None:
        """Called with the outputs of the finished children before the node succeeds."""

    def children(self, ctx: RunContext, state: NodeState) -> WorkflowTemplate | None:
        return None

    def resume(self, ctx: RunContext, state: NodeState) -> None:
        ctx.wake_at(state)

    def abort(self, ctx: RunContext, state: NodeState) -> None:
        pass

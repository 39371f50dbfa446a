"""The runner interface the engine calls: launch, watch, cancel and re-adopt one attempt."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from slipstream.ir import ErrorDocument, LiteralMap, TaskTemplate, WorkflowTemplate
from slipstream.types import AttemptPhase


@dataclass(frozen=True)
class AttemptSpec:
    """One attempt of one task: everything a runner needs to run it anywhere."""

    execution_id: str
    node_id: str
    attempt: int  # 1-based, counting every attempt of the node
    task: TaskTemplate
    inputs: LiteralMap
    output_prefix: str  # blob URI: runs/<execution>/<node>/<attempt>
    source_root: str = ""  # sys.path entry from which the task's module imports
    on_demand: bool = False  # an interruptible task's last system retry: no spot capacity
    bundle_uri: str = ""  # content-addressed code bundle (remote runners)
    input_values: dict[str, Any] | None = None  # in-process only: Python objects of `inputs`


@dataclass
class AttemptResult:
    """How an attempt ended, as the runner saw it."""

    phase: AttemptPhase
    outputs: LiteralMap | None = None
    error: ErrorDocument | None = None
    output_values: dict[str, Any] | None = None  # in-process only: Python objects of `outputs`
    exception: BaseException | None = None  # in-process only: the user's exception itself
    info: dict[str, Any] = field(default_factory=dict)
    workflow: WorkflowTemplate | None = None  # a @dynamic's graph, run in place of outputs
    entities: dict[str, Any] | None = None  # in-process only: the objects `workflow` calls


class AttemptHandle(msgspec.Struct, kw_only=True):
    """A persisted reference to a running attempt (a thread, a PID, a Pod, a DaskJob)."""

    runner: str
    ref: dict[str, Any] = msgspec.field(default_factory=dict)


class RunnerEvents(Protocol):
    """Callbacks a runner makes, from any thread."""

    def attempt_info(self, spec: AttemptSpec, info: dict[str, Any]) -> None:
        """Runtime facts about a running attempt (e.g. {"dashboard": url})."""

    def attempt_done(self, spec: AttemptSpec, result: AttemptResult) -> None:
        """The attempt ended. Called once per launched or adopted attempt, unless cancelled."""


class Runner(abc.ABC):
    """Where attempts run. Implementations: in-process, local process, Kubernetes."""

    name: str

    @abc.abstractmethod
    def launch(self, spec: AttemptSpec, events: RunnerEvents) -> AttemptHandle:
        """Start the attempt and return at once; report its end through events."""

    @abc.abstractmethod
    def cancel(self, handle: AttemptHandle) -> None:
        """Stop the attempt and free everything it holds; safe to call twice."""

    @abc.abstractmethod
    def adopt(self, handle: AttemptHandle, spec: AttemptSpec, events: RunnerEvents) -> bool:
        """Re-attach to an attempt launched by an engine that died.

        True: it is being watched again (its end will be reported, also if it already ended
        with outputs or an error written). False: it is gone without a trace.
        """

    def close(self) -> None:  # noqa: B027 - most runners hold nothing
        """Release pools and connections."""

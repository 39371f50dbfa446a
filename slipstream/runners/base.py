"""The runner interface the engine calls: launch, watch, cancel and re-adopt one attempt."""

from __future__ import annotations

import abc
import threading
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
    seconds: float | None = None  # in-process only: how long the body itself ran


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


@dataclass(frozen=True)
class RunnerCapabilities:
    """What a runner can do; the engine asks these, never a runner's name."""

    in_process: bool = False  # attempts run in the engine's process (share its memory)
    stoppable: bool = True  # cancel() really stops a running attempt (timeouts need it)
    adoptable: bool = True  # a restarted engine can re-attach to its running attempts
    finds_by_labels: bool = False  # adopt() finds an attempt even without a saved handle
    has_logs: bool = False  # logs() fetches an attempt's logs from where it ran
    warmable: bool = False  # warm_up() lets later attempts start with modules imported
    needs_bundle: bool = False  # attempts import the user's code from an uploaded bundle


class _Collector:
    """RunnerEvents that keep an attempt's end for a caller waiting on it (Runner.run_now)."""

    def __init__(self, events: RunnerEvents | None) -> None:
        self.events = events
        self.result: AttemptResult | None = None
        self.done = threading.Event()

    def attempt_info(self, spec: AttemptSpec, info: dict[str, Any]) -> None:
        if self.events is not None:
            self.events.attempt_info(spec, info)

    def attempt_done(self, spec: AttemptSpec, result: AttemptResult) -> None:
        self.result = result
        self.done.set()


class Runner(abc.ABC):
    """Where attempts run. Implementations: in-process, local process, Kubernetes."""

    name: str
    capabilities: RunnerCapabilities = RunnerCapabilities()

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

    def run_now(self, spec: AttemptSpec, events: RunnerEvents | None = None) -> AttemptResult:
        """Run the attempt to its end and return how it ended (on this thread if in-process)."""
        collector = _Collector(events)
        self.launch(spec, collector)
        collector.done.wait()
        assert collector.result is not None
        return collector.result

    def logs(self, handle: AttemptHandle, output_prefix: str) -> str | None:
        """The attempt's logs from where it ran (has_logs); None: they are in the blob store."""
        return None

    def warm_up(  # noqa: B027 - optional
        self, modules: list[str], paths: list[str], *, eager: bool = False
    ) -> None:
        """Import these modules ahead in whatever starts later attempts (warmable runners).

        eager: start that now, not at the first attempt (a plugin asked for modules ahead:
        its attempts are few and long, and their warm interpreter is slow to start)."""

    def close(self) -> None:  # noqa: B027 - most runners hold nothing
        """Release pools and connections."""

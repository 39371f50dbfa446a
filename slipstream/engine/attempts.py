"""One attempt path, shared by task nodes and map items: the effective task, the spec, the
cache gate, launching (or a launch failure as a result), retry decisions and stopping attempts.

Used by the loop (which owns the attempts in flight) and by the task and map node kinds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from slipstream.engine.cache import cache_key, cache_version, servable
from slipstream.engine.recording import Recorder
from slipstream.engine.retry import RetryDecision, decide
from slipstream.ir import (
    CacheSpec,
    ErrorDocument,
    LiteralMap,
    LiteralMapDocument,
    TaskTemplate,
    dumps,
    failures,
)
from slipstream.runners.base import AttemptHandle, AttemptResult, AttemptSpec, Runner, RunnerEvents
from slipstream.storage.records import AttemptRecord, CacheEntry, ExecutionRecord
from slipstream.types import AttemptPhase

if TYPE_CHECKING:
    from slipstream.config import Settings
    from slipstream.engine.state import NodeState
    from slipstream.storage.metadata import MetadataStore

log = logging.getLogger("slipstream.engine")

RESERVATION_LEASE_SECONDS = 30.0
CACHE_WAIT_SECONDS = 0.2  # how soon a node waiting for another writer of its cache looks again
# A body that ran longer than this has its success committed at once (not with the next write
# batch), so a killed engine re-runs only bodies that were still running or took milliseconds.
COMMIT_LONG_BODIES_SECONDS = 0.05


class Attempt:
    """One launched (or re-adopted) attempt the loop waits for (a plain slotted object: a
    100k-item map makes 100k of them)."""

    __slots__ = (
        "cache_key",
        "compact",
        "deadline",
        "handle",
        "id",
        "info",
        "keeps_rows",
        "label",
        "owner",
        "runner",
        "spec",
        "started",
    )

    def __init__(
        self,
        owner: str,  # the node whose kind gets the result (a map node for its items)
        spec: AttemptSpec,
        runner: Runner,
        label: str,  # how messages name it: "attempt 2", "item 7, attempt 1"
        started: float,
        *,
        compact: bool = False,  # rows only when out of process or failed (map items)
        cache_key: str = "",
        handle: AttemptHandle | None = None,
    ) -> None:
        self.owner = owner
        self.spec = spec
        self.runner = runner
        self.label = label
        self.started = started
        self.compact = compact
        self.cache_key = cache_key
        self.handle = handle
        self.deadline: float | None = None  # monotonic time it times out
        self.info: dict[str, Any] = {}
        self.id = spec.node_id  # the attempt's node id: the node's own, or "<map>/<index>"
        self.keeps_rows = not compact or not runner.capabilities.in_process

    def ran_long(self, result: AttemptResult) -> bool:
        """Its body ran long enough that its success is committed at once: by the runner's
        measure when it has one (in-process), else since it was launched."""
        seconds = result.seconds if result.seconds is not None else time.time() - self.started
        return seconds > COMMIT_LONG_BODIES_SECONDS

    def row(self, phase: AttemptPhase, error: ErrorDocument | None = None) -> AttemptRecord:
        return AttemptRecord(
            execution_id=self.spec.execution_id,
            node_id=self.spec.node_id,
            attempt=self.spec.attempt,
            phase=phase.value,
            runner=self.runner.name,
            handle=dict(self.handle.ref) if self.handle else {},
            output_prefix=self.spec.output_prefix,
            error=dumps(error) if error else None,
            info=dict(self.info),
            started_at=self.started,
            ended_at=None if phase == AttemptPhase.RUNNING else time.time(),
        )


def effective_task(state: NodeState) -> TaskTemplate:
    """The node's task with its overrides (resources, retries, timeout, cache) applied."""
    task = state.scope.template.tasks[state.node.target]
    overrides = state.node.overrides
    if overrides is None:
        return task
    changes: dict[str, Any] = {}
    for name in ("requests", "limits", "retries", "timeout_seconds"):
        value = getattr(overrides, name)
        if value is not None:
            changes[name] = value
    if overrides.cache is False:
        changes["cache"] = None
    elif overrides.cache and task.cache is None:
        changes["cache"] = CacheSpec()
    return msgspec.structs.replace(task, **changes)


def attempt_spec(
    execution: ExecutionRecord,
    settings: Settings,
    *,
    node_id: str,
    attempt: int,
    task: TaskTemplate,
    inputs: LiteralMap,
    values: dict[str, Any] | None,
    output_prefix: str,
    system_failures: int,
) -> AttemptSpec:
    """The spec of an attempt; an interruptible task's last system retry runs on demand."""
    return AttemptSpec(
        execution_id=execution.id,
        node_id=node_id,
        attempt=attempt,
        task=task,
        inputs=inputs,
        output_prefix=output_prefix,
        source_root=execution.options.get("source_root", ""),
        on_demand=task.interruptible and system_failures >= settings.system_retries,
        bundle_uri=execution.options.get("bundle_uri", ""),
        input_values=values,
    )


def adopted(
    execution: ExecutionRecord,
    row: AttemptRecord,
    owner: str,
    task: TaskTemplate,
    inputs: LiteralMap,
    runner: Runner,
    label: str,
    compact: bool,
) -> Attempt:
    """The attempt a dead engine's row describes, to be re-adopted."""
    spec = AttemptSpec(
        execution_id=execution.id,
        node_id=row.node_id,
        attempt=row.attempt,
        task=task,
        inputs=inputs,
        output_prefix=row.output_prefix,
        source_root=execution.options.get("source_root", ""),
    )
    handle = AttemptHandle(runner=row.runner, ref=row.handle)
    return Attempt(owner, spec, runner, label, row.started_at, compact=compact, handle=handle)


def readopt(attempt: Attempt, events: RunnerEvents) -> bool:
    """Ask the runner to watch an adopted attempt again; False if it cannot or it is gone."""
    handle, capabilities = attempt.handle, attempt.runner.capabilities
    assert handle is not None
    return (
        capabilities.adoptable
        and (bool(handle.ref) or capabilities.finds_by_labels)
        and attempt.runner.adopt(handle, attempt.spec, events)
    )


def launch(attempt: Attempt, events: RunnerEvents) -> AttemptResult | None:
    """Start the attempt; a runner that cannot start it gives a failed result instead."""
    try:
        attempt.handle = attempt.runner.launch(attempt.spec, events)
    except Exception as exc:
        attempt.handle = AttemptHandle(runner=attempt.runner.name)
        return AttemptResult(AttemptPhase.FAILED, error=failures.launch_failed(exc))
    return None


def retry_decision(
    error: ErrorDocument,
    task: TaskTemplate,
    settings: Settings,
    *,
    user_failures: int,
    system_failures: int,
) -> RetryDecision:
    """Which budget a failure spends and whether (and when) to try again."""
    return decide(
        error,
        user_failures=user_failures,
        system_failures=system_failures,
        user_retries=task.retries,
        system_retries=settings.system_retries,
        backoff=settings.retry_backoff,
        backoff_max=settings.retry_backoff_max,
    )


def retry_message(error: ErrorDocument, decision: RetryDecision) -> str:
    return f"{error.type}: {error.message} ({decision.budget} retry in {decision.delay:.2f}s)"


@dataclass(frozen=True)
class CacheCheck:
    """What the cache says before an attempt: a hit, wait for another writer, or go."""

    key: str
    outputs: LiteralMap | None = None  # a hit
    wait: bool = False  # another attempt writes this entry: look again shortly


class CacheGate:
    """Cache lookups, serialize reservations and new entries for one execution."""

    def __init__(self, store: MetadataStore, recorder: Recorder, blobs: Any) -> None:
        self.store = store
        self.recorder = recorder
        self.blobs = blobs
        self.reserved: dict[str, str] = {}  # attempt node id -> cache key it holds

    def _owner(self, node_id: str) -> str:
        return f"{self.recorder.execution.id}/{node_id}"

    def check(
        self, task: TaskTemplate, inputs: LiteralMap, node_id: str, key: str = ""
    ) -> CacheCheck:
        assert task.cache is not None
        key = key or cache_key(task, inputs)
        entry = self.store.cache_get(key, time.time())
        # a hit whose blobs are gone or damaged is evicted (with a warning) and is a miss
        hit = None if entry is None else servable(self.store, self.blobs, task.name, entry)
        if hit is not None:
            return CacheCheck(key, outputs=hit)
        if task.cache.serialize and node_id not in self.reserved:
            if not self.store.cache_reserve(
                key, self._owner(node_id), RESERVATION_LEASE_SECONDS, time.time()
            ):
                return CacheCheck(key, wait=True)
            self.reserved[node_id] = key
        return CacheCheck(key)

    def store_outputs(
        self, task: TaskTemplate | None, key: str, outputs: LiteralMap, node_id: str
    ) -> None:
        """A new entry for a successful attempt (or a finished @dynamic's children)."""
        if task is None or task.cache is None or not key:
            return
        now = time.time()
        ttl = task.cache.ttl_seconds
        self.recorder.cache_entry(
            CacheEntry(
                key=key,
                task_name=task.name,
                cache_version=cache_version(task),
                outputs=dumps(LiteralMapDocument(literals=outputs)),
                created_at=now,
                expires_at=None if ttl is None else now + ttl,
                execution_id=self.recorder.execution.id,
                node_id=node_id,
            )
        )

    def release(self, node_id: str) -> None:
        key = self.reserved.pop(node_id, None)
        if key is not None:
            self.recorder.flush()  # the entry is written before the others stop waiting
            self.store.cache_release(key, self._owner(node_id))

    def release_all(self) -> None:
        for node_id in list(self.reserved):
            self.release(node_id)

    def renew(self) -> None:
        for node_id, key in self.reserved.items():
            self.store.cache_reserve(
                key, self._owner(node_id), RESERVATION_LEASE_SECONDS, time.time()
            )


class Cancellations:
    """Stops attempts, each on a thread of its own (a runner may wait 5 s before a SIGKILL),
    all asked at once; `join()` waits for them. Not daemons: the process waits for them at
    exit, so no attempt outlives its engine (e.g. a second Ctrl-C while aborting)."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def cancel(self, runner: Runner, handle: AttemptHandle, label: str) -> None:
        def cancel() -> None:
            try:
                runner.cancel(handle)
            except Exception as exc:  # the others are being stopped all the same
                log.warning("could not cancel %s: %s", label, exc)

        thread = threading.Thread(target=cancel, name=f"slipstream-cancel-{label}")
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        threads, self.threads = self.threads, []
        for thread in threads:
            thread.join()

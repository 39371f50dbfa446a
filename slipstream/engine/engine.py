"""The Engine: starts, resumes and aborts executions, choosing a runner for each attempt."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slipstream.config import Settings
from slipstream.engine import recovery
from slipstream.engine.graph import NodeGraph
from slipstream.engine.ids import new_execution_id
from slipstream.engine.loop import ExecutionLoop
from slipstream.engine.nodes.registry import NodeKindRegistry, default_kinds
from slipstream.engine.observer import Observer
from slipstream.engine.state import Scope
from slipstream.errors import ExecutionError
from slipstream.ir import (
    Binding,
    ErrorDocument,
    LiteralMap,
    LiteralMapDocument,
    Node,
    TaskTemplate,
    WorkflowTemplate,
    decode,
    dumps,
)
from slipstream.runners.attempt import load_task
from slipstream.runners.base import AttemptHandle, Runner
from slipstream.runners.contract import LOG
from slipstream.sdk.plugins import PluginRegistry, default_plugins
from slipstream.storage.records import (
    AttemptRecord,
    EventRecord,
    ExecutionRecord,
    Lease,
    NodeRecord,
    WriteBatch,
)
from slipstream.types import ExecutionPhase

if TYPE_CHECKING:
    from slipstream.storage.blobs import BlobStore
    from slipstream.storage.metadata import MetadataStore


@dataclass
class ExecutionOutcome:
    execution_id: str
    phase: ExecutionPhase
    outputs: LiteralMap = field(default_factory=dict)
    output_values: dict[str, Any] | None = None
    error: ErrorDocument | None = None
    exception: BaseException | None = None  # the user's own exception (in-process runs)
    failed_node: str = ""


def task_as_workflow(task: TaskTemplate) -> WorkflowTemplate:
    """A one-node workflow running `task`, so a task runs like any workflow."""
    node_id = task.name.rsplit(".", 1)[-1].replace("_", "-")
    node = Node(
        id=node_id,
        kind="task",
        target=task.name,
        inputs={v.name: Binding(kind="input", name=v.name) for v in task.interface.inputs},
    )
    return WorkflowTemplate(
        name=task.name,
        interface=task.interface,
        nodes=(node,),
        outputs={
            v.name: Binding(kind="promise", node=node_id, name=v.name)
            for v in task.interface.outputs
        },
        tasks={task.name: task},
        source_file=task.source_file,
    )


class Engine:
    """One per process and settings; runs any number of executions, one thread each.

    The facade: `execute` (start and drive to the end on the calling thread), `resume`,
    `abort`, `attempt_logs`, `warm_up`, `close`; `runner`/`runner_for` pick where attempts run.
    """

    def __init__(
        self,
        settings: Settings,
        store: MetadataStore,
        blobs: BlobStore,
        *,
        plugins: PluginRegistry | None = None,
        observer: Observer | None = None,
        kinds: NodeKindRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.plugins = plugins or default_plugins
        self.observer = observer or Observer()
        self.kinds = kinds or default_kinds
        self.entities: dict[str, Any] = {}
        self._runners: dict[str, Runner] = {}

    # -- runners -------------------------------------------------------------------------------
    def runner_for(self, task: TaskTemplate) -> Runner:
        runner = self.runner(self.settings.runner)
        if runner.capabilities.in_process and (
            (task.timeout_seconds is not None and not runner.capabilities.stoppable)
            or self.plugins.needs_own_process(task)
        ):
            return self.runner("process")  # an attempt that must be stoppable: own process
        return runner

    def runner(self, kind: str) -> Runner:
        runner = self._runners.get(kind)
        if runner is not None:
            return runner
        if kind == "inprocess":
            from slipstream.runners.inprocess import InProcessRunner

            runner = InProcessRunner(
                self.blobs,
                self.resolve_task,
                max_workers=self.settings.max_parallelism,
                offload_threshold=self.settings.offload_threshold,
            )
        elif kind == "process":
            from slipstream.runners.process import ProcessRunner

            env = {
                "SLIPSTREAM_HOME": str(self.settings.home_path),
                "SLIPSTREAM_OFFLOAD_THRESHOLD": str(self.settings.offload_threshold),
            }
            runner = ProcessRunner(
                self.blobs,
                warm=self.settings.warm_processes,
                env=env,
                offload_threshold=self.settings.offload_threshold,
            )
        elif kind == "kubernetes":
            from slipstream.runners.kubernetes import KubernetesRunner

            runner = KubernetesRunner(self.settings, self.blobs, plugins=self.plugins)
        else:
            raise ExecutionError(
                f"unknown runner {kind!r} (expected inprocess, process or kubernetes)"
            )
        self._runners[kind] = runner
        return runner

    def warm_up(self, entities: dict[str, Any], source_root: str) -> None:
        """Let out-of-process attempts start with the user's modules already imported.

        A plugin may name modules of its own to import ahead (`warm_modules`, optional); then
        the runner starts its warm interpreter now (eager), not at the first attempt.
        """
        if not self.settings.warm_processes:
            return
        modules: set[str] = set()
        ahead: set[str] = set()
        for entity in entities.values():
            if entity.kind == "task":
                modules.add(entity.template.function.split(":")[0])
                ahead.update(self.plugins.warm_modules(entity.template.task_type))
        runner = self.runner(self.settings.runner)
        if runner.capabilities.in_process:
            runner = self.runner("process")  # where its stoppable attempts run
        if runner.capabilities.warmable:
            runner.warm_up(sorted(modules | ahead), [source_root], eager=bool(ahead))

    def remember(self, entities: dict[str, Any]) -> None:
        """Keep the Python objects of tasks (in-process attempts call them directly)."""
        self.entities.update(entities)

    def resolve_task(self, template: TaskTemplate, source_root: str) -> Any:
        entity = self.entities.get(template.name)
        if entity is not None and entity.template.function == template.function:
            return entity
        return load_task(template.function, source_root)

    def close(self) -> None:
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()

    # -- executions ------------------------------------------------------------------------------
    def prepare(
        self,
        template: WorkflowTemplate | TaskTemplate,
        inputs: LiteralMap,
        *,
        source_root: str = "",
        options: dict[str, Any] | None = None,
        execution_id: str | None = None,
    ) -> tuple[ExecutionRecord, list[NodeRecord]]:
        """The rows of a new QUEUED execution, for a caller that stores them (with what else
        it records in the same transaction) and then has `resume` run it."""
        record, scope = self._new(template, inputs, {}, source_root, options, execution_id)
        nodes = NodeGraph(record.id).add_scope(scope, "", {})
        record.phase, record.started_at = ExecutionPhase.QUEUED.value, None
        record.engine_pid = record.engine_heartbeat = None
        return record, nodes

    def _new(
        self,
        template: WorkflowTemplate | TaskTemplate,
        inputs: LiteralMap,
        input_values: dict[str, Any],
        source_root: str,
        options: dict[str, Any] | None,
        execution_id: str | None,
    ) -> tuple[ExecutionRecord, Scope]:
        kind = "task" if isinstance(template, TaskTemplate) else "workflow"
        workflow = task_as_workflow(template) if isinstance(template, TaskTemplate) else template
        options = dict(options or {})
        needs_bundle = self.runner(self.settings.runner).capabilities.needs_bundle
        if needs_bundle and source_root and "bundle_uri" not in options:
            from slipstream.runners.bundle import upload_bundle

            # Pods import the user's code from this bundle: a code change needs no new image.
            options["bundle_uri"] = upload_bundle(self.blobs, source_root)
        now = time.time()
        record = ExecutionRecord(
            id=execution_id or new_execution_id(),
            name=workflow.name,
            kind=kind,
            phase=ExecutionPhase.RUNNING.value,
            template=dumps(workflow),
            inputs=dumps(LiteralMapDocument(literals=inputs)),
            options={"source_root": source_root, "runner": self.settings.runner, **options},
            created_at=now,
            started_at=now,
            engine_pid=os.getpid(),
            engine_heartbeat=now,
        )
        return record, Scope(template=workflow, prefix="", inputs=inputs, input_values=input_values)

    def execute(
        self,
        template: WorkflowTemplate | TaskTemplate,
        inputs: LiteralMap,
        *,
        input_values: dict[str, Any] | None = None,
        source_root: str = "",
        entities: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        execution_id: str | None = None,
        lease: Lease | None = None,
    ) -> ExecutionOutcome:
        """Record a new execution and drive it to its end on this thread.

        lease: the execution's lease, stored with it; every write checks it (LeaseLostError
        and the drive stops once another server holds it)."""
        record, scope = self._new(
            template, inputs, input_values or {}, source_root, options, execution_id
        )
        if entities:
            self.remember(entities)
            self.warm_up(entities, source_root)
        loop = self._loop(record, scope, lease)
        nodes = loop.graph.add_scope(scope, "", {})
        loop.recorder.check_lease()
        self.store.create_execution(record, nodes, lease)
        self.store.write(
            WriteBatch(
                events=[
                    EventRecord(
                        execution_id=record.id,
                        phase=ExecutionPhase.RUNNING.value,
                        at=record.created_at,
                    )
                ],
                lease=lease,
            )
        )
        return self._drive(loop)

    def _loop(
        self, record: ExecutionRecord, scope: Scope, lease: Lease | None = None
    ) -> ExecutionLoop:
        return ExecutionLoop(
            record,
            scope,
            settings=self.settings,
            store=self.store,
            blobs=self.blobs,
            kinds=self.kinds,
            services=self,
            observer=self.observer,
            lease=lease,
        )

    def _drive(self, loop: ExecutionLoop) -> ExecutionOutcome:
        self.observer.execution_started(loop)
        loop.drive()
        record = loop.record
        failed = loop.failure[0].id if loop.failure else ""
        return ExecutionOutcome(
            execution_id=record.id,
            phase=ExecutionPhase(record.phase),
            outputs=loop.outputs or {},
            output_values=loop.output_values,
            error=decode(record.error, ErrorDocument) if record.error else None,
            exception=loop.exception,
            failed_node=failed,
        )

    def owner_alive(self, record: ExecutionRecord) -> bool:
        """True if another live engine process still drives this execution."""
        return recovery.owner_alive(record)

    def resume(
        self, execution_id: str, *, lease: Lease | None = None, source_root: str | None = None
    ) -> ExecutionOutcome:
        """Finish an execution whose engine died, re-running nothing that succeeded (or start
        a QUEUED one `prepare` made).

        lease: this engine's lease on it (a server that took it over): the lease, not the
        process id of the previous engine, says who drives it. source_root: where its code
        is on this machine, when not where the previous engine had it.
        """
        record = self.store.get_execution(execution_id)
        if record is None:
            raise ExecutionError(f"no execution {execution_id!r}")
        if ExecutionPhase(record.phase).terminal:
            raise ExecutionError(f"execution {execution_id!r} already ended: {record.phase}")
        if lease is None and self.owner_alive(record):
            raise ExecutionError(
                f"execution {execution_id!r} is still being run by process {record.engine_pid}"
            )
        workflow = decode(record.template, WorkflowTemplate)
        inputs = decode(record.inputs, LiteralMapDocument).literals
        if source_root is not None:
            record.options = {**record.options, "source_root": source_root}
        source_root = record.options.get("source_root", "")
        if source_root and source_root not in sys.path:
            sys.path.insert(0, source_root)
        record.engine_pid, record.engine_heartbeat = os.getpid(), time.time()
        queued = record.phase == ExecutionPhase.QUEUED.value
        record.phase = ExecutionPhase.RUNNING.value
        record.started_at = record.started_at or record.engine_heartbeat
        loop = self._loop(record, Scope(template=workflow, prefix="", inputs=inputs), lease)
        nodes = {r.node_id: r for r in self.store.get_nodes(execution_id)}
        recovery.take_up(loop, nodes, "RUNNING" if queued else "RESUMED")
        return self._drive(loop)

    def attempt_logs(self, attempt: AttemptRecord) -> str | None:
        """The logs an attempt kept: its process output, then Dask scheduler/worker logs."""
        if attempt.runner:
            runner = self.runner(attempt.runner)
            if runner.capabilities.has_logs:
                handle = AttemptHandle(runner=attempt.runner, ref=attempt.handle)
                return runner.logs(handle, attempt.output_prefix)
        parts = []
        for name in (LOG, "dask-scheduler.log", "dask-workers.log"):
            uri = f"{attempt.output_prefix}/{name}"
            if self.blobs.exists(uri):
                text = self.blobs.read_bytes(uri).decode(errors="replace")
                parts.append(f"==> {name} <==\n{text}")
        return "".join(parts) or None

    def abort(self, execution_id: str, wait_seconds: float = 15.0) -> ExecutionPhase:
        """Ask the engine running it to abort; abort it here if no engine is alive."""
        record = self.store.get_execution(execution_id)
        if record is None:
            raise ExecutionError(f"no execution {execution_id!r}")
        if ExecutionPhase(record.phase).terminal:
            return ExecutionPhase(record.phase)
        self.store.request_abort(execution_id)
        if self.owner_alive(record):
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                current = self.store.get_execution(execution_id)
                if current is not None and ExecutionPhase(current.phase).terminal:
                    return ExecutionPhase(current.phase)
                time.sleep(0.2)
            raise ExecutionError(
                f"execution {execution_id!r}: its engine (process {record.engine_pid}) did not "
                f"abort within {wait_seconds:g} s"
            )
        return recovery.abort_orphan(self.store, self, record)

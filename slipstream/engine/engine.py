"""The Engine: starts, resumes and aborts executions, choosing a runner for each attempt."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slipstream.config import Settings
from slipstream.engine.ids import new_execution_id
from slipstream.engine.observer import Observer
from slipstream.engine.run import ExecutionRun
from slipstream.engine.state import NodeState, Scope, resolve_inputs
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
    failures,
)
from slipstream.runners.attempt import load_task
from slipstream.runners.base import AttemptHandle, AttemptSpec, Runner
from slipstream.runners.contract import LOG
from slipstream.sdk.plugins import PluginRegistry, default_plugins
from slipstream.storage.records import AttemptRecord, EventRecord, ExecutionRecord, WriteBatch
from slipstream.types import AttemptPhase, ExecutionPhase, NodePhase

if TYPE_CHECKING:
    from slipstream.storage.blobs import BlobStore
    from slipstream.storage.metadata import MetadataStore

STALE_ENGINE_SECONDS = 10.0

NodeKindHandler = Callable[[ExecutionRun, NodeState, LiteralMap, "dict[str, Any] | None"], None]
NodeCompleter = Callable[[ExecutionRun, NodeState], None]
# The body a RUNNING node runs as its children (a sub-workflow, a dynamic's graph, the taken
# branch), or None if it has not chosen one yet; used to rebuild them on resume.
ChildTemplate = Callable[[ExecutionRun, NodeState], "WorkflowTemplate | None"]


def _sub_workflow(run: ExecutionRun, state: NodeState) -> WorkflowTemplate | None:
    return state.scope.template.workflows[state.node.target]


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
    """One per process and settings; runs any number of executions, one thread each."""

    def __init__(
        self,
        settings: Settings,
        store: MetadataStore,
        blobs: BlobStore,
        *,
        plugins: PluginRegistry | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.plugins = plugins or default_plugins
        self.observer = observer or Observer()
        self.entities: dict[str, Any] = {}
        self.node_kinds: dict[str, NodeKindHandler] = {}
        self.node_completers: dict[str, NodeCompleter] = {}
        self.child_templates: dict[str, ChildTemplate] = {"workflow": _sub_workflow}
        self._runners: dict[str, Runner] = {}
        from slipstream.engine.kinds import register_kinds

        register_kinds(self)

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

        A plugin may name modules of its own to import ahead (`warm_modules`, optional).
        """
        if not self.settings.warm_processes:
            return
        modules: set[str] = set()
        for entity in entities.values():
            if entity.kind == "task":
                modules.add(entity.template.function.split(":")[0])
                modules.update(self.plugins.warm_modules(entity.template.task_type))
        runner = self.runner(self.settings.runner)
        if runner.capabilities.in_process:
            runner = self.runner("process")  # where its stoppable attempts run
        if runner.capabilities.warmable:
            runner.warm_up(sorted(modules), [source_root])

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
    ) -> ExecutionOutcome:
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
        if entities:
            self.entities.update(entities)
            self.warm_up(entities, source_root)
        scope = Scope(template=workflow, prefix="", inputs=inputs, input_values=input_values or {})
        run = ExecutionRun(self, record, scope)
        nodes = run.add_scope(scope, "", {})
        self.store.create_execution(record, nodes)
        self.store.write(
            WriteBatch(
                events=[
                    EventRecord(execution_id=record.id, phase=ExecutionPhase.RUNNING.value, at=now)
                ]
            )
        )
        return self._drive(run)

    def _drive(self, run: ExecutionRun) -> ExecutionOutcome:
        self.observer.execution_started(run)
        run.run()
        record = run.record
        failed = run.failure[0].id if run.failure else ""
        return ExecutionOutcome(
            execution_id=record.id,
            phase=ExecutionPhase(record.phase),
            outputs=run.outputs or {},
            output_values=run.output_values,
            error=decode(record.error, ErrorDocument) if record.error else None,
            exception=run.exception,
            failed_node=failed,
        )

    def owner_alive(self, record: ExecutionRecord) -> bool:
        """True if another live engine process still drives this execution."""
        if record.engine_pid is None or record.engine_pid == os.getpid():
            return False
        fresh = (time.time() - (record.engine_heartbeat or 0)) < STALE_ENGINE_SECONDS
        try:
            os.kill(record.engine_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return fresh

    def resume(self, execution_id: str) -> ExecutionOutcome:
        """Finish an execution whose engine died, re-running nothing that succeeded."""
        record = self.store.get_execution(execution_id)
        if record is None:
            raise ExecutionError(f"no execution {execution_id!r}")
        if ExecutionPhase(record.phase).terminal:
            raise ExecutionError(f"execution {execution_id!r} already ended: {record.phase}")
        if self.owner_alive(record):
            raise ExecutionError(
                f"execution {execution_id!r} is still being run by process {record.engine_pid}"
            )
        workflow = decode(record.template, WorkflowTemplate)
        inputs = decode(record.inputs, LiteralMapDocument).literals
        source_root = record.options.get("source_root", "")
        if source_root and source_root not in sys.path:
            sys.path.insert(0, source_root)
        record.engine_pid, record.engine_heartbeat = os.getpid(), time.time()
        record.phase = ExecutionPhase.RUNNING.value
        scope = Scope(template=workflow, prefix="", inputs=inputs)
        run = ExecutionRun(self, record, scope)
        records = {r.node_id: r for r in self.store.get_nodes(execution_id)}
        run.add_scope(scope, "", records)
        self._reexpand(run, records)
        for state in list(run.states.values()):
            if state.phase != NodePhase.RUNNING or state.child_scope is not None:
                continue
            if state.node.kind == "workflow" or state.node.kind in self.node_kinds:
                run.ready.append(state.id)  # runs no attempt of its own: start it again
            else:
                self._readopt(run, state)
        run.batch.execution = record
        run.batch.events.append(
            EventRecord(execution_id=record.id, phase="RESUMED", at=time.time())
        )
        run.flush()
        return self._drive(run)

    def _reexpand(self, run: ExecutionRun, records: dict[str, Any]) -> None:
        """Rebuild the children of RUNNING nodes that had started them, from their records."""
        pending = list(run.states.values())
        while pending:
            state = pending.pop()
            if state.phase != NodePhase.RUNNING or state.child_scope is not None:
                continue
            resolver = self.child_templates.get(state.node.kind)
            template = resolver(run, state) if resolver is not None else None
            if template is None:
                continue
            inputs, values = resolve_inputs(state.node, state.scope, run.states)
            scope = Scope(
                template=template, prefix=state.id + "/", inputs=inputs, input_values=values or {}
            )
            state.child_scope = scope
            run.batch.nodes.extend(run.add_scope(scope, state.id, records))
            if not state.children:
                run._complete_parent(state)  # everything inside had finished
            else:
                pending.extend(run.states[scope.full_id(n.id)] for n in template.nodes)

    def _readopt(self, run: ExecutionRun, state: NodeState) -> None:
        attempts: list[AttemptRecord] = self.store.get_attempts(run.record.id, state.id)
        last = attempts[-1] if attempts else None
        state.task = run._effective_task(state)
        if last is None or last.phase != AttemptPhase.RUNNING.value:
            run.ready.append(state.id)
            return
        runner = self.runner(last.runner) if last.runner else None
        inputs, _ = resolve_inputs(state.node, state.scope, run.states)
        spec = AttemptSpec(
            execution_id=run.record.id,
            node_id=state.id,
            attempt=last.attempt,
            task=state.task,
            inputs=inputs,
            output_prefix=last.output_prefix,
            source_root=run.record.options.get("source_root", ""),
        )
        handle = AttemptHandle(runner=last.runner, ref=last.handle)
        state.attempt_started = last.started_at
        # A Kubernetes attempt is found by its labels even if its handle was never saved.
        if (
            runner is not None
            and runner.capabilities.adoptable
            and (bool(last.handle) or runner.capabilities.finds_by_labels)
            and runner.adopt(handle, spec, run)
        ):
            state.runner, state.handle = runner, handle
            run.running += 1
            if state.task.timeout_seconds is not None:
                elapsed = time.time() - last.started_at
                run.set_deadline(
                    state, time.monotonic() + max(0.0, state.task.timeout_seconds - elapsed)
                )
            return
        state.runner = runner
        run._failed_attempt(state, failures.attempt_lost(last.attempt), None)

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
        return self._abort_orphan(record)

    def _abort_orphan(self, record: ExecutionRecord) -> ExecutionPhase:
        now = time.time()
        batch = WriteBatch()
        for attempt in self.store.get_attempts(record.id):
            if attempt.phase == AttemptPhase.RUNNING.value and attempt.handle and attempt.runner:
                self.runner(attempt.runner).cancel(
                    AttemptHandle(runner=attempt.runner, ref=attempt.handle)
                )
                attempt.phase, attempt.ended_at = AttemptPhase.ABORTED.value, now
                batch.attempts.append(attempt)
        for node in self.store.get_nodes(record.id):
            if not NodePhase(node.phase).terminal:
                node.phase, node.ended_at = NodePhase.ABORTED.value, now
                batch.nodes.append(node)
                batch.events.append(
                    EventRecord(
                        execution_id=record.id,
                        node_id=node.node_id,
                        phase=NodePhase.ABORTED.value,
                        at=now,
                        message="aborted on request",
                    )
                )
        record.phase, record.ended_at = ExecutionPhase.ABORTED.value, now
        record.error = dumps(failures.aborted("aborted on request"))
        batch.execution = record
        batch.events.append(EventRecord(execution_id=record.id, phase=record.phase, at=now))
        self.store.write(batch)
        return ExecutionPhase.ABORTED

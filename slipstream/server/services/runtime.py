"""The engine as a service: drives executions on threads of the server; used by the services.

Built on the Engine facade only (execute, resume, abort, attempt_logs, close). An execution
outlives the request that launched it; on shutdown the server stops driving executions
without failing them, and a restarted server resumes each one (nothing that succeeded runs
again).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from slipstream.engine.engine import Engine
from slipstream.ir import LiteralMap, TaskTemplate, WorkflowTemplate
from slipstream.storage.records import ExecutionRecord, NodeRecord
from slipstream.types import ExecutionPhase

log = logging.getLogger("slipstream.server")

# How long a launch waits for the engine to record the new execution, so that the id the
# client gets back can be read at once.
RECORDED_WAIT_SECONDS = 10.0


def _modules(template: WorkflowTemplate | TaskTemplate) -> set[str]:
    if isinstance(template, TaskTemplate):
        return {template.function.partition(":")[0]}
    found: set[str] = set()
    pending = [template]
    while pending:
        current = pending.pop()
        found.update(t.function.partition(":")[0] for t in current.tasks.values())
        pending.extend(current.workflows.values())
    return found


def _forget_plans(modules: set[str]) -> None:
    """Launch plans are kept by name per process: those of dropped modules go with them, so
    the new version's plans can be created again."""
    from slipstream.sdk.launch_plan import LaunchPlan

    for name, plan in list(LaunchPlan.CACHE.items()):
        if getattr(plan.workflow.function, "__module__", "") in modules:
            del LaunchPlan.CACHE[name]


def import_from(source_root: str, template: WorkflowTemplate | TaskTemplate) -> None:
    """Make the template's modules import from source_root (this version's bundle).

    A module already imported from another bundle (another version) is dropped, with its
    package, so the next import reads this version. In-process attempts of two versions of
    one module running at the same time share whichever was imported last: the process and
    Kubernetes runners import each attempt afresh.
    """
    if not source_root:
        return
    root = os.path.realpath(source_root)
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)
    for name in _modules(template):
        top = name.split(".")[0]
        module = sys.modules.get(name) or sys.modules.get(top)
        path = os.path.realpath(getattr(module, "__file__", None) or "")
        if module is None or path.startswith(root + os.sep):
            continue
        purged = [m for m in sys.modules if m == top or m.startswith(top + ".")]
        for loaded in purged:
            del sys.modules[loaded]
        _forget_plans(set(purged))


class Runtime:
    """Owns the server's Engine and one thread per execution it drives."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stopping = False

    @property
    def store(self) -> Any:
        return self.engine.store

    @property
    def blobs(self) -> Any:
        return self.engine.blobs

    def driving(self, execution_id: str) -> bool:
        """True if a thread of this server drives the execution now."""
        with self._lock:
            thread = self._threads.get(execution_id)
        return thread is not None and thread.is_alive()

    def running_count(self) -> int:
        with self._lock:
            return sum(1 for t in self._threads.values() if t.is_alive())

    def _spawn(self, execution_id: str, body: Callable[[], Any]) -> None:
        if self._stopping:
            raise RuntimeError("the server is shutting down")

        def drive() -> None:
            try:
                body()
            except Exception:
                log.exception("execution %s: the engine failed", execution_id)
            finally:
                with self._lock:
                    self._threads.pop(execution_id, None)

        # A daemon: at shutdown the process leaves running executions to be resumed.
        thread = threading.Thread(target=drive, name=f"execution-{execution_id}", daemon=True)
        with self._lock:
            self._threads[execution_id] = thread
        thread.start()

    def _wait_recorded(self, execution_id: str) -> None:
        deadline = time.monotonic() + RECORDED_WAIT_SECONDS
        delay = 0.001
        while time.monotonic() < deadline:
            if self.store.get_execution(execution_id) is not None:
                return
            if not self.driving(execution_id):
                break  # the engine failed before recording it: get_execution says no more
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def start(
        self,
        execution_id: str,
        template: WorkflowTemplate | TaskTemplate,
        inputs: LiteralMap,
        *,
        source_root: str,
        options: dict[str, Any],
    ) -> None:
        """Start an execution on its own thread; return once the engine has recorded it."""
        with self._lock:
            import_from(source_root, template)
        self._spawn(
            execution_id,
            lambda: self.engine.execute(
                template,
                inputs,
                source_root=source_root,
                options=options,
                execution_id=execution_id,
            ),
        )
        self._wait_recorded(execution_id)

    def start_from_records(self, record: ExecutionRecord, nodes: list[NodeRecord]) -> None:
        """Store a prepared execution (a recovery: some nodes already SUCCEEDED) and drive it."""
        self.store.create_execution(record, nodes)
        self._prepare(record)
        self._spawn(record.id, lambda: self.engine.resume(record.id))

    def resume(self, execution_id: str) -> None:
        """Drive an execution whose engine died (a restarted server)."""
        record = self.store.get_execution(execution_id)
        if record is not None:
            self._prepare(record)
        self._spawn(execution_id, lambda: self.engine.resume(execution_id))

    def _prepare(self, record: ExecutionRecord) -> None:
        from slipstream.ir import decode

        with self._lock:
            import_from(
                str(record.options.get("source_root", "")),
                decode(record.template, WorkflowTemplate),
            )

    def resume_unfinished(self, execution_ids: list[str]) -> int:
        """Resume every unfinished execution no live engine owns; return how many."""
        resumed = 0
        for execution_id in execution_ids:
            record = self.store.get_execution(execution_id)
            if record is None or ExecutionPhase(record.phase).terminal:
                continue
            if self.driving(execution_id) or self.engine.owner_alive(record):
                continue
            log.info("resuming execution %s", execution_id)
            self.resume(execution_id)
            resumed += 1
        return resumed

    def abort(self, execution_id: str, wait_seconds: float = 5.0) -> ExecutionPhase:
        """Abort an execution: ask this server's thread, or let the engine abort it.

        Returns the phase after at most wait_seconds: still RUNNING when an attempt that
        cannot be stopped (in-process) must end first; the abort stays requested."""
        if not self.driving(execution_id):
            return self.engine.abort(execution_id, wait_seconds=wait_seconds)
        self.store.request_abort(execution_id)
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            record = self.store.get_execution(execution_id)
            if record is not None and ExecutionPhase(record.phase).terminal:
                return ExecutionPhase(record.phase)
            time.sleep(0.05)
        record = self.store.get_execution(execution_id)
        return ExecutionPhase(record.phase) if record is not None else ExecutionPhase.ABORTED

    def stop(self) -> int:
        """Stop taking work; running executions are left RUNNING, to be resumed. How many."""
        self._stopping = True
        return self.running_count()

    def close(self) -> None:
        self.engine.close()

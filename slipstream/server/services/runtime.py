"""The engine as a service: drives executions on threads of the server; used by the services.

Built on the Engine facade only (prepare, execute, resume, abort, attempt_logs, close). An
execution outlives the request that launched it and the server driving it: each is driven
under a lease (services/leases.py); when its server stops or dies, another server (or the
same one restarted) takes it up, and nothing that succeeded runs again.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from slipstream.engine.engine import Engine, ExecutionOutcome
from slipstream.errors import LeaseLostError
from slipstream.ir import LiteralMap, TaskTemplate, WorkflowTemplate, decode
from slipstream.server.services.leases import LeaseKeeper
from slipstream.storage.metadata.leases import LeaseStore
from slipstream.storage.records import ExecutionRecord, Lease, NodeRecord
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
    """Owns the server's Engine and one thread per execution it drives, each under a lease.

    Executions launched here are driven here while there is room (`max_executions`); beyond
    that they are stored QUEUED with a free lease, for whichever server has room. The lease
    keeper takes up executions whose server died (their lease expired) and re-adopts their
    running attempts through `Engine.resume`.
    """

    def __init__(
        self,
        engine: Engine,
        leases: LeaseStore,
        *,
        max_executions: int = 256,
        sole: bool = False,
        unpack: Callable[[str], str] | None = None,
    ) -> None:
        """sole: the only server of its database (SQLite); unpack(bundle_uri) -> source root
        on this machine, for executions another server started."""
        self.engine = engine
        self.leases = leases
        self.max_executions = max_executions
        self.unpack = unpack
        self.keeper = LeaseKeeper(
            leases,
            engine.settings.lease_seconds,
            room=lambda: self.max_executions - self.running_count(),
            take=self.take_over,
            sole=sole,
        )
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

    def _spawn(self, lease: Lease, body: Callable[[], ExecutionOutcome]) -> None:
        execution_id = lease.execution_id
        if self._stopping:
            raise RuntimeError("the server is shutting down")

        def drive() -> None:
            ended = False
            try:
                ended = body().phase.terminal
            except LeaseLostError as exc:
                log.warning("%s", exc)
            except Exception:
                log.exception("execution %s: the engine failed", execution_id)
            finally:
                with self._lock:  # a newer thread may drive it already (a new lease)
                    if self._threads.get(execution_id) is threading.current_thread():
                        del self._threads[execution_id]
                self.keeper.drop(lease, ended=ended)

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

    def has_room(self) -> bool:
        return not self._stopping and self.running_count() < self.max_executions

    def start(
        self,
        execution_id: str,
        template: WorkflowTemplate | TaskTemplate,
        inputs: LiteralMap,
        *,
        source_root: str,
        options: dict[str, Any],
    ) -> None:
        """Start an execution on its own thread; return once the engine has recorded it.

        Without room here it is stored QUEUED, with a free lease another server claims."""
        with self._lock:
            import_from(source_root, template)
        if not self.has_room():
            record, nodes = self.prepare(
                template,
                inputs,
                source_root=source_root,
                options=options,
                execution_id=execution_id,
            )
            self.store.create_execution(record, nodes, self.lease_for(execution_id))
            return
        lease = self.keeper.new(execution_id)
        self._spawn(
            lease,
            lambda: self.engine.execute(
                template,
                inputs,
                source_root=source_root,
                options=options,
                execution_id=execution_id,
                lease=lease,
            ),
        )
        self._wait_recorded(execution_id)
        with self._lock:  # renewed from now on, unless it ended already (then dropped)
            if execution_id in self._threads:
                self.keeper.hold(lease)

    def prepare(
        self,
        template: WorkflowTemplate | TaskTemplate,
        inputs: LiteralMap,
        *,
        source_root: str,
        options: dict[str, Any],
        execution_id: str,
    ) -> tuple[ExecutionRecord, list[NodeRecord]]:
        """The rows of a new QUEUED execution (stored by the caller, then `drive_stored`)."""
        with self._lock:
            import_from(source_root, template)
        return self.engine.prepare(
            template, inputs, source_root=source_root, options=options, execution_id=execution_id
        )

    def lease_for(self, execution_id: str) -> Lease:
        """This server's lease on a new execution when it has room, else a free one."""
        if self.has_room():
            return self.keeper.new(execution_id)
        return Lease(execution_id=execution_id)

    def drive_stored(self, lease: Lease) -> None:
        """Drive an execution just stored with `lease`, if the lease is this server's."""
        if lease.owner == self.keeper.owner:
            self.keeper.hold(lease)
            self.resume(lease)

    def start_from_records(self, record: ExecutionRecord, nodes: list[NodeRecord]) -> None:
        """Store a prepared execution (a recovery: some nodes already SUCCEEDED) and drive it."""
        lease = self.lease_for(record.id)
        self.store.create_execution(record, nodes, lease)
        self.drive_stored(lease)

    def take_over(self, lease: Lease) -> None:
        """Drive an execution whose lease this server just claimed (the keeper holds it)."""
        log.info("taking up execution %s", lease.execution_id)
        self.resume(lease)

    def resume(self, lease: Lease) -> None:
        """Drive an execution stored before (QUEUED, or left by a server that died)."""
        execution_id = lease.execution_id
        record = self.store.get_execution(execution_id)
        root = None
        if record is not None:
            bundle = str(record.options.get("bundle_uri", ""))
            root = self.unpack(bundle) if bundle and self.unpack is not None else None
            with self._lock:
                import_from(
                    root if root is not None else str(record.options.get("source_root", "")),
                    decode(record.template, WorkflowTemplate),
                )
        self._spawn(lease, lambda: self.engine.resume(execution_id, lease=lease, source_root=root))

    def abort(self, execution_id: str, wait_seconds: float = 5.0) -> ExecutionPhase:
        """Abort an execution: ask the server driving it (through the store), or let the
        engine abort it when no server leases it (one run outside the server).

        Returns the phase after at most wait_seconds: still RUNNING when an attempt that
        cannot be stopped (in-process) must end first; the abort stays requested."""
        if not self.driving(execution_id) and self.leases.get(execution_id) is None:
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

    def begin(self) -> int:
        """Take up what is free now (executions a previous server left; how many), then
        keep renewing and claiming leases."""
        return self.keeper.start()

    def stop(self) -> int:
        """Stop taking work and hand this server's leases over: other servers take up its
        executions; left alone, they are resumed at the next start. How many were running."""
        self._stopping = True
        self.keeper.stop(hand_over=True)
        return self.running_count()

    def close(self) -> None:
        self.keeper.stop()
        self.engine.close()
        self.leases.close()

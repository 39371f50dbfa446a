"""A test kubelet: runs each Pod's first container as a local process and reports its status.

Started by the harness (cluster.py) in the API server's event loop. It binds new Pods to its
node, runs `command + args` with the container's environment over the test's own, records the
output as the Pod log, follows the restart policy, stops the process when the Pod is deleted,
and can be told to fail a Pod the way clusters do (preemption, eviction, OOM, image pulls).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import pathlib
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import kmock

from .apiserver import Apiserver
from .changes import Change
from .failures import Failure, disruption_status, pod_conditions
from .objects import now_iso
from .podenv import ConfigError, container_env, local_argv
from .services import ServiceResolver


@dataclass
class PodRun:
    """The kubelet's view of one Pod (by uid)."""

    uid: str
    namespace: str
    name: str
    task: asyncio.Task[None] | None = None
    process: asyncio.subprocess.Process | None = None
    failure: Failure | None = None
    stopping: bool = False
    pids: list[int] = field(default_factory=list)


class Kubelet:
    """Runs Pods of one Apiserver; see the module docstring."""

    def __init__(
        self,
        apiserver: Apiserver,
        *,
        node_name: str = "kmock-node",
        cwd: pathlib.Path | None = None,
        extra_env: dict[str, str] | None = None,
        max_grace: float = 2.0,
        resolver: ServiceResolver | None = None,
    ) -> None:
        self.apiserver = apiserver
        self.store = apiserver.store
        self.pods = apiserver.table.find("pods")
        self.node_name = node_name
        self.cwd = cwd or pathlib.Path.cwd()
        self.extra_env = dict(extra_env or {})
        self.max_grace = max_grace
        self.resolver = resolver
        self.runs: dict[str, PodRun] = {}
        self.outputs: dict[tuple[str, str], bytearray] = {}  # kept after the Pod is gone
        self.started_pids: list[int] = []
        self._image_failures: list[tuple[str, str, float | None]] = []
        self._unschedulable: list[tuple[str, str]] = []
        self._pending_failures: dict[tuple[str, str], Failure] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- control -------------------------------------------------------------------------

    async def start(self) -> None:
        self.store.graceful_pods = True
        ready = asyncio.Event()
        self._watcher = asyncio.create_task(self._watch(ready), name="kubelet-watch")
        await ready.wait()

    async def stop(self) -> None:
        """Kill every process and wait for every Pod task; leaves nothing running."""
        self.store.graceful_pods = False
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for run in list(self.runs.values()):
            run.stopping = True
            self._kill(run, signal.SIGKILL)
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            # Killed processes end their tasks, which reap them; cancel only what hangs.
            await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.apiserver.logs.finish_all()

    def fail_image_pulls(
        self, pattern: str, message: str = "", seconds: float | None = None
    ) -> None:
        """Pods whose image matches this glob (e.g. "*:missing") cannot pull it: forever, with
        "not found", or for `seconds` with `message` (e.g. a registry's 429), then they can."""
        until = None if seconds is None else time.monotonic() + seconds
        self._image_failures.append((pattern, message, until))

    def hold_scheduling(self, pattern: str, message: str) -> None:
        """Pods whose name matches this glob stay unscheduled (PodScheduled=False,
        Unschedulable, with the scheduler's `message`) until release_scheduling()."""
        self._unschedulable.append((pattern, message))

    def release_scheduling(self) -> None:
        self._unschedulable.clear()

    def _held(self, name: str) -> str | None:
        for pattern, message in self._unschedulable:
            if fnmatch.fnmatchcase(name, pattern):
                return message
        return None

    def _pull_failure(self, image: str) -> tuple[str, float | None] | None:
        for pattern, message, until in self._image_failures:
            if fnmatch.fnmatchcase(image, pattern):
                if until is not None and time.monotonic() >= until:
                    continue
                return message, until
        return None

    async def inject(self, namespace: str, name: str, failure: str | Failure) -> None:
        """Fail the Pod now; a Pod not started yet fails as soon as it is."""
        fail = Failure.of(failure)
        pod = self.store.get(self.pods, namespace, name)
        run = self.runs.get(pod["metadata"]["uid"]) if pod else None
        if run is not None and run.process is not None:
            run.failure = fail
            self._kill(run, signal.SIGKILL)
        elif pod is not None and fail.pod_level:
            if run is not None:
                run.stopping = True  # e.g. backing off an image pull: its task must not write
            await self._end_pod(pod["metadata"]["uid"], namespace, name, fail, None)
        else:
            self._pending_failures[(namespace, name)] = fail

    # ---- watching ------------------------------------------------------------------------

    async def _watch(self, ready: asyncio.Event) -> None:
        changes = self.store.watch(self.pods)
        ready.set()
        async for change in changes:
            self._on_change(change)

    def _on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        uid = meta["uid"]
        run = self.runs.get(uid)
        if change.type == "DELETED":
            if run is not None:
                run.stopping = True
                self._kill(run, signal.SIGKILL)
                if run.process is None and run.task is not None:
                    run.task.cancel()  # still preparing (e.g. waiting for a scheduler)
            return
        if meta.get("deletionTimestamp"):
            if run is not None and not run.stopping:
                grace = min(float(meta.get("deletionGracePeriodSeconds") or 0), self.max_grace)
                self._spawn(self._terminate(run, grace))
            elif run is None:
                self._spawn(self._finalize(meta["namespace"], meta["name"], uid))
            return
        status = change.obj.get("status", {})
        node = change.obj.get("spec", {}).get("nodeName")
        fresh = status.get("phase") == "Pending" and not status.get("containerStatuses")
        if run is None and fresh and node in (None, self.node_name):
            run = self.runs[uid] = PodRun(uid, meta["namespace"], meta["name"])
            run.task = self._spawn(self._run_pod(run, change.obj))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- one Pod -------------------------------------------------------------------------

    async def _status(self, run: PodRun, status: dict[str, Any]) -> bool:
        try:
            await self.store.patch(
                self.pods,
                run.namespace,
                run.name,
                {"metadata": {"uid": run.uid}, "status": status},
                subresource="status",
                system=True,
            )
        except kmock.KubernetesError as e:
            if e.status in (404, 409):  # the Pod is gone (or is another Pod by now)
                return False
            raise
        return True

    def _lookup(self, namespace: str) -> Any:
        def lookup(kind: str, name: str) -> dict[str, Any] | None:
            return self.store.get(self.apiserver.table.find(kind), namespace, name)

        return lookup

    async def _run_pod(self, run: PodRun, pod: dict[str, Any]) -> None:
        held, reported = self._held(run.name), False
        while held is not None and not run.stopping:
            if not reported:
                condition = {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": held,
                    "lastTransitionTime": now_iso(),
                }
                if not await self._status(run, {"conditions": [condition]}):
                    return
                reported = True
            await asyncio.sleep(0.1)
            held = self._held(run.name)
        if run.stopping:
            return
        try:
            await self.store.patch(
                self.pods,
                run.namespace,
                run.name,
                {"metadata": {"uid": run.uid}, "spec": {"nodeName": self.node_name}},
                system=True,
            )
        except kmock.KubernetesError:
            return
        container = pod["spec"]["containers"][0]
        base = {"name": container["name"], "image": container.get("image", ""), "restartCount": 0}
        scheduled = pod_conditions(False, "ContainersNotReady")
        creating = {"waiting": {"reason": "ContainerCreating"}}
        if not await self._status(
            run,
            {
                "startTime": now_iso(),
                "conditions": scheduled,
                "containerStatuses": [
                    {**base, "ready": False, "started": False, "state": creating}
                ],
            },
        ):
            return
        image = str(container.get("image", ""))
        if not await self._fail_pull(run, base, scheduled, image):
            return
        try:
            declared = container_env(pod, container, self._lookup(run.namespace))
            argv = local_argv(container, declared)
        except ConfigError as e:
            waiting = {"reason": "CreateContainerConfigError", "message": str(e)}
            await self._status(
                run,
                {
                    "conditions": scheduled,
                    "containerStatuses": [
                        {**base, "ready": False, "started": False, "state": {"waiting": waiting}}
                    ],
                },
            )
            return
        if self.resolver is not None:  # in-cluster service names -> local addresses
            declared = {k: await self.resolver.rewrite(v) for k, v in declared.items()}
            argv = [await self.resolver.rewrite(a) for a in argv]
        env = {**os.environ, **self.extra_env, **declared}
        workdir = pathlib.Path(container.get("workingDir") or self.cwd)
        policy = pod["spec"].get("restartPolicy", "Always")
        restarts = 0
        while not run.stopping:
            exit_code, reason, message, started = await self._run_container(
                run, argv, env, workdir if workdir.is_dir() else self.cwd, base, restarts
            )
            if run.stopping:
                return
            failure = run.failure
            if failure is not None and failure.pod_level:
                await self._end_pod(run.uid, run.namespace, run.name, failure, exit_code)
                return
            terminated = {
                "exitCode": exit_code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": now_iso(),
            }
            if message:
                terminated["message"] = message
            if policy == "Always" or (policy == "OnFailure" and exit_code != 0):
                restarts += 1
                run.failure = None
                waiting = {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off restarting failed container {base['name']}",
                }
                await self._status(
                    run,
                    {
                        "containerStatuses": [
                            {
                                **base,
                                "restartCount": restarts,
                                "ready": False,
                                "started": False,
                                "state": {"waiting": waiting},
                                "lastState": {"terminated": terminated},
                            }
                        ]
                    },
                )
                await asyncio.sleep(min(0.1 * 2**restarts, 1.0))
                continue
            phase = "Succeeded" if exit_code == 0 else "Failed"
            await self._status(
                run,
                {
                    "phase": phase,
                    "conditions": pod_conditions(False, "PodCompleted"),
                    "containerStatuses": [
                        {
                            **base,
                            "restartCount": restarts,
                            "ready": False,
                            "started": False,
                            "state": {"terminated": terminated},
                        }
                    ],
                },
            )
            return

    async def _fail_pull(
        self, run: PodRun, base: dict[str, Any], conditions: list[Any], image: str
    ) -> bool:
        """Back off pulling while a rule says so; True when the image is there after all."""
        while (failure := self._pull_failure(image)) is not None:
            message, until = failure
            reasons = [
                (
                    "ErrImagePull",
                    message or f'failed to pull and unpack image "{image}": not found',
                ),
                ("ImagePullBackOff", f'Back-off pulling image "{image}"'),
            ]
            for reason, text in reasons:
                if run.stopping:
                    return False
                waiting = {"reason": reason, "message": text}
                if not await self._status(
                    run,
                    {
                        "conditions": conditions,
                        "containerStatuses": [
                            {
                                **base,
                                "ready": False,
                                "started": False,
                                "state": {"waiting": waiting},
                            }
                        ],
                    },
                ):
                    return False
                await asyncio.sleep(0.2)
            if until is None:  # never: the Pod stays Pending in back-off
                return False
        return not run.stopping

    async def _run_container(
        self,
        run: PodRun,
        argv: list[str],
        env: dict[str, str],
        cwd: pathlib.Path,
        base: dict[str, Any],
        restarts: int,
    ) -> tuple[int, str, str, str]:
        log = self.apiserver.logs.start(run.uid)
        output = self.outputs.setdefault((run.namespace, run.name), bytearray())
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as e:
            await self.apiserver.logs.finish(log)
            message = f"failed to start container process {argv[0]!r}: {e}"
            return 128, "StartError", message, now_iso()
        started = now_iso()
        run.process = process
        run.pids.append(process.pid)
        self.started_pids.append(process.pid)
        pending = self._pending_failures.pop((run.namespace, run.name), None)
        await self._status(
            run,
            {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "hostIP": "127.0.0.1",
                "conditions": pod_conditions(True),
                "containerStatuses": [
                    {
                        **base,
                        "restartCount": restarts,
                        "ready": True,
                        "started": True,
                        "state": {"running": {"startedAt": started}},
                    }
                ],
            },
        )
        if pending is not None:
            run.failure = pending
            self._kill(run, signal.SIGKILL)
        assert process.stdout is not None
        try:
            while chunk := await process.stdout.read(65536):
                output.extend(chunk)
                await self.apiserver.logs.append(log, chunk)
            code = await process.wait()
        finally:
            run.process = None
            await self.apiserver.logs.finish(log)
        if run.failure is not None and run.failure.kind == "oomkilled":
            return 137, "OOMKilled", run.failure.message, started
        if code < 0:  # killed by a signal, as a container runtime reports it
            return 128 - code, "Error", "", started
        return code, "Completed" if code == 0 else "Error", "", started

    async def _end_pod(
        self, uid: str, namespace: str, name: str, failure: Failure, exit_code: int | None
    ) -> None:
        pod = self.store.get(self.pods, namespace, name)
        status = disruption_status(failure, self.node_name, pod, exit_code)
        await self._status(PodRun(uid, namespace, name), status)

    # ---- stopping ------------------------------------------------------------------------

    def _kill(self, run: PodRun, sig: signal.Signals) -> None:
        process = run.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    async def _terminate(self, run: PodRun, grace: float) -> None:
        """Graceful deletion: SIGTERM, SIGKILL after the grace period, then remove the Pod."""
        run.stopping = True
        if run.task is not None and not run.task.done():
            if run.process is None:
                run.task.cancel()  # nothing runs yet: stop preparing
            else:
                self._kill(run, signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(run.task), grace)
                except TimeoutError:
                    self._kill(run, signal.SIGKILL)
            await asyncio.gather(run.task, return_exceptions=True)
        await self._finalize(run.namespace, run.name, run.uid)

    async def _finalize(self, namespace: str, name: str, uid: str) -> None:
        with contextlib.suppress(kmock.KubernetesError):
            await self.store.delete(self.pods, namespace, name, grace=0, preconditions={"uid": uid})
        self.runs.pop(uid, None)

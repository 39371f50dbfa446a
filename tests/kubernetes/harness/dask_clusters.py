"""Real Dask clusters standing in for the scheduler and workers of a DaskCluster.

Used by the fake operator (one per DaskJob) and by the real operator's companion (one per
DaskCluster), so a job runner Pod run by the test kubelet reaches a real scheduler. As in a
real cluster, the scheduler and each worker are their own `dask scheduler` / `dask worker`
processes, started from an empty folder with no PYTHONPATH: they run "the image" (this
virtualenv), never the test's code, which only reaches them through the code bundle.
Workers can be added and removed one by one (`add_worker`, `remove_worker`), each under a
name, as the operator's one-worker Deployments are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field

DASK = pathlib.Path(sys.executable).parent / "dask"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class StartedCluster:
    """A record of one cluster start, kept for assertions after it is closed."""

    key: str
    n_workers: int
    address: str
    scheduler_pid: int


@dataclass
class ProcessCluster:
    """One scheduler process and its worker processes, by worker name."""

    folder: pathlib.Path
    scheduler: asyncio.subprocess.Process
    address: str
    dashboard: str
    workers: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a Dask process: the test's, without the paths to the test's code."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["DASK_DISTRIBUTED__LOGGING__DISTRIBUTED"] = "warning"
    env.update(extra or {})
    return env


class LocalDaskClusters:
    """Starts and stops scheduler and worker processes, clusters keyed by an object uid."""

    def __init__(self, threads_per_worker: int = 1, env: dict[str, str] | None = None) -> None:
        self.threads_per_worker = threads_per_worker
        self.env = dict(env or {})
        self.started: list[StartedCluster] = []
        self.pids: list[int] = []  # every process started, for the leak check
        self._clusters: dict[str, ProcessCluster] = {}
        self._starting: dict[str, asyncio.Future[str]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def open_keys(self) -> list[str]:
        return list(self._clusters)

    def workers(self, key: str) -> list[str]:
        """The names of the worker processes `key`'s cluster runs now."""
        cluster = self._clusters.get(key)
        return sorted(cluster.workers) if cluster is not None else []

    async def start(self, key: str, n_workers: int) -> str:
        """Start once per key (a second call returns the same address); returns its address."""
        if key in self._starting:
            return await asyncio.shield(self._starting[key])
        if not isinstance(n_workers, int) or n_workers < 0:
            raise ValueError(f"worker count {n_workers!r}: expected a non-negative integer")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._starting[key] = future
        try:
            cluster = await self._start_scheduler()
            self._clusters[key] = cluster
            await asyncio.gather(*(self.add_worker(key, f"worker-{i}") for i in range(n_workers)))
        except BaseException as e:
            self._starting.pop(key, None)
            await self.close(key)
            future.set_exception(e)
            future.exception()  # retrieved: the caller gets it raised below
            raise
        self.started.append(StartedCluster(key, n_workers, cluster.address, cluster.scheduler.pid))
        future.set_result(cluster.address)
        if key not in self._starting:  # closed while starting
            await self.close(key)
        return cluster.address

    async def _start_scheduler(self) -> ProcessCluster:
        folder = pathlib.Path(tempfile.mkdtemp(prefix="dask-cluster-"))
        info = folder / "scheduler.json"
        dashboard = _free_port()
        process = await asyncio.create_subprocess_exec(
            str(DASK),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            f"127.0.0.1:{dashboard}",
            "--scheduler-file",
            str(info),
            cwd=folder,
            env=process_env(self.env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pids.append(process.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError, ValueError):
                address = str(json.loads(info.read_text())["address"])
                return ProcessCluster(folder, process, address, f"127.0.0.1:{dashboard}")
            if process.returncode is not None or time.monotonic() > deadline:
                await _stop(process)
                shutil.rmtree(folder, ignore_errors=True)
                raise RuntimeError(f"the dask scheduler in {folder} did not start")
            await asyncio.sleep(0.05)

    async def add_worker(
        self, key: str, name: str, resources: str = "", nthreads: int | None = None
    ) -> None:
        """Start one worker process named `name` for `key`'s cluster (no-op if it runs)."""
        cluster = self._clusters[key]
        if name in cluster.workers:
            return
        command = [
            str(DASK),
            "worker",
            cluster.address,
            "--name",
            name,
            "--nthreads",
            str(nthreads or self.threads_per_worker),
            "--no-dashboard",
            "--no-nanny",
            "--host",
            "127.0.0.1",
            "--local-directory",
            str(cluster.folder / "workers"),
        ]
        if resources:
            command += ["--resources", resources]
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cluster.folder,
            env=process_env(self.env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pids.append(process.pid)
        if self._clusters.get(key) is not cluster or name in cluster.workers:
            await _stop(process)  # the cluster closed (or got this worker) meanwhile
            return
        cluster.workers[name] = process

    async def remove_worker(self, key: str, name: str) -> None:
        cluster = self._clusters.get(key)
        process = cluster.workers.pop(name, None) if cluster is not None else None
        if process is not None:
            await _stop(process)

    def dashboard(self, key: str) -> str | None:
        """host:port of the dashboard of `key`'s cluster."""
        cluster = self._clusters.get(key)
        return cluster.dashboard if cluster is not None else None

    async def close(self, key: str) -> None:
        """Close the cluster of `key` (also one still starting, once it is up)."""
        self._starting.pop(key, None)
        cluster = self._clusters.pop(key, None)
        if cluster is None:
            return
        # Shielded: a caller cancelled meanwhile (an operator stopping) must not leak processes.
        task = asyncio.create_task(_shut_down(cluster))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        await asyncio.shield(task)

    async def close_all(self) -> None:
        starting = [f for f in self._starting.values() if not f.done()]
        self._starting.clear()
        await asyncio.gather(*starting, return_exceptions=True)
        for key in list(self._clusters):
            await self.close(key)
        await asyncio.gather(*list(self._closing), return_exceptions=True)


async def _shut_down(cluster: ProcessCluster) -> None:
    await asyncio.gather(*(_stop(p) for p in cluster.workers.values()))
    await _stop(cluster.scheduler)
    shutil.rmtree(cluster.folder, ignore_errors=True)


async def _stop(process: asyncio.subprocess.Process, grace: float = 3.0) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

"""Dask tasks the end-to-end tests run through the engine and the CLI; a finder of leftovers.

Tasks live at module level: every Dask attempt runs in a process of its own, which imports its
task by module and name (and the cluster's workers import the mapped functions the same way).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dask
import psutil
from distributed import Client, get_worker

from slipstream import Cache, task, workflow
from slipstream.dask import Dask, WorkerGroup

ONE_WORKER = Dask(workers=WorkerGroup(number_of_workers=1))
TWO_WORKERS = Dask(workers=WorkerGroup(number_of_workers=2))
HANDSHAKE_SECONDS = 120.0  # how long a task waits for its partner to be running too
HOLD_TIMEOUT = 10.0  # seconds: the timed-out task's budget, well past a cluster's start-up


class MappedError(ValueError):
    """Raised inside a mapped function, on a worker of the task's cluster."""


@dataclass
class ClusterFacts:
    """What a task saw of the cluster it ran on."""

    scheduler: str  # the address plain Client() connected to
    workers: list[str]  # every worker's name, as the scheduler lists them
    computed_on: list[str]  # workers plain dask.compute ran on (no Client made first)
    mapped: list[int]  # client.gather(client.map(...)) of a small range
    attempt_pid: int
    worker_pids: list[int]
    warmed: bool  # forked from a warm interpreter that imported the cluster's modules ahead
    overlapped: bool = False  # the partner task was running at the same time


def worker_name(_: int) -> str:
    return str(get_worker().name)


def inc(x: int) -> int:
    return x + 1


def _facts() -> ClusterFacts:
    # dask.compute first, before any Client() exists in this process: plain dask finds the
    # task's cluster by itself (worker_name fails anywhere but on a worker).
    computed = dask.compute(*[dask.delayed(worker_name)(i) for i in range(4)])
    client = Client()
    info = client.scheduler_info(n_workers=-1)
    pids = client.run(os.getpid)
    return ClusterFacts(
        scheduler=str(info["address"]),
        workers=sorted(w["name"] for w in info["workers"].values()),
        computed_on=sorted(set(computed)),
        mapped=client.gather(client.map(inc, range(10))),
        attempt_pid=os.getpid(),
        worker_pids=sorted(pids.values()),
        warmed="slipstream.dask.warm" in sys.modules,
    )


@task(task_config=TWO_WORKERS, cache=Cache(version="1"))
def cluster_facts(label: str) -> ClusterFacts:
    """What a two-worker Dask task sees; cached, so a second call with one label is a hit."""
    return _facts()


def _handshake(folder: str, me: str, partner: str) -> ClusterFacts:
    facts = _facts()  # the cluster is up and in use
    Path(folder, me).write_text(facts.scheduler)
    deadline = time.monotonic() + HANDSHAKE_SECONDS
    while not Path(folder, partner).exists():
        if time.monotonic() > deadline:
            return facts  # overlapped stays False: the test says so
        time.sleep(0.05)
    facts.overlapped = True
    return facts


@task(task_config=ONE_WORKER)
def left(folder: str) -> ClusterFacts:
    return _handshake(folder, "left", "right")


@task(task_config=TWO_WORKERS)
def right(folder: str) -> ClusterFacts:
    return _handshake(folder, "right", "left")


@dataclass
class Pair:
    left: ClusterFacts
    right: ClusterFacts


@task
def pair_up(a: ClusterFacts, b: ClusterFacts) -> Pair:
    return Pair(left=a, right=b)


@workflow
def side_by_side(folder: str) -> Pair:
    """Two Dask tasks with no dependency between them: they run at the same time."""
    return pair_up(a=left(folder=folder), b=right(folder=folder))


def explode(x: int) -> int:
    if x == 3:
        raise MappedError(f"item {x} is bad")
    return x


@task(task_config=ONE_WORKER)
def map_fails(n: int) -> list[int]:
    client = Client()
    return client.gather(client.map(explode, range(n)))


def sleep_on_worker(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _hold(folder: str, name: str = "running") -> int:
    """Report the cluster's processes in folder/<name>.json, then wait on a worker forever."""
    client = Client()
    pids = sorted(client.run(os.getpid).values())
    busy = client.submit(sleep_on_worker, 3600.0)
    marker = Path(folder, f"{name}.json")
    marker.with_suffix(".tmp").write_text(json.dumps({"attempt": os.getpid(), "workers": pids}))
    marker.with_suffix(".tmp").rename(marker)
    return int(busy.result())


@task(task_config=TWO_WORKERS)
def hold(folder: str) -> int:
    """Runs until it is stopped (abort, Ctrl-C)."""
    return _hold(folder)


@task(task_config=ONE_WORKER)
def hold_left(folder: str) -> int:
    return _hold(folder, "left")


@task(task_config=ONE_WORKER)
def hold_right(folder: str) -> int:
    return _hold(folder, "right")


@workflow
def hold_both(folder: str) -> int:
    """Two Dask tasks running at once until they are stopped."""
    hold_left(folder=folder)
    return hold_right(folder=folder)


@task(task_config=TWO_WORKERS, timeout=HOLD_TIMEOUT)
def hold_too_long(folder: str) -> int:
    """Runs until its timeout stops it."""
    return _hold(folder)


# --------------------------------------------------------------------------------------------
# Leftovers: every process started for one SLIPSTREAM_HOME carries it in the environment it
# was started with (the warm interpreter, attempts forked from it, the cluster's workers and
# their helpers), orphans included. Other people's processes on the machine do not.
# --------------------------------------------------------------------------------------------


def processes_of(home: Path) -> list[psutil.Process]:
    """Live processes (not zombies) started with SLIPSTREAM_HOME=home, except this one."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if (
                process.environ().get("SLIPSTREAM_HOME") == str(home)
                and process.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(process)
        except psutil.Error:
            pass
    return found


def _is_warm_interpreter_of(process: psutil.Process, engine_pid: int) -> bool:
    try:
        return process.ppid() == engine_pid and "--zygote" in process.cmdline()
    except psutil.Error:
        return False


def leftovers(home: Path, engine_pid: int | None = None, timeout: float = 15.0) -> list[str]:
    """What is still running for `home` after waiting up to `timeout` s for it to go.

    The engine's own warm interpreter (a child of `engine_pid`) is not a leftover: it forks
    attempts and lives as long as the engine. Everything else is. Returned as "pid: cmdline".
    """
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes_of(home) if not _is_warm_interpreter_of(p, engine_pid or 0)]
        if not alive or time.monotonic() > deadline:
            described = []
            for process in alive:
                with contextlib.suppress(psutil.Error):
                    described.append(f"{process.pid}: {' '.join(process.cmdline())[:200]}")
            return described
        time.sleep(0.1)


def wait_for_file(path: Path, timeout: float, process: subprocess.Popen[str] | None = None) -> str:
    """The file's text once it exists; fails early if `process` (the engine) ended first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the engine ended ({process.returncode}) before {path} appeared")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)
    return path.read_text()

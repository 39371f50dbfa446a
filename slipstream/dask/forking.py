"""Worker processes forked from a server that imported dask once; used by local.py.

A local cluster's Nannies start their workers with multiprocessing. Spawned (dask's default),
each worker is a fresh interpreter importing distributed and the task's module on its own:
four workers pay that four times over, on a 2-core machine about as long as the rest of the
cluster's start. With `forked_workers`, multiprocessing's fork server imports them once, as
soon as the attempt starts (while the scheduler starts), and forks each worker from there.

The server ignores SIGTERM (the runner's stop reaches the attempt's whole process group; the
attempt closes its cluster itself) and is killed when the cluster is gone. Everything else a
worker gets (dask's config, its environment) comes from its Nanny, whatever the start method.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing import forkserver

log = logging.getLogger("slipstream.dask")

METHOD = "distributed.worker.multiprocessing-method"
SERVER_MODULE = "multiprocessing.forkserver"


def _servers() -> set[int]:
    """Our live fork servers (children running multiprocessing.forkserver's main)."""
    import psutil

    found = set()
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if child.status() != psutil.STATUS_ZOMBIE and SERVER_MODULE in " ".join(
                child.cmdline()
            ):
                found.add(child.pid)
    return found


def _children() -> set[int]:
    import psutil

    return {child.pid for child in psutil.Process().children()}


def _start(modules: list[str]) -> None:
    from distributed.utils import get_mp_context

    get_mp_context()  # lets distributed set its own (long) preload list first: ours replaces it
    multiprocessing.get_context("forkserver").set_forkserver_preload(["distributed", *modules])
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN) if in_main else None
    try:
        forkserver.ensure_running()  # the server imports `modules` while we go on
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def forked_workers(modules: list[str]) -> Iterator[None]:
    """While open, Nannies fork their workers from a server that imported `modules`."""
    import dask

    before = _servers()
    children = _children()
    try:
        _start([name for name in modules if name and name != "__main__"])
    except Exception as exc:  # spawned workers still work, only slower to start
        log.debug("dask: no fork server for the workers (%r); they are spawned", exc)
        yield
        return
    started = _servers() - before
    # A server just forked may not have exec'd yet (its command line is still ours): wait for
    # it, bounded, or it would never be killed and would outlive the attempt.
    deadline = time.monotonic() + 2.0
    while not started and _children() - children and time.monotonic() < deadline:
        time.sleep(0.005)
        started = _servers() - before
    try:
        with dask.config.set({METHOD: "forkserver"}):
            yield
    finally:
        _kill(started)


def _kill(pids: set[int]) -> None:
    """SIGKILL, then wait until each is a zombie: multiprocessing reaps it if it starts another."""
    import psutil

    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for _ in range(100):
                if process.status() == psutil.STATUS_ZOMBIE:
                    break
                time.sleep(0.01)

"""The real dask-kubernetes operator (its kopf handlers) run in-process against the test server.

Started by the harness in its event loop. kopf logs in through a pre-filled credentials vault;
the operator's own kr8s calls (`kr8s.asyncio.api()` without arguments) get the client this
module creates first in the same thread and loop, so no KUBECONFIG is needed in os.environ.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import threading
import time
from typing import Any


class RealDaskOperator:
    """`kopf.operator(standalone=True, namespaces=[...])` with the controller's handlers."""

    def __init__(self, url: str, kubeconfig: pathlib.Path, namespaces: list[str]) -> None:
        self.url = url
        self.kubeconfig = kubeconfig
        self.namespaces = namespaces
        self._task: asyncio.Task[None] | None = None
        self._stop_flag: asyncio.Event | None = None
        self._kr8s: Any = None
        self.stop_seconds = 0.0

    async def start(self, timeout: float = 30.0) -> None:
        import dask_kubernetes.operator.controller  # noqa: F401  (registers the handlers)
        import kopf
        import kr8s.asyncio
        from kopf._cogs.structs import credentials

        self._kr8s = await kr8s.asyncio.api(kubeconfig=str(self.kubeconfig))
        settings = kopf.OperatorSettings()
        settings.scanning.disabled = True  # kmock cannot serve the cluster-wide scans
        settings.posting.level = 40  # post only errors as Kubernetes events
        settings.queueing.exit_timeout = 0.5  # a test's end need not wait for busy handlers
        vault = credentials.Vault(
            {
                "kmock": credentials.ConnectionInfo(
                    server=self.url, default_namespace=self.namespaces[0]
                )
            }
        )
        self._stop_flag = asyncio.Event()
        ready = asyncio.Event()
        self._task = asyncio.create_task(
            kopf.operator(
                standalone=True,
                namespaces=self.namespaces,
                settings=settings,
                stop_flag=self._stop_flag,
                ready_flag=ready,
                vault=vault,
            ),
            name="dask-kubernetes-operator",
        )
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            await self.stop()
            raise RuntimeError(f"the dask operator did not get ready within {timeout}s")

    async def stop(self, timeout: float = 20.0) -> None:
        started = time.monotonic()
        if self._stop_flag is not None:
            self._stop_flag.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._kr8s is not None:
            with contextlib.suppress(Exception):
                await self._kr8s._session.aclose()
        self._forget_kr8s_clients()
        self.stop_seconds = time.monotonic() - started

    @staticmethod
    def _forget_kr8s_clients() -> None:
        # kr8s caches clients per (thread id, loop id); both ids are reused after this loop
        # ends, and a later test would get a client bound to a dead loop and server.
        from kr8s._api import Api

        key = f"{threading.get_ident()}.{id(asyncio.get_running_loop())}"
        Api._instances.pop(key, None)

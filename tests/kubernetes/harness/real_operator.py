"""The real dask-kubernetes operator (its kopf handlers) run in-process against the test server.

Started by the harness. kopf runs in a thread with its own event loop, because at exit it
waits for (then cancels) every task of its loop, which must not include the server's. kopf
logs in through a pre-filled credentials vault; the operator's own kr8s calls
(`kr8s.asyncio.api()` without arguments) get the client created first in that thread and
loop, so no KUBECONFIG is needed in os.environ.
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
        self.error: BaseException | None = None
        self.leftover_tasks: list[str] = []
        self.stop_seconds = 0.0
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_flag: asyncio.Event | None = None

    async def start(self, timeout: float = 60.0) -> None:
        import dask_kubernetes.operator.controller  # noqa: F401  (registers the handlers)

        self._thread = threading.Thread(target=self._thread_main, name="dask-operator")
        self._thread.start()
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self._ready.wait, timeout):
            await self.stop()
            raise TimeoutError(f"the dask operator did not get ready within {timeout}s")
        if self.error is not None:
            await self.stop()
            raise RuntimeError("the dask operator failed to start") from self.error

    async def stop(self, timeout: float = 30.0) -> None:
        started = time.monotonic()
        if self._loop is not None and self._stop_flag is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                self._loop.call_soon_threadsafe(self._stop_flag.set)
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the dask operator did not stop within {timeout}s")
        self.stop_seconds = time.monotonic() - started

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._run())
        except BaseException as e:
            self.error = e
        finally:
            pending = asyncio.all_tasks(loop)
            self.leftover_tasks = sorted(t.get_name() for t in pending)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            self._ready.set()

    async def _run(self) -> None:
        import kopf
        import kr8s.asyncio
        from kopf._cogs.structs import credentials

        self._loop = asyncio.get_running_loop()
        self._stop_flag = asyncio.Event()
        client: Any = await kr8s.asyncio.api(kubeconfig=str(self.kubeconfig))
        settings = kopf.OperatorSettings()
        settings.scanning.disabled = True  # kmock cannot serve the cluster-wide scans
        settings.posting.level = 40  # post only errors as Kubernetes events
        settings.queueing.exit_timeout = 0.5  # a test's end need not wait for busy handlers
        info = credentials.ConnectionInfo(server=self.url, default_namespace=self.namespaces[0])
        ready = asyncio.Event()
        operator = asyncio.create_task(
            kopf.operator(
                standalone=True,
                namespaces=self.namespaces,
                settings=settings,
                stop_flag=self._stop_flag,
                ready_flag=ready,
                vault=credentials.Vault({"kmock": info}),
            ),
            name="dask-kubernetes-operator",
        )
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({waiter, operator}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        self._ready.set()
        try:
            await operator
        finally:
            if client._session is not None:
                await client._session.aclose()
            self._forget_kr8s_clients()

    @staticmethod
    def _forget_kr8s_clients() -> None:
        # kr8s caches clients per (thread id, loop id); both ids are reused after this loop
        # ends, and a later operator would get a client bound to a dead loop and server.
        from kr8s._api import Api

        key = f"{threading.get_ident()}.{id(asyncio.get_running_loop())}"
        Api._instances.pop(key, None)

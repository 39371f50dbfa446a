"""KubeHarness: the test API server, kubelet and an optional Dask operator in a background thread.

The fixtures in conftest.py hand one to a test. Its event loop runs in its own thread, so
synchronous tests and code that runs kr8s in its own loop thread (the Kubernetes runner) can
use it; the small sync API here (get, list, create, patch, delete, wait_for, inject, logs)
hops into that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import pathlib
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import kmock

from .apiserver import Apiserver
from .changes import Change
from .dask_clusters import LocalDaskClusters
from .failures import Failure
from .fake_operator import FakeDaskOperator
from .kubeconfig import write_kubeconfig
from .kubelet import Kubelet
from .real_operator import RealDaskOperator
from .selectors import Selector, dict_selector
from .services import OperatorClusters, ServiceResolver
from .tls import TlsEntry

T = TypeVar("T")
OPERATORS = (None, "fake", "real")


class KubeHarness:
    """See the module docstring. Use as a context manager, or start() and close()."""

    def __init__(
        self,
        workdir: pathlib.Path,
        *,
        namespace: str = "slipstream",
        operator: str | None = None,
        kubelet: bool = True,
        pod_cwd: pathlib.Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        local_dask: bool = False,
        tls: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        if operator not in OPERATORS:
            raise ValueError(f"operator {operator!r}: expected one of {OPERATORS}")
        if local_dask and operator != "real":
            raise ValueError(
                "local_dask=True gives the real operator's DaskClusters local schedulers; "
                f"it needs operator='real', got operator={operator!r}"
            )
        self.workdir = workdir
        self.namespace = namespace
        self.operator_kind = operator
        self.kubeconfig = workdir / "kubeconfig.yaml"
        self.url = ""
        self.apiserver: Apiserver | None = None
        self.kubelet: Kubelet | None = None
        self.dask_clusters = LocalDaskClusters(env=dict(extra_env or {}))
        self.fake_operator: FakeDaskOperator | None = None
        self.real_operator: RealDaskOperator | None = None
        self.operator_clusters: OperatorClusters | None = None
        self._local_dask = local_dask
        # With tls=True, also an HTTPS entry point that wants a service-account token, as a
        # Pod's in-cluster credentials reach a real API server (see tls.py).
        self.tls: TlsEntry | None = TlsEntry(workdir / "tls") if tls else None
        self.leftover_tasks: list[str] = []  # tasks still pending after a clean shutdown
        self._with_kubelet = kubelet
        self._pod_cwd = pod_cwd
        self._extra_env = dict(extra_env or {})
        self._start_timeout = start_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._change_count = 0

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> KubeHarness:
        self._thread = threading.Thread(target=self._thread_main, name="kube-harness", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise TimeoutError(
                f"the Kubernetes test harness did not start in {self._start_timeout}s"
            )
        if self._error is not None:
            self._thread.join(10)
            raise RuntimeError("the Kubernetes test harness failed to start") from self._error
        return self

    def close(self, timeout: float = 60.0) -> None:
        """Stop everything (processes, clusters, operator, server); raise if it went wrong."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the Kubernetes test harness did not stop in {timeout}s")
        self._thread = None
        if self._error is not None:
            raise RuntimeError("the Kubernetes test harness failed") from self._error

    def __enter__(self) -> KubeHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _thread_main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as e:
            self._error = e
        finally:
            current = asyncio.all_tasks(loop)
            self.leftover_tasks = sorted(t.get_name() for t in current)
            for task in current:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*current, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with Apiserver() as api, kmock.Server(api) as server:
            self.apiserver = api
            self.url = str(server.url).rstrip("/")
            api.store.listeners.append(self._on_change)
            namespaces = api.table.find("namespaces")
            for name in dict.fromkeys(["default", self.namespace]):
                await api.store.create(namespaces, None, {"metadata": {"name": name}})
                await api.store.create(
                    api.table.find("serviceaccounts"), name, {"metadata": {"name": "default"}}
                )
            write_kubeconfig(self.kubeconfig, self.url, self.namespace)
            try:
                await self._start_parts(api)
                self._ready.set()
                await self._stop.wait()
            finally:
                await self._stop_parts(api)

    async def _start_parts(self, api: Apiserver) -> None:
        if self.tls is not None:
            await self.tls.start(api)
        resolver = ServiceResolver() if self._local_dask else None
        if resolver is not None:
            self.operator_clusters = OperatorClusters(
                api, self.dask_clusters, resolver, self.namespace
            )
            await self.operator_clusters.start()
        if self._with_kubelet:
            self.kubelet = Kubelet(
                api, cwd=self._pod_cwd, extra_env=self._extra_env, resolver=resolver
            )
            await self.kubelet.start()
        if self.operator_kind == "fake":
            self.fake_operator = FakeDaskOperator(api, self.dask_clusters, self.namespace)
            await self.fake_operator.start()
        elif self.operator_kind == "real":
            self.real_operator = RealDaskOperator(self.url, self.kubeconfig, [self.namespace])
            await self.real_operator.start()

    async def _stop_parts(self, api: Apiserver) -> None:
        if self.real_operator is not None:
            await self.real_operator.stop()
        if self.fake_operator is not None:
            await self.fake_operator.stop()
        if self.operator_clusters is not None:
            await self.operator_clusters.stop()
        await self.dask_clusters.close_all()
        if self.kubelet is not None:
            await self.kubelet.stop()
        await api.shutdown()
        if self.tls is not None:
            await self.tls.stop()

    # ---- calling into the loop -----------------------------------------------------------

    def call(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        """Run `factory()` in the harness loop and return its result (from any other thread)."""
        if self._loop is None or self._thread is None:
            raise RuntimeError("the Kubernetes test harness is not running")
        future = asyncio.run_coroutine_threadsafe(factory(), self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    @property
    def api(self) -> Apiserver:
        if self.apiserver is None:
            raise RuntimeError("the Kubernetes test harness is not running")
        return self.apiserver

    def _ns(self, kind: str, namespace: str | None) -> str | None:
        return (namespace or self.namespace) if self.api.table.find(kind).namespaced else None

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object as stored now, or None. `kind`: "pod", "DaskJob", "daskjobs", ..."""
        spec = self.api.table.find(kind)

        async def get() -> dict[str, Any] | None:
            return self.api.store.get(spec, self._ns(kind, namespace), name)

        return self.call(get)

    def list_objects(
        self,
        kind: str,
        namespace: str | None = None,
        labels: Mapping[str, str] | str | None = None,
        all_namespaces: bool = False,
    ) -> list[dict[str, Any]]:
        spec = self.api.table.find(kind)
        label_selector = dict_selector(labels) if isinstance(labels, Mapping) else labels
        selector = Selector.parse(label_selector, None)
        ns = None if all_namespaces else self._ns(kind, namespace)

        async def list_() -> list[dict[str, Any]]:
            return self.api.store.list(spec, ns, selector)

        return self.call(list_)

    def create(self, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create `obj`; its `kind` says where."""
        kind = str(obj.get("kind", ""))
        spec = self.api.table.find(kind)
        ns = self._ns(kind, namespace or obj.get("metadata", {}).get("namespace"))
        return self.call(lambda: self.api.store.create(spec, ns, dict(obj)))

    def patch(
        self,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        subresource: str | None = None,
        patch_type: str = "merge",
    ) -> dict[str, Any]:
        spec = self.api.table.find(kind)
        ns = self._ns(kind, namespace)
        return self.call(
            lambda: self.api.store.patch(
                spec, ns, name, patch, patch_type=patch_type, subresource=subresource
            )
        )

    def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        grace: int | None = None,
        propagation: str = "Background",
    ) -> dict[str, Any]:
        spec = self.api.table.find(kind)
        ns = self._ns(kind, namespace)
        return self.call(
            lambda: self.api.store.delete(spec, ns, name, grace=grace, propagation=propagation)
        )

    def changes(self, kind: str | None = None, name: str | None = None) -> list[Change]:
        """Every write so far (oldest first, the last 20,000), optionally of one kind/name."""
        spec = self.api.table.find(kind) if kind else None

        async def changes() -> list[Change]:
            return [
                c
                for c in self.api.store.history
                if (spec is None or c.spec == spec) and (name is None or c.name == name)
            ]

        return self.call(changes)

    # ---- waiting -------------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        with self._changed:
            self._change_count += 1
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], T], timeout: float = 30.0, message: str = "") -> T:
        """Re-check `predicate` after every write (and every 0.2 s) until it returns something
        truthy, and return that; raise TimeoutError with `message` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._change_count
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(message or f"condition not met within {timeout}s")
            with self._changed:
                if self._change_count == seen:
                    self._changed.wait(min(remaining, 0.2))

    def wait_for_object(
        self,
        kind: str,
        name: str,
        predicate: Callable[[dict[str, Any]], Any],
        timeout: float = 30.0,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """Wait until the object exists and `predicate(obj)` is truthy; return the object."""
        last: list[dict[str, Any] | None] = [None]

        def check() -> dict[str, Any] | None:
            obj = last[0] = self.get(kind, name, namespace)
            return obj if obj is not None and predicate(obj) else None

        try:
            found = self.wait_for(check, timeout)
            assert found is not None
            return found
        except TimeoutError:
            raise TimeoutError(
                f"{kind} {name!r}: condition not met within {timeout}s; last seen: {last[0]!r}"
            ) from None

    def wait_gone(
        self, kind: str, name: str, timeout: float = 30.0, namespace: str | None = None
    ) -> None:
        self.wait_for(
            lambda: self.get(kind, name, namespace) is None,
            timeout,
            f"{kind} {name!r} still exists after {timeout}s",
        )

    # ---- the kubelet ---------------------------------------------------------------------

    def _kubelet(self) -> Kubelet:
        if self.kubelet is None:
            raise RuntimeError("this harness runs no kubelet")
        return self.kubelet

    def inject(self, pod_name: str, failure: str | Failure, namespace: str | None = None) -> None:
        """Fail a Pod: "preempted", "evicted" (Pod phase Failed, status.reason set, process
        killed) or "oomkilled" (container terminated, OOMKilled, exit code 137)."""
        kubelet = self._kubelet()
        ns = namespace or self.namespace
        self.call(lambda: kubelet.inject(ns, pod_name, failure))

    def fail_image_pulls(
        self, pattern: str, message: str = "", seconds: float | None = None
    ) -> None:
        """Pods whose image matches the glob stay Pending in ErrImagePull/ImagePullBackOff:
        for good ("not found"), or for `seconds` with `message`, then the pull works."""
        kubelet = self._kubelet()

        async def add() -> None:
            kubelet.fail_image_pulls(pattern, message, seconds)

        self.call(add)

    def hold_scheduling(self, pattern: str, message: str) -> None:
        """Pods whose name matches the glob stay Pending with PodScheduled=False
        (Unschedulable, `message`) until release_scheduling()."""
        kubelet = self._kubelet()

        async def hold() -> None:
            kubelet.hold_scheduling(pattern, message)

        self.call(hold)

    def release_scheduling(self) -> None:
        kubelet = self._kubelet()

        async def release() -> None:
            kubelet.release_scheduling()

        self.call(release)

    def admit(self, plugin: Callable[[str, dict[str, Any]], None]) -> Callable[[], None]:
        """Run `plugin(kind, obj)` on every create (it may change obj, or raise
        `refusal(...)`), as an admission webhook would; returns a function removing it."""

        def adapted(spec: Any, obj: dict[str, Any]) -> None:
            plugin(spec.kind, obj)

        async def add() -> None:
            self.api.store.admission.append(adapted)

        async def remove() -> None:
            if adapted in self.api.store.admission:
                self.api.store.admission.remove(adapted)

        self.call(add)
        return lambda: self.call(remove)

    def stall_open_watches(self, kind: str) -> None:
        """Watches of `kind` open now go silent without closing (a dropped connection)."""
        spec = self.api.table.find(kind)

        async def stall() -> None:
            self.api.stall_open_watches(spec.plural)

        self.call(stall)

    def logs(self, pod_name: str, namespace: str | None = None, previous: bool = False) -> str:
        """What the API serves as the Pod's log now ("" if it has none)."""
        pod = self.get("pods", pod_name, namespace)
        if pod is None:
            return ""
        uid = pod["metadata"]["uid"]

        async def text() -> str:
            return self.api.logs.text(uid, previous)

        return self.call(text)

    def output(self, pod_name: str, namespace: str | None = None) -> str:
        """Everything the kubelet saw the Pod print, all runs, also after the Pod is gone."""
        kubelet = self._kubelet()
        key = (namespace or self.namespace, pod_name)

        async def text() -> str:
            return bytes(kubelet.outputs.get(key, b"")).decode("utf-8", "replace")

        return self.call(text)

    @property
    def started_pids(self) -> list[int]:
        return list(self.kubelet.started_pids) if self.kubelet is not None else []

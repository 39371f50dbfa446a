"""Cluster DNS for the test kubelet, and local schedulers behind the real operator's clusters.

With the real operator, a runner Pod gets DASK_SCHEDULER_ADDRESS =
tcp://<cluster>-scheduler.<ns>.svc.cluster.local:8786, which resolves nowhere here. When the
harness is asked for local Dask (`local_dask=True`), OperatorClusters starts a LocalCluster
for every DaskCluster the operator creates, and the kubelet rewrites such addresses in a
container's env and args to that cluster's real address before starting the process.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from .apiserver import Apiserver
from .dask_clusters import LocalDaskClusters

_SERVICE = re.compile(
    r"(?P<service>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(?P<namespace>[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
    r"\.svc(\.cluster\.local)?(:(?P<port>\d+))?"
)
SCHEDULER_PORT, DASHBOARD_PORT = 8786, 8787


class ServiceResolver:
    """Maps (service, namespace, port) to a local host:port; waits for schedulers to appear."""

    def __init__(self, wait: float = 120.0) -> None:
        self.wait = wait
        self._known: dict[tuple[str, str], dict[int, str]] = {}
        self._changed = asyncio.Condition()

    async def register(self, service: str, namespace: str, ports: dict[int, str]) -> None:
        async with self._changed:
            self._known[(service, namespace)] = ports
            self._changed.notify_all()

    async def unregister(self, service: str, namespace: str) -> None:
        async with self._changed:
            self._known.pop((service, namespace), None)

    async def _lookup(self, service: str, namespace: str, port: int) -> str | None:
        key = (service, namespace)
        if not service.endswith("-scheduler"):
            return self._known.get(key, {}).get(port)
        try:
            async with asyncio.timeout(self.wait), self._changed:
                await self._changed.wait_for(lambda: key in self._known)
        except TimeoutError:
            return None  # left as is: the process fails to resolve it, as with broken DNS
        return self._known[key].get(port)

    async def rewrite(self, text: str) -> str:
        """`text` with every known in-cluster service address replaced by its local one."""
        result, last = [], 0
        for match in _SERVICE.finditer(text):
            port = int(match["port"] or SCHEDULER_PORT)
            local = await self._lookup(match["service"], match["namespace"], port)
            if local is not None:
                result += [text[last : match.start()], local]
                last = match.end()
        return "".join(result) + text[last:]


class OperatorClusters:
    """One LocalCluster per DaskCluster of the namespace, registered in the resolver."""

    def __init__(
        self,
        apiserver: Apiserver,
        clusters: LocalDaskClusters,
        resolver: ServiceResolver,
        namespace: str,
    ) -> None:
        self.store = apiserver.store
        self.spec = apiserver.table.find("daskclusters")
        self.clusters = clusters
        self.resolver = resolver
        self.namespace = namespace
        self._task: asyncio.Task[None] | None = None
        self._starts: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._watch(ready), name="operator-clusters")
        await ready.wait()

    async def stop(self) -> None:
        for task in [self._task, *self._starts]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*[t for t in [self._task, *self._starts] if t], return_exceptions=True)

    async def _watch(self, ready: asyncio.Event) -> None:
        changes = self.store.watch(self.spec, self.namespace)
        ready.set()
        async for change in changes:
            meta = change.obj["metadata"]
            service = f"{meta['name']}-scheduler"
            if change.type == "ADDED":
                task = asyncio.create_task(self._start_cluster(change.obj))
                self._starts.add(task)
                task.add_done_callback(self._starts.discard)
            elif change.type == "DELETED":
                await self.resolver.unregister(service, self.namespace)
                await self.clusters.close(meta["uid"])

    async def _start_cluster(self, cluster: dict[str, Any]) -> None:
        meta = cluster["metadata"]
        replicas = cluster.get("spec", {}).get("worker", {}).get("replicas", 1)
        address = await self.clusters.start(meta["uid"], replicas)
        dashboard = self.clusters.dashboard(meta["uid"])
        ports = {SCHEDULER_PORT: address.removeprefix("tcp://")}
        if dashboard:
            ports[DASHBOARD_PORT] = dashboard
        await self.resolver.register(f"{meta['name']}-scheduler", self.namespace, ports)

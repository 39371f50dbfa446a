"""Real local Dask clusters standing in for the scheduler and workers of a DaskCluster.

Used by the fake operator (one per DaskJob) and by the real operator's companion (one per
DaskCluster), so a job runner Pod run by the test kubelet reaches a real scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StartedCluster:
    """A record of one cluster start, kept for assertions after it is closed."""

    key: str
    n_workers: int
    address: str


class LocalDaskClusters:
    """Starts and closes `distributed.LocalCluster`s (processes=True) keyed by an object uid."""

    def __init__(self, threads_per_worker: int = 1) -> None:
        self.threads_per_worker = threads_per_worker
        self.started: list[StartedCluster] = []
        self._clusters: dict[str, Any] = {}
        self._starting: dict[str, asyncio.Future[str]] = {}

    @property
    def open_keys(self) -> list[str]:
        return list(self._clusters)

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
            cluster = await loop.run_in_executor(None, self._start_sync, n_workers)
        except BaseException as e:
            self._starting.pop(key, None)
            future.set_exception(e)
            future.exception()  # retrieved: the caller gets it raised below
            raise
        self._clusters[key] = cluster
        address: str = cluster.scheduler_address
        self.started.append(StartedCluster(key, n_workers, address))
        future.set_result(address)
        if key not in self._starting:  # closed while starting
            await self.close(key)
        return address

    def _start_sync(self, n_workers: int) -> Any:
        from distributed import LocalCluster

        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=self.threads_per_worker,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )

    def dashboard(self, key: str) -> str | None:
        """host:port of the dashboard of `key`'s cluster, if it serves one."""
        cluster = self._clusters.get(key)
        link = getattr(cluster, "dashboard_link", None) if cluster is not None else None
        return urllib.parse.urlsplit(link).netloc or None if link else None

    async def close(self, key: str) -> None:
        """Close the cluster of `key` (also one still starting, once it is up)."""
        self._starting.pop(key, None)
        cluster = self._clusters.pop(key, None)
        if cluster is not None:
            await asyncio.get_running_loop().run_in_executor(None, cluster.close)

    async def close_all(self) -> None:
        starting = [f for f in self._starting.values() if not f.done()]
        self._starting.clear()
        await asyncio.gather(*starting, return_exceptions=True)
        for key in list(self._clusters):
            await self.close(key)

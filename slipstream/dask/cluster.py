"""A process-based Dask cluster of named worker groups (first one adaptive); used by local.py."""

from __future__ import annotations

import logging
import math
from typing import Any

import dask
from dask.utils import parse_bytes
from distributed import Nanny, Scheduler, SpecCluster
from distributed.core import Status
from distributed.deploy.adaptive import Adaptive as DaskAdaptive
from distributed.utils import NoOpAwaitable

from slipstream.dask.plan import ClusterPlan, GroupPlan

HOST = "127.0.0.1"
# Ctrl-C and a runner's SIGTERM reach every process of the attempt's process group. Workers
# leave them to the attempt process, which closes the cluster in order (a worker dying on its
# own prints a traceback and loses its logs). A worker still follows its parent if that dies
# (distributed watches the parent) and the Nanny's own escalation is SIGKILL. Preload text
# runs in the worker process's main thread as it starts.
IGNORE_STOP_SIGNALS = (
    "import signal\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
)


def _worker_spec(group: GroupPlan, silence_logs: int) -> dict[str, Any]:
    preload = [*dask.config.get("distributed.worker.preload", []), IGNORE_STOP_SIGNALS]
    return {
        "cls": Nanny,
        "options": {
            "host": HOST,
            "protocol": "tcp://",
            "nthreads": group.nthreads,
            "memory_limit": group.memory_limit,
            "resources": dict(group.resources) or None,
            "silence_logs": silence_logs,
            "dashboard": False,
            "preload": preload,
        },
    }


class GroupedCluster(SpecCluster):
    """LocalCluster's process-based workers, in groups; scaling and adaptivity move the first.

    Workers are named ``<group>-<i>``. Workers of the other groups ("pinned") keep their number:
    the dask-kubernetes DaskAutoscaler also scales the default worker group only.
    """

    def __init__(self, plan: ClusterPlan, *, silence_logs: int = logging.WARNING) -> None:
        self.default_group = plan.default.name
        self.pinned: frozenset[str] = frozenset(
            f"{group.name}-{i}" for group in plan.groups[1:] for i in range(group.workers)
        )
        workers = {
            f"{group.name}-{i}": _worker_spec(group, silence_logs)
            for group in plan.groups
            for i in range(group.workers)
        }
        scheduler = {
            "cls": Scheduler,
            "options": {
                "host": HOST,
                "port": 0,
                "protocol": "tcp://",
                "dashboard": True,
                "dashboard_address": ":0",
            },
        }
        super().__init__(
            workers=workers,
            scheduler=scheduler,
            worker=_worker_spec(plan.default, silence_logs),
            silence_logs=silence_logs,
            name=f"slipstream-{self.default_group}",
        )

    def _new_worker_name(self, worker_number: int) -> str:
        return f"{self.default_group}-{worker_number}"

    def scale(self, n: int = 0, memory: Any = None, cores: Any = None) -> Any:
        """Scale the first group to n workers (memory/cores count its workers' share)."""
        if self.status in (Status.closing, Status.closed):
            return super().scale(n, memory, cores)  # closing scales everything to 0
        if memory is not None:
            n = max(n, math.ceil(parse_bytes(memory) / self._memory_per_worker()))
        if cores is not None:
            n = max(n, math.ceil(cores / self._threads_per_worker()))
        scalable = [name for name in self.worker_spec if name not in self.pinned]
        if len(scalable) > n:
            launched = {info["name"] for info in self.scheduler_info["workers"].values()}
            waiting = [name for name in scalable if name not in launched]
            while len(scalable) > n and waiting:
                name = waiting.pop()
                scalable.remove(name)
                del self.worker_spec[name]
            while len(scalable) > n:
                del self.worker_spec[scalable.pop()]
        if self.status not in (Status.closing, Status.closed):
            while len(scalable) < n:
                new = self.new_worker_spec()
                self.worker_spec.update(new)
                scalable.extend(new)
        loop = self.loop
        assert loop is not None  # set by SpecCluster.__init__
        loop.add_callback(self._correct_state)
        if self.asynchronous:
            return NoOpAwaitable()
        return None


class GroupAdaptive(DaskAdaptive):
    """Adaptive scaling that counts, adds and retires workers of the first group only."""

    @property
    def _pinned(self) -> frozenset[str]:
        return getattr(self.cluster, "pinned", frozenset())

    @property
    def plan(self) -> set[Any]:
        return {name for name in self.cluster.plan if name not in self._pinned}

    @property
    def requested(self) -> set[Any]:
        return {name for name in self.cluster.requested if name not in self._pinned}

    @property
    def observed(self) -> set[Any]:
        return {name for name in self.cluster.observed if name not in self._pinned}

    async def target(self) -> int:
        return max(0, await super().target() - len(self._pinned))

    async def workers_to_close(self, target: int) -> list[str]:
        names = await super().workers_to_close(target + len(self._pinned))
        return [name for name in names if name not in self._pinned]

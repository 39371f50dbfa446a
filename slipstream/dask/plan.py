"""Shapes a local Dask cluster from a Dask config, clamped to this machine; used by local.py."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from slipstream.dask.config import Dask, WorkerGroup

GIB = 1 << 30
# More worker processes than this per core only adds start-up time and memory pressure.
WORKERS_PER_CORE = 4
MIN_WORKER_CAP = 4
MIN_SHARE = 256 << 20  # bytes: below this a worker without a memory request is useless


@dataclass(frozen=True)
class Machine:
    """What this process may use: cores (affinity and cgroup quota) and memory (cgroup aware)."""

    cores: int
    memory: int  # bytes

    @classmethod
    def detect(cls) -> Machine:
        return cls(cores=_cores(), memory=_memory())


def _cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = _read(Path("/sys/fs/cgroup/cpu.max"))
    if quota:
        parts = quota.split()
        if len(parts) == 2 and parts[0] != "max":
            cores = min(cores, max(1, math.ceil(int(parts[0]) / int(parts[1]))))
    return max(1, cores)


def _memory() -> int:
    import psutil

    memory = int(psutil.virtual_memory().total)
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        text = _read(Path(path))
        if text and text.isdigit():
            memory = min(memory, int(text))
    return memory


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class GroupPlan:
    """How one worker group runs here."""

    name: str
    workers: int  # started with the cluster
    nthreads: int
    memory_limit: int  # bytes per worker
    resources: dict[str, float] = field(default_factory=dict)
    adaptive: tuple[int, int] | None = None  # (minimum, maximum)

    @property
    def most_workers(self) -> int:
        return self.adaptive[1] if self.adaptive else self.workers


@dataclass(frozen=True)
class ClusterPlan:
    groups: tuple[GroupPlan, ...]
    clamped: bool
    summary: str  # one line: asked for, this machine, running

    @property
    def default(self) -> GroupPlan:
        return self.groups[0]

    @property
    def workers(self) -> int:
        return sum(group.workers for group in self.groups)


def plan_cluster(config: Dask, machine: Machine) -> ClusterPlan:
    """Workers, threads and memory per group; asked-for resources beyond the machine shrink."""
    groups = config.groups
    named = len(groups) > 1
    asked_counts = [_count(group) for group in groups]  # (initial, bounds or None)
    counts = asked_counts
    most = [bounds[1] if bounds else initial for initial, bounds in counts]

    cap = max(MIN_WORKER_CAP, WORKERS_PER_CORE * machine.cores)
    if sum(most) > cap:
        scale = cap / sum(most)
        counts = [_scale_count(initial, bounds, scale) for initial, bounds in counts]
        most = [bounds[1] if bounds else initial for initial, bounds in counts]
    total_workers = sum(most)

    threads = [group.nthreads for group in groups]
    total_threads = sum(n * t for n, t in zip(most, threads, strict=True))
    if total_threads > machine.cores:
        threads = [max(1, math.floor(t * machine.cores / total_threads)) for t in threads]

    # Workers that ask for no memory share what the others leave; if that is next to nothing,
    # everyone gets an even split and the asked-for amounts shrink below.
    asked_memory = sum(n * g.memory for n, g in zip(most, groups, strict=True) if g.memory)
    unasked = sum(n for n, g in zip(most, groups, strict=True) if g.memory is None)
    share = machine.memory // total_workers
    if unasked and (machine.memory - asked_memory) // unasked >= MIN_SHARE:
        share = (machine.memory - asked_memory) // unasked
    memory = [group.memory if group.memory is not None else share for group in groups]
    total_memory = sum(n * m for n, m in zip(most, memory, strict=True))
    if total_memory > machine.memory:
        memory = [max(1, m * machine.memory // total_memory) for m in memory]

    plans = tuple(
        GroupPlan(
            name=group.name,
            workers=initial,
            nthreads=nthreads,
            memory_limit=mem,
            resources={group.name: 1} if named else {},
            adaptive=bounds,
        )
        for group, (initial, bounds), nthreads, mem in zip(
            groups, counts, threads, memory, strict=True
        )
    )
    clamped = counts != asked_counts or any(
        plan.nthreads < group.nthreads
        or (group.memory is not None and plan.memory_limit < group.memory)
        for plan, group in zip(plans, groups, strict=True)
    )
    running = " + ".join(_describe_plan(plan, named) for plan in plans)
    if clamped:
        asked = " + ".join(_describe_ask(group, named) for group in groups)
        summary = (
            f"dask: asked for {asked}; this machine has {_cores_text(machine.cores)}, "
            f"{_gib(machine.memory)}: running {running}"
        )
    else:
        summary = f"dask: running {running}"
    return ClusterPlan(groups=plans, clamped=clamped, summary=summary)


def _count(group: WorkerGroup) -> tuple[int, tuple[int, int] | None]:
    if group.adaptive:
        return group.initial_workers, group.bounds
    return group.number_of_workers, None


def _scale_count(
    initial: int, bounds: tuple[int, int] | None, scale: float
) -> tuple[int, tuple[int, int] | None]:
    if bounds is None:
        return max(1, math.floor(initial * scale)), None
    high = max(1, math.floor(bounds[1] * scale))
    low = min(bounds[0], high)
    return min(max(initial, low), high), (low, high)


def _workers_text(count: str, name: str, named: bool, plural: bool) -> str:
    noun = "workers" if plural else "worker"
    return f"{count} {name} {noun}" if named else f"{count} {noun}"


def _threads_text(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _cores_text(n: int) -> str:
    return f"{n} core" if n == 1 else f"{n} cores"


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def _describe_ask(group: WorkerGroup, named: bool) -> str:
    if group.adaptive:
        low, high = group.bounds
        text = _workers_text(f"{low}-{high}", group.name, named, True)
    else:
        n = group.number_of_workers
        text = _workers_text(str(n), group.name, named, n != 1)
    text += f" x {_threads_text(group.nthreads)}"
    if group.memory_text is not None:
        text += f", {group.memory_text} each"
    return text


def _describe_plan(plan: GroupPlan, named: bool) -> str:
    if plan.adaptive:
        low, high = plan.adaptive
        text = _workers_text(f"{low}-{high}", plan.name, named, True)
    else:
        text = _workers_text(str(plan.workers), plan.name, named, plan.workers != 1)
    return f"{text} x {_threads_text(plan.nthreads)}, {_gib(plan.memory_limit)} each"

"""One attempt the Kubernetes runner follows, and why it waits; used by follower.py and runner.py.

An attempt waits while its Pods cannot be scheduled, pull their image, keep crashing, or
while the API or the operator refuses what it needs. Each source (a Pod, the create call,
an event) holds its own condition; the attempt's is the first that counts: the DaskJob's
runner and scheduler always, its workers only while none of them runs, events while they
repeat.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from slipstream.runners.base import AttemptSpec, RunnerEvents
from slipstream.runners.kubernetes.conditions import Waiting

EVENT_FRESH_SECONDS = 120.0  # an event that did not repeat for this long no longer counts


@dataclass
class PodWait:
    component: str  # "" for a plain Pod; job-runner, scheduler or worker in a DaskJob
    waiting: Waiting | None
    running: bool


@dataclass
class Tracked:
    """One attempt being followed: its main object (a Pod or a DaskJob) and what was seen."""

    spec: AttemptSpec
    events: RunnerEvents
    kind: str  # "Pod" | "DaskJob"
    name: str
    namespace: str
    prefix: str
    created: bool = False  # until then a missing object is not news
    created_at: float = 0.0  # time.monotonic() when it was created (or adopted)
    started: bool = False
    runtime_reported: bool = False
    runner_pod: dict[str, Any] | None = None  # a DaskJob's job-runner Pod, as last seen
    runner_ended_at: float | None = None
    disruptions: list[str] = field(default_factory=list)
    finishing: bool = False
    cancelled: bool = False
    task: asyncio.Task[None] | None = None
    unsent: list[dict[str, Any]] = field(default_factory=list)  # objects still to create
    retry_at: float = 0.0
    retry_delay: float = 0.0
    extras: list[dict[str, Any]] = field(default_factory=list)  # after the DaskCluster exists
    created_object: dict[str, Any] | None = None  # as the API server answered the create
    cluster_ready: bool = False  # a DaskJob's DaskCluster exists: its extras can follow
    creating_extras: bool = False
    container: str = ""  # the container whose log is the attempt's log
    pods: dict[str, PodWait] = field(default_factory=dict)
    refusal: Waiting | None = None  # of our own create call, while it is retried
    event_waits: dict[str, tuple[Waiting, tuple[str, str], float]] = field(default_factory=dict)
    waiting_since: float | None = None
    reported_wait: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def log_pod(self) -> str:
        if self.kind == "Pod":
            return self.name
        if self.runner_pod is not None:
            return str(self.runner_pod["metadata"]["name"])
        return f"{self.name}-runner"  # the operator's name for it

    def note(self, description: str) -> None:
        if description and description not in self.disruptions:
            self.disruptions.append(description)

    def see_event(self, uid: str, waiting: Waiting, key: tuple[str, str]) -> None:
        """Remember an event's condition; it counts while it repeats (count or time change)."""
        known = self.event_waits.get(uid)
        if known is None or known[1] != key:
            self.event_waits[uid] = (waiting, key, time.monotonic())

    def waiting(self, now: float) -> Waiting | None:
        """What holds the attempt back now, if anything (see the module docstring)."""
        if self.refusal is not None:
            return self.refusal
        workers_run = any(p.running for p in self.pods.values() if p.component == "worker")
        for pod in self.pods.values():
            if pod.waiting is not None and not (pod.component == "worker" and workers_run):
                return pod.waiting
        for waiting, _, seen in self.event_waits.values():
            if now - seen < EVENT_FRESH_SECONDS and not self.started:
                return waiting
        return None

    def update_wait(self, now: float) -> tuple[Waiting | None, bool]:
        """(the condition now, whether what was reported changed); starts/stops the clock."""
        waiting = self.waiting(now)
        if waiting is None:
            self.waiting_since = None
        elif self.waiting_since is None:
            self.waiting_since = now
        text = waiting.message if waiting is not None else ""
        changed = text != self.reported_wait
        self.reported_wait = text
        return waiting, changed

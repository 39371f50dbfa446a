"""Follows attempts' objects to their end through watches and resyncs; used by KubernetesRunner.

One watch per kind (Pods, DaskJobs) per namespace follows every object slipstream made
(label `app.kubernetes.io/managed-by`): a watch the server ends resumes from its last
resourceVersion, one that fails starts over from the current state, and a periodic resync
reads every followed object again, so no end is missed. When an attempt ends its Pod log is
copied to `<output_prefix>/attempt.log`, its object deleted (owned objects follow) and its
result reported. Everything here runs in the runner's event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slipstream.errors import KubernetesRunnerError
from slipstream.runners.base import AttemptResult, AttemptSpec, RunnerEvents
from slipstream.runners.contract import read_result
from slipstream.runners.kubernetes.client import ApiError, KubeClient
from slipstream.runners.kubernetes.names import SELECTOR
from slipstream.runners.kubernetes.results import final_result, system_failure
from slipstream.runners.kubernetes.status import (
    FAILED,
    RUNNING,
    Observation,
    config_failure,
    daskjob_observation,
    disruption,
    image_pull_failure,
    pod_observation,
)

log = logging.getLogger(__name__)
LOG_LIMIT_BYTES = 8 << 20
CLUSTER_LABEL = "dask.org/cluster-name"
COMPONENT_LABEL = "dask.org/component"


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
    started: bool = False
    runtime_reported: bool = False
    runner_pod: dict[str, Any] | None = None  # a DaskJob's job-runner Pod, as last seen
    runner_ended_at: float | None = None
    disruptions: list[str] = field(default_factory=list)
    finishing: bool = False
    cancelled: bool = False
    task: asyncio.Task[None] | None = None

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


class Follower:
    """The attempts one runner follows, by (namespace, main object name)."""

    watch_timeout_seconds = 300.0  # the server ends each watch after this; we resume it
    resync_seconds = 30.0  # read every followed object again this often, watch or not
    runner_grace_seconds = 10.0  # a DaskJob's runner ended: wait this long for its jobStatus
    tick_seconds = 1.0

    def __init__(self, blobs: Any, connect: Callable[[], Awaitable[KubeClient]]) -> None:
        self.blobs = blobs
        self._connect = connect
        self.tracked: dict[tuple[str, str], Tracked] = {}
        self._watchers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._last_resync = 0.0
        self._watch_trouble = False

    # ---- in the loop: watching ---------------------------------------------------------

    def ensure_watching(self, namespace: str, followed: str) -> None:
        # Pods always (a DaskJob's runner and workers are Pods); DaskJobs once one is followed,
        # so that a cluster without the operator's CRDs runs plain tasks without noise.
        for kind in dict.fromkeys(("Pod", followed)):
            task = self._watchers.get((kind, namespace))
            if task is None or task.done():
                self._watchers[(kind, namespace)] = asyncio.create_task(
                    self._watch(kind, namespace), name=f"slipstream-watch-{kind}-{namespace}"
                )
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick(), name="slipstream-kubernetes-tick")

    async def _watch(self, kind: str, namespace: str) -> None:
        since: str | None = None
        backoff = 0.2
        while True:
            began, events = time.monotonic(), 0
            try:
                client = await self._connect()
                async for event, obj in client.watch(
                    kind, namespace, SELECTOR, since, self.watch_timeout_seconds
                ):
                    if event == "ERROR":  # e.g. 410 Gone: start over from the current state
                        since = None
                        raise ApiError(int(obj.get("code") or 0), str(obj.get("message")))
                    since = obj.get("metadata", {}).get("resourceVersion") or since
                    events += 1
                    if event != "BOOKMARK":
                        self.dispatch(kind, event, obj)
                self._watch_trouble = False
                if events or time.monotonic() - began >= 1.0:
                    backoff = 0.2
                    continue  # the server ended the watch on time: resume where it stopped
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info(
                    "watch of %s in %s ended (%s: %s); starting again",
                    kind,
                    namespace,
                    type(exc).__name__,
                    exc,
                )
                self._watch_trouble = True
                since = None
                await self.resync()  # what happened while it was down
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self._housekeeping()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Kubernetes runner housekeeping failed: %s", exc)

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        for tracked in list(self.tracked.values()):
            if tracked.finishing:
                continue
            if tracked.started and not tracked.runtime_reported:
                await self._report_runtime(tracked)
            ended = tracked.runner_ended_at
            if ended is not None and now - ended >= self.runner_grace_seconds:
                # The runner Pod ended but the operator has not said so: trust the Pod.
                self._finish(tracked, None)
        interval = 2.0 if self._watch_trouble else self.resync_seconds
        if now - self._last_resync >= interval:
            await self.resync()

    async def resync(self) -> None:
        """Read every followed object again: a missed event or deletion is seen here."""
        self._last_resync = time.monotonic()
        if not self.tracked:
            return
        client = await self._connect()
        for tracked in list(self.tracked.values()):
            if tracked.finishing or not tracked.created:
                continue
            try:
                obj = await client.get(tracked.kind, tracked.name, tracked.namespace)
                if tracked.kind == "DaskJob" and obj is not None:
                    selector = f"{CLUSTER_LABEL}={tracked.name}"
                    for pod in await client.list("Pod", tracked.namespace, selector):
                        self.dispatch("Pod", "MODIFIED", pod)
            except (ApiError, OSError) as exc:
                log.info("resync of %s %s failed: %s", tracked.kind, tracked.name, exc)
                continue
            if tracked.finishing:
                continue
            if obj is None:
                self._gone(tracked)
            else:
                self.dispatch(tracked.kind, "MODIFIED", obj)

    # ---- in the loop: what events mean -------------------------------------------------

    def dispatch(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        tracked = self.tracked.get(key)
        if kind == "DaskJob":
            if tracked is not None and tracked.kind == "DaskJob":
                self._on_job(tracked, event, obj)
            return
        if tracked is not None and tracked.kind == "Pod":
            self._on_pod(tracked, event, obj)
            return
        cluster = (meta.get("labels") or {}).get(CLUSTER_LABEL)
        owner = self.tracked.get((key[0], cluster)) if cluster else None
        if owner is not None and owner.kind == "DaskJob":
            self._on_job_pod(owner, event, obj)

    def _gone(self, tracked: Tracked) -> None:
        if tracked.created and not tracked.finishing:
            self._finish(
                tracked,
                Observation(
                    FAILED,
                    reason="Deleted",
                    message=f"{tracked.kind} {tracked.name} was deleted before the attempt ended",
                ),
            )

    def _on_pod(self, tracked: Tracked, event: str, pod: dict[str, Any]) -> None:
        if tracked.finishing:
            return
        if event == "DELETED":
            self._gone(tracked)
            return
        tracked.note(disruption(pod))
        observed = pod_observation(pod)
        if observed.terminal:
            self._finish(tracked, observed if observed.state == FAILED else None)
        elif observed.state == RUNNING:
            self._started(tracked, {"pod": tracked.name, "namespace": tracked.namespace})

    def _on_job(self, tracked: Tracked, event: str, job: dict[str, Any]) -> None:
        if tracked.finishing:
            return
        if event == "DELETED":
            self._gone(tracked)
            return
        observed = daskjob_observation(job)
        if observed.terminal:
            self._finish(tracked, observed if observed.state == FAILED else None)
        elif observed.state == RUNNING:
            self._started(tracked, {"daskjob": tracked.name, "namespace": tracked.namespace})

    def _on_job_pod(self, tracked: Tracked, event: str, pod: dict[str, Any]) -> None:
        if tracked.finishing:
            return
        tracked.note(disruption(pod))
        if event == "DELETED":
            return
        stuck = image_pull_failure(pod) or config_failure(pod)
        if stuck is not None:  # a scheduler or worker that never starts stalls the job
            self._finish(tracked, stuck)
            return
        if (pod["metadata"].get("labels") or {}).get(COMPONENT_LABEL) != "job-runner":
            return
        tracked.runner_pod = pod
        observed = pod_observation(pod)
        if observed.terminal and tracked.runner_ended_at is None:
            tracked.runner_ended_at = time.monotonic()
        elif observed.state == RUNNING:
            self._started(tracked, {"daskjob": tracked.name, "namespace": tracked.namespace})

    def _started(self, tracked: Tracked, info: dict[str, Any]) -> None:
        if not tracked.started:
            tracked.started = True
            tracked.events.attempt_info(tracked.spec, info)

    async def _report_runtime(self, tracked: Tracked, ending: bool = False) -> None:
        """Forward what the attempt reported about itself (e.g. its Dask dashboard)."""
        uri = f"{tracked.prefix}/runtime.json"
        if not await asyncio.to_thread(self.blobs.exists, uri):
            return
        try:
            info = json.loads(await asyncio.to_thread(self.blobs.read_bytes, uri))
        except ValueError:
            return  # half-written: read it on the next tick
        if ending or not (tracked.finishing or tracked.runtime_reported):
            tracked.runtime_reported = True
            tracked.events.attempt_info(tracked.spec, info)

    # ---- in the loop: ending an attempt ------------------------------------------------

    def _finish(self, tracked: Tracked, failure: Observation | None) -> None:
        if tracked.finishing:
            return
        tracked.finishing = True
        tracked.task = asyncio.create_task(
            self._complete(tracked, failure), name=f"slipstream-finish-{tracked.name}"
        )

    async def _complete(self, tracked: Tracked, failure: Observation | None) -> None:
        try:
            result = await self._outcome(tracked, failure)
        except Exception as exc:
            log.exception("could not collect the outcome of %s %s", tracked.kind, tracked.name)
            result = system_failure(
                KubernetesRunnerError,
                f"could not collect the outcome of "
                f"{tracked.kind} {tracked.name}: {type(exc).__name__}: {exc}",
            )
        try:
            client = await self._connect()
            await client.delete(tracked.kind, tracked.name, tracked.namespace)
        except Exception as exc:
            log.warning("could not delete %s %s: %s", tracked.kind, tracked.name, exc)
        if self.tracked.get(tracked.key) is tracked:
            del self.tracked[tracked.key]
        if tracked.cancelled:
            return
        if not tracked.runtime_reported:  # it ended before a tick read what it reported
            try:
                await self._report_runtime(tracked, ending=True)
            except Exception as exc:
                log.warning("could not read what %s reported: %s", tracked.name, exc)
        tracked.events.attempt_done(tracked.spec, result)

    async def _outcome(self, tracked: Tracked, failure: Observation | None) -> AttemptResult:
        client = await self._connect()
        if tracked.kind == "DaskJob":
            try:
                pods = await client.list(
                    "Pod", tracked.namespace, f"{CLUSTER_LABEL}={tracked.name}"
                )
            except ApiError:
                pods = []
            for pod in pods:
                tracked.note(disruption(pod))
                if (pod["metadata"].get("labels") or {}).get(COMPONENT_LABEL) == "job-runner":
                    tracked.runner_pod = pod
            runner = tracked.runner_pod
            if runner is not None and (
                failure is None or failure.reason in ("DaskJobFailed", "Deleted")
            ):
                observed = pod_observation(runner)
                if observed.state == FAILED:  # the runner Pod says why more precisely
                    failure = observed
        await self.save_log(client, tracked.namespace, tracked.log_pod, tracked.prefix)
        found = await asyncio.to_thread(read_result, self.blobs, tracked.prefix)
        return final_result(found, failure, tracked.disruptions, f"{tracked.kind} {tracked.name}")

    async def save_log(self, client: KubeClient, namespace: str, pod: str, prefix: str) -> None:
        """Keep the Pod's log in the blob store before the Pod goes."""
        try:
            text = await client.logs(pod, namespace, LOG_LIMIT_BYTES)
            if text:
                await asyncio.to_thread(
                    self.blobs.write_bytes, f"{prefix}/attempt.log", text.encode()
                )
        except Exception as exc:
            log.warning("could not keep the log of Pod %s: %s", pod, exc)

    async def shutdown(self) -> None:
        """Let attempts that ended be reported and cleaned up; stop watching."""
        finishing = [t.task for t in self.tracked.values() if t.task is not None]
        if finishing:
            await asyncio.wait(finishing, timeout=30)
        tasks = [*self._watchers.values(), *([self._ticker] if self._ticker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watchers.clear()
        self._ticker = None

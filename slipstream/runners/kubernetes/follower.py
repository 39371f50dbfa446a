"""Follows attempts' objects to their end through watches and resyncs; used by KubernetesRunner.

Watches (watches.py) follow every object slipstream made (label
`app.kubernetes.io/managed-by`) and, where DaskJobs run, the namespace's Warning events. A
periodic resync lists each watched kind once per namespace, so no end is missed, also while
a watch is down. An attempt that waits on something that may clear (unschedulable, a full
quota, an image pull back-off, a crash loop, an operator error) says why at once and fails
as a system failure after `pending_timeout`; one that cannot succeed (an image that does
not exist, Pods admission refuses) fails at once. When an attempt ends, ending.py keeps its
log, deletes its object and waits for its Pods to go. Everything runs in the runner's loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slipstream.errors import KubernetesRunnerError
from slipstream.runners.kubernetes.client import ApiError, KubeClient
from slipstream.runners.kubernetes.conditions import Waiting, event_key, event_waiting, involves
from slipstream.runners.kubernetes.ending import CLUSTER_LABEL, COMPONENT_LABEL, Ending
from slipstream.runners.kubernetes.launching import create_extras, create_main
from slipstream.runners.kubernetes.results import system_failure
from slipstream.runners.kubernetes.status import (
    FAILED,
    RUNNING,
    Observation,
    config_failure,
    daskjob_observation,
    disruption,
    image_pull_failure,
    pod_observation,
    waiting_reason,
)
from slipstream.runners.kubernetes.tracked import PodWait, Tracked
from slipstream.runners.kubernetes.watches import Watches, selectors

log = logging.getLogger(__name__)
CLUSTER_READY = frozenset({"ClusterCreated", "Running"})  # jobStatus once the DaskCluster exists


class Follower:
    """The attempts one runner follows, by (namespace, main object name)."""

    resync_seconds = 30.0  # list every watched kind again this often, watch or not
    trouble_resync_seconds = 5.0  # ... and this often while a watch is failing
    runner_grace_seconds = 10.0  # a DaskJob's runner ended: wait this long for its jobStatus
    tick_seconds = 1.0

    def __init__(
        self,
        blobs: Any,
        connect: Callable[[], Awaitable[KubeClient]],
        *,
        pending_timeout: float = 600.0,
        delete_timeout: float = 30.0,
    ) -> None:
        self.blobs = blobs
        self._connect = connect
        self.pending_timeout = pending_timeout
        self.tracked: dict[tuple[str, str], Tracked] = {}
        self.watches = Watches(connect, self.dispatch, self.resync)
        self.ending = Ending(blobs, connect, delete_timeout)
        self._ticker: asyncio.Task[None] | None = None
        self._last_resync = 0.0
        self._busy: set[asyncio.Task[Any]] = set()

    # ---- in the loop: starting ---------------------------------------------------------

    def ensure_watching(self, namespace: str, followed: str) -> None:
        # Pods always (a DaskJob's runner and workers are Pods); DaskJobs and events once one
        # is followed, so that a cluster without the operator's CRDs runs plain tasks quietly.
        for kind in ("Pod", *(() if followed == "Pod" else (followed, "Event"))):
            self.watches.ensure(namespace, kind)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick(), name="slipstream-kubernetes-tick")

    async def launch(self, tracked: Tracked, objects: list[dict[str, Any]]) -> Waiting | None:
        """Follow `tracked` and create its objects; a permanent refusal is returned (and the
        attempt dropped), a transient one retried from housekeeping."""
        self.tracked[tracked.key] = tracked
        tracked.unsent = objects
        try:
            client = await self._connect()
            self.ensure_watching(tracked.namespace, tracked.kind)
            waiting = await create_main(client, tracked)
        except BaseException:
            self.tracked.pop(tracked.key, None)
            raise
        if waiting is not None:
            if waiting.permanent:
                self.tracked.pop(tracked.key, None)
                return waiting
            tracked.refusal = waiting
            self._waits(tracked)
            return None
        self._created(tracked)
        return None

    def _created(self, tracked: Tracked) -> None:
        created = tracked.created_object or {}
        self._waits(tracked)
        if created.get("metadata"):
            self.dispatch(tracked.kind, "MODIFIED", created)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._busy.add(task)
        task.add_done_callback(self._busy.discard)

    async def _retry_create(self, tracked: Tracked) -> None:
        client = await self._connect()
        waiting = await create_main(client, tracked)
        if waiting is None and tracked.finishing:  # cancelled meanwhile: it must not run
            await client.delete(tracked.kind, tracked.name, tracked.namespace)
        elif waiting is None:
            self._created(tracked)
        elif waiting.permanent:
            self._fail(tracked, waiting)
        else:
            tracked.refusal = waiting
            self._waits(tracked)

    async def _create_extras(self, tracked: Tracked) -> None:
        if not tracked.extras or tracked.finishing or tracked.creating_extras:
            return
        tracked.creating_extras = True
        try:
            waiting = await create_extras(await self._connect(), tracked)
        finally:
            tracked.creating_extras = False
        if waiting is not None and waiting.permanent:
            self._fail(tracked, waiting)
        elif waiting is not None:
            tracked.retry_at = time.monotonic() + 2.0
            log.info("%s; retrying", waiting.message)

    # ---- in the loop: housekeeping and resyncs -----------------------------------------

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
            if tracked.unsent and now >= tracked.retry_at:
                await self._retry_create(tracked)
            elif tracked.extras and now >= tracked.retry_at and tracked.cluster_ready:
                await self._create_extras(tracked)
            if tracked.started and not tracked.runtime_reported:
                await self.ending.report_runtime(tracked)
            ended = tracked.runner_ended_at
            if ended is not None and now - ended >= self.runner_grace_seconds:
                # The runner Pod ended but the operator has not said so: trust the Pod.
                self._finish(tracked, None)
            self._waits(tracked)
        interval = self.trouble_resync_seconds if self.watches.trouble else self.resync_seconds
        if now - self._last_resync >= interval:
            await self.resync()

    async def resync(self) -> None:
        """List each watched kind once per namespace (label-selected) and take it as news:
        a missed event or deletion is seen here."""
        began = self._last_resync = time.monotonic()
        followed = [t for t in self.tracked.values() if t.created and not t.finishing]
        if not followed:
            return
        client = await self._connect()
        for namespace, kinds in list(self.watches.namespaces.items()):
            if not any(t.namespace == namespace for t in followed):
                continue
            for kind in sorted(kinds, key=("Pod", "Event", "DaskJob").index):
                labels, fields = selectors(kind)
                try:
                    found = await client.list(kind, namespace, labels, fields)
                except (ApiError, OSError) as exc:
                    log.info("resync of %s in %s failed: %s", kind, namespace, exc)
                    continue
                names = set()
                for obj in found:
                    names.add(obj.get("metadata", {}).get("name"))
                    self.dispatch(kind, "MODIFIED", obj)
                for tracked in followed:
                    if (
                        tracked.kind == kind
                        and tracked.namespace == namespace
                        and tracked.name not in names
                        and tracked.created_at < began  # made before the list was asked for
                    ):
                        self._gone(tracked)

    # ---- in the loop: what events mean -------------------------------------------------

    def dispatch(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace", ""))
        if kind == "Event":
            for one in list(self.tracked.values()):
                if one.namespace == namespace and involves(obj, one.name):
                    self._on_event(one, event, obj)
            return
        tracked = self.tracked.get((namespace, str(meta.get("name", ""))))
        if kind == "DaskJob":
            if tracked is not None and tracked.kind == "DaskJob":
                self._on_job(tracked, event, obj)
            return
        if tracked is not None and tracked.kind == "Pod":
            self._on_pod(tracked, event, obj)
            return
        cluster = (meta.get("labels") or {}).get(CLUSTER_LABEL)
        owner = self.tracked.get((namespace, cluster)) if cluster else None
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

    def _on_event(self, tracked: Tracked, event: str, obj: dict[str, Any]) -> None:
        waiting = event_waiting(obj) if event != "DELETED" else None
        if tracked.finishing or waiting is None:
            return
        if waiting.permanent:
            self._fail(tracked, waiting)
            return
        uid = str(obj.get("metadata", {}).get("uid") or obj.get("metadata", {}).get("name"))
        tracked.see_event(uid, waiting, event_key(obj))
        self._waits(tracked)

    def _see_pod(self, tracked: Tracked, event: str, pod: dict[str, Any]) -> bool:
        """Note the Pod's condition; False if that ended the attempt."""
        name = str(pod["metadata"]["name"])
        if event == "DELETED":
            tracked.pods.pop(name, None)
            return True
        stuck = image_pull_failure(pod) or config_failure(pod)
        if stuck is not None:  # a Pod that never starts stalls the attempt
            self._finish(tracked, stuck)
            return False
        component = (pod["metadata"].get("labels") or {}).get(COMPONENT_LABEL, "")
        running = (pod.get("status") or {}).get("phase") == "Running"
        tracked.pods[name] = PodWait(str(component), waiting_reason(pod), running)
        self._waits(tracked)
        return not tracked.finishing

    def _on_pod(self, tracked: Tracked, event: str, pod: dict[str, Any]) -> None:
        if tracked.finishing:
            return
        if event == "DELETED":
            self._gone(tracked)
            return
        tracked.note(disruption(pod))
        if not self._see_pod(tracked, event, pod):
            return
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
        if (job.get("status") or {}).get("jobStatus") in CLUSTER_READY:
            tracked.cluster_ready = True
            if tracked.extras:
                self._spawn(self._create_extras(tracked))
        observed = daskjob_observation(job)
        if observed.terminal:
            self._finish(tracked, observed if observed.state == FAILED else None)
        elif observed.state == RUNNING:
            self._started(tracked, {"daskjob": tracked.name, "namespace": tracked.namespace})

    def _on_job_pod(self, tracked: Tracked, event: str, pod: dict[str, Any]) -> None:
        if tracked.finishing:
            return
        tracked.note(disruption(pod))
        if not self._see_pod(tracked, event, pod) or event == "DELETED":
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
            if tracked.spec.attempt > 1 and not tracked.reported_wait:
                info = {**info, "waiting": "", "notice": ""}  # an earlier attempt's wait is over
            tracked.events.attempt_info(tracked.spec, info)

    def _waits(self, tracked: Tracked) -> None:
        """Say at once why the attempt waits (or that it no longer does); end the wait when
        it outlasts pending_timeout."""
        if tracked.finishing:
            return
        now = time.monotonic()
        waiting, changed = tracked.update_wait(now)
        if changed:
            text = waiting.message if waiting is not None else ""
            info = {"waiting": text, "notice": f"waiting: {text}" if text else ""}
            tracked.events.attempt_info(tracked.spec, info)
        since = tracked.waiting_since
        if waiting is not None and since is not None and now - since >= self.pending_timeout:
            self._fail(
                tracked,
                Waiting(
                    waiting.reason,
                    f"{waiting.message} (waited {now - since:.0f} s; the pending_timeout "
                    f"setting allows {self.pending_timeout:g} s)",
                ),
            )

    def _fail(self, tracked: Tracked, waiting: Waiting) -> None:
        self._finish(
            tracked,
            Observation(
                FAILED,
                reason=waiting.reason,
                message=waiting.message,
                recoverable=not waiting.permanent,
            ),
        )

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
            result = await self.ending.outcome(tracked, failure)
        except Exception as exc:
            log.exception("could not collect the outcome of %s %s", tracked.kind, tracked.name)
            result = system_failure(
                KubernetesRunnerError,
                f"could not collect the outcome of "
                f"{tracked.kind} {tracked.name}: {type(exc).__name__}: {exc}",
            )
        lingering = await self.ending.remove(tracked)
        if self.tracked.get(tracked.key) is tracked:
            del self.tracked[tracked.key]
        if tracked.cancelled:
            return
        if lingering:
            tracked.events.attempt_info(tracked.spec, {"notice": lingering, "lingering": lingering})
        if not tracked.runtime_reported:  # it ended before a tick read what it reported
            try:
                await self.ending.report_runtime(tracked, ending=True)
            except Exception as exc:
                log.warning("could not read what %s reported: %s", tracked.name, exc)
        tracked.events.attempt_done(tracked.spec, result)

    async def save_log(
        self, client: KubeClient, namespace: str, pod: str, prefix: str, container: str = ""
    ) -> None:
        await self.ending.save_log(client, namespace, pod, prefix, container)

    async def shutdown(self) -> None:
        """Let attempts that ended be reported and cleaned up; stop watching."""
        finishing = [t.task for t in self.tracked.values() if t.task is not None]
        if finishing:
            await asyncio.wait(finishing, timeout=60)
        tasks = [*self._busy, *([self._ticker] if self._ticker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.watches.stop()
        self._ticker = None

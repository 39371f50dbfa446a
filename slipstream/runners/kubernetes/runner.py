"""KubernetesRunner: each attempt a Pod or its plugin's DaskJob; the engine makes it.

kr8s runs in the runner's own event-loop thread. One watch per kind (Pods, DaskJobs) per
namespace follows every object slipstream made (label `app.kubernetes.io/managed-by`); a
watch the server ends resumes from its last resourceVersion, one that fails starts over from
the current state, and a periodic resync reads every followed object again, so no end is
missed. When an attempt ends (or is cancelled) its Pod log is copied to
`<output_prefix>/attempt.log` and its object deleted (owned objects follow).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slipstream.config import Settings
from slipstream.errors import SlipstreamError
from slipstream.ir import LiteralMapDocument
from slipstream.runners.base import AttemptHandle, AttemptResult, AttemptSpec, Runner, RunnerEvents
from slipstream.runners.kubernetes.client import ApiError, KubeClient
from slipstream.runners.kubernetes.names import NODE_ANNOTATION, SELECTOR, attempt_selector
from slipstream.runners.kubernetes.pods import attempt_objects
from slipstream.runners.kubernetes.results import final_result, read_result, system_failure
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
T = TypeVar("T")
CALL_TIMEOUT = 90.0
LOG_LIMIT_BYTES = 8 << 20
CLUSTER_LABEL = "dask.org/cluster-name"
COMPONENT_LABEL = "dask.org/component"
_file_store_warned = False


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


def _warn_file_store(root: str) -> None:
    global _file_store_warned
    if root.startswith("file://") and not _file_store_warned:
        _file_store_warned = True
        log.warning(
            "the blob store %s is a local folder: the Kubernetes runner only works with it when "
            "the Pods share this machine's filesystem; set blob_url (SLIPSTREAM_BLOB_URL) to an "
            "s3://, gs:// or abfs:// URL for a real cluster",
            root,
        )


class KubernetesRunner(Runner):
    """See the module docstring. `plugins` is the engine's PluginRegistry."""

    name = "kubernetes"
    watch_timeout_seconds = 300.0  # the server ends each watch after this; we resume it
    resync_seconds = 30.0  # read every followed object again this often, watch or not
    runner_grace_seconds = 10.0  # a DaskJob's runner ended: wait this long for its jobStatus
    tick_seconds = 1.0

    def __init__(self, settings: Settings, blobs: Any, *, plugins: Any = None) -> None:
        if plugins is None:
            from slipstream.sdk.plugins import default_plugins

            plugins = default_plugins
        self.settings = settings
        self.blobs = blobs
        self.plugins = plugins
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._client: KubeClient | None = None
        self._connecting: asyncio.Lock | None = None
        # Touched only in the loop thread:
        self._tracked: dict[tuple[str, str], Tracked] = {}
        self._watchers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._last_resync = 0.0
        self._watch_trouble = False
        _warn_file_store(str(blobs.root))

    # ---- the loop thread ---------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def main() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(
                    target=main, name="slipstream-kubernetes", daemon=True
                )
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def _call(
        self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = CALL_TIMEOUT
    ) -> T:
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(factory(), loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the Kubernetes API did not answer within {timeout:g} s") from None

    async def _api(self) -> KubeClient:
        if self._client is None:
            if self._connecting is None:
                self._connecting = asyncio.Lock()
            async with self._connecting:
                if self._client is None:
                    self._client = await KubeClient.connect(self.settings.kubeconfig)
        return self._client

    # ---- Runner ------------------------------------------------------------------------

    def objects_for(self, spec: AttemptSpec) -> list[dict[str, Any]]:
        """What `launch(spec)` creates (the followed object first)."""
        return attempt_objects(
            spec,
            self.settings,
            self.plugins,
            blob_url=str(self.blobs.root),
            offload_threshold=self.settings.offload_threshold,
        )

    def launch(self, spec: AttemptSpec, events: RunnerEvents) -> AttemptHandle:
        prefix = spec.output_prefix
        try:
            objects = self.objects_for(spec)
        except SlipstreamError as exc:  # no image, a broken plugin: retrying will not help
            events.attempt_done(
                spec, system_failure("KubernetesConfigError", str(exc), recoverable=False)
            )
            return AttemptHandle(runner=self.name, ref={"prefix": prefix})
        self.blobs.write_document(f"{prefix}/inputs.json", LiteralMapDocument(literals=spec.inputs))
        main = objects[0]["metadata"]
        ref = {
            "kind": objects[0]["kind"],
            "name": main["name"],
            "namespace": main["namespace"],
            "prefix": prefix,
        }
        refused = self._call(lambda: self._create(spec, events, objects))
        if refused is not None:
            events.attempt_done(spec, refused)
        return AttemptHandle(runner=self.name, ref=ref)

    def cancel(self, handle: AttemptHandle) -> None:
        if handle.ref.get("name"):
            self._call(lambda: self._cancel(handle.ref))

    def adopt(self, handle: AttemptHandle, spec: AttemptSpec, events: RunnerEvents) -> bool:
        return self._call(lambda: self._adopt(dict(handle.ref), spec, events))

    def logs(self, handle: AttemptHandle, output_prefix: str) -> str:
        """The attempt's log: from its Pod while it exists, else the copy in the blob store;
        then the Dask scheduler and worker logs the attempt kept, if any."""
        ref = handle.ref
        text: str | None = None
        if ref.get("name"):
            try:
                text = self._call(lambda: self._live_log(ref), timeout=60)
            except (ApiError, OSError, TimeoutError) as exc:
                log.warning(
                    "could not read the log of %s %s: %s", ref.get("kind"), ref.get("name"), exc
                )
        if text is None:
            text = self._blob_text(f"{output_prefix}/attempt.log")
        parts = [text or ""]
        for name in ("dask-scheduler.log", "dask-workers.log"):
            extra = self._blob_text(f"{output_prefix}/{name}")
            if extra:
                parts.append(f"==> {name} <==\n{extra}")
        return "".join(parts)

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(60)
        except Exception as exc:  # closing must not hide what the caller is doing
            log.warning("the Kubernetes runner did not close cleanly: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    # ---- in the loop: creating, cancelling, adopting ---------------------------------------

    async def _create(
        self, spec: AttemptSpec, events: RunnerEvents, objects: list[dict[str, Any]]
    ) -> AttemptResult | None:
        main = objects[0]
        meta = main["metadata"]
        tracked = Tracked(
            spec, events, main["kind"], meta["name"], meta["namespace"], spec.output_prefix
        )
        self._tracked[tracked.key] = tracked
        try:
            client = await self._api()
            self._ensure_watching(tracked.namespace, tracked.kind)
            try:
                created = await client.create(main)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                # Made by an earlier try of this very launch: follow it.
                created = await client.get(tracked.kind, tracked.name, tracked.namespace) or {}
            owner = {
                "apiVersion": main["apiVersion"],
                "kind": main["kind"],
                "name": meta["name"],
                "uid": created.get("metadata", {}).get("uid", ""),
                "blockOwnerDeletion": True,
            }
            for extra in objects[1:]:
                if owner["uid"]:  # so that deleting the main object deletes it too
                    extra["metadata"]["ownerReferences"] = [owner]
                try:
                    await client.create(extra)
                except ApiError as exc:
                    if exc.status != 409:
                        await client.delete(tracked.kind, tracked.name, tracked.namespace)
                        raise
        except ApiError as exc:
            self._tracked.pop(tracked.key, None)
            if 400 <= exc.status < 500 and exc.status not in (408, 429):
                hint = ""
                if exc.status == 404 and main["kind"] != "Pod":
                    hint = f" (is the operator that serves {main['kind']} installed?)"
                return system_failure(
                    "KubernetesApiError",
                    f"the API server refused to create {main['kind']} {meta['name']} in "
                    f"namespace {meta['namespace']}: {exc}{hint}",
                    recoverable=False,
                )
            raise
        except BaseException:
            self._tracked.pop(tracked.key, None)
            raise
        tracked.created = True
        if created.get("metadata"):
            self._dispatch(tracked.kind, "MODIFIED", created)
        return None

    async def _cancel(self, ref: dict[str, Any]) -> None:
        namespace = str(ref.get("namespace") or self.settings.namespace)
        name, kind = str(ref["name"]), str(ref.get("kind") or "Pod")
        tracked = self._tracked.pop((namespace, name), None)
        log_pod = name if kind == "Pod" else f"{name}-runner"
        if tracked is not None:
            tracked.cancelled = tracked.finishing = True
            log_pod = tracked.log_pod
        client = await self._api()
        prefix = str(ref.get("prefix") or (tracked.prefix if tracked else ""))
        if prefix:
            await self._save_log(client, namespace, log_pod, prefix)
        await client.delete(kind, name, namespace)

    async def _adopt(self, ref: dict[str, Any], spec: AttemptSpec, events: RunnerEvents) -> bool:
        client = await self._api()
        namespace = str(ref.get("namespace") or self.settings.namespace)
        prefix = str(ref.get("prefix") or spec.output_prefix)
        kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        obj = await client.get(kind, name, namespace) if kind and name else None
        if obj is None:  # no handle was saved: find it by its labels
            obj = await self._find_by_labels(client, spec, namespace)
            if obj is not None:
                kind, name = obj["kind"], obj["metadata"]["name"]
        if obj is None:
            found = await asyncio.to_thread(read_result, self.blobs, prefix)
            if found is None:
                return False
            events.attempt_done(spec, found)  # it ended, and its object is gone already
            return True
        tracked = Tracked(spec, events, kind, name, namespace, prefix, created=True)
        self._tracked[tracked.key] = tracked
        self._ensure_watching(namespace, kind)
        if kind == "DaskJob":
            for pod in await client.list("Pod", namespace, f"{CLUSTER_LABEL}={name}"):
                self._dispatch("Pod", "MODIFIED", pod)
        self._dispatch(kind, "MODIFIED", obj)
        return True

    async def _find_by_labels(
        self, client: KubeClient, spec: AttemptSpec, namespace: str
    ) -> dict[str, Any] | None:
        selector = attempt_selector(spec.execution_id, spec.attempt)
        for kind in ("DaskJob", "Pod"):
            for obj in await client.list(kind, namespace, selector):
                meta = obj["metadata"]
                if COMPONENT_LABEL in (meta.get("labels") or {}):
                    continue  # a DaskJob's own Pods: follow the DaskJob
                if (meta.get("annotations") or {}).get(NODE_ANNOTATION) == spec.node_id:
                    obj.setdefault("kind", kind)
                    return obj
        return None

    # ---- in the loop: watching ---------------------------------------------------------

    def _ensure_watching(self, namespace: str, followed: str) -> None:
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
                client = await self._api()
                async for event, obj in client.watch(
                    kind, namespace, SELECTOR, since, self.watch_timeout_seconds
                ):
                    if event == "ERROR":  # e.g. 410 Gone: start over from the current state
                        since = None
                        raise ApiError(int(obj.get("code") or 0), str(obj.get("message")))
                    since = obj.get("metadata", {}).get("resourceVersion") or since
                    events += 1
                    if event != "BOOKMARK":
                        self._dispatch(kind, event, obj)
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
                await self._resync()  # what happened while it was down
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
        for tracked in list(self._tracked.values()):
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
            await self._resync()

    async def _resync(self) -> None:
        """Read every followed object again: a missed event or deletion is seen here."""
        self._last_resync = time.monotonic()
        if not self._tracked:
            return
        client = await self._api()
        for tracked in list(self._tracked.values()):
            if tracked.finishing or not tracked.created:
                continue
            try:
                obj = await client.get(tracked.kind, tracked.name, tracked.namespace)
                if tracked.kind == "DaskJob" and obj is not None:
                    selector = f"{CLUSTER_LABEL}={tracked.name}"
                    for pod in await client.list("Pod", tracked.namespace, selector):
                        self._dispatch("Pod", "MODIFIED", pod)
            except (ApiError, OSError) as exc:
                log.info("resync of %s %s failed: %s", tracked.kind, tracked.name, exc)
                continue
            if tracked.finishing:
                continue
            if obj is None:
                self._gone(tracked)
            else:
                self._dispatch(tracked.kind, "MODIFIED", obj)

    # ---- in the loop: what events mean -------------------------------------------------

    def _dispatch(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        tracked = self._tracked.get(key)
        if kind == "DaskJob":
            if tracked is not None and tracked.kind == "DaskJob":
                self._on_job(tracked, event, obj)
            return
        if tracked is not None and tracked.kind == "Pod":
            self._on_pod(tracked, event, obj)
            return
        cluster = (meta.get("labels") or {}).get(CLUSTER_LABEL)
        owner = self._tracked.get((key[0], cluster)) if cluster else None
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
                "KubernetesRunnerError",
                f"could not collect the outcome of "
                f"{tracked.kind} {tracked.name}: {type(exc).__name__}: {exc}",
            )
        try:
            client = await self._api()
            await client.delete(tracked.kind, tracked.name, tracked.namespace)
        except Exception as exc:
            log.warning("could not delete %s %s: %s", tracked.kind, tracked.name, exc)
        if self._tracked.get(tracked.key) is tracked:
            del self._tracked[tracked.key]
        if tracked.cancelled:
            return
        if not tracked.runtime_reported:  # it ended before a tick read what it reported
            try:
                await self._report_runtime(tracked, ending=True)
            except Exception as exc:
                log.warning("could not read what %s reported: %s", tracked.name, exc)
        tracked.events.attempt_done(tracked.spec, result)

    async def _outcome(self, tracked: Tracked, failure: Observation | None) -> AttemptResult:
        client = await self._api()
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
        await self._save_log(client, tracked.namespace, tracked.log_pod, tracked.prefix)
        found = await asyncio.to_thread(read_result, self.blobs, tracked.prefix)
        return final_result(found, failure, tracked.disruptions, f"{tracked.kind} {tracked.name}")

    async def _save_log(self, client: KubeClient, namespace: str, pod: str, prefix: str) -> None:
        """Keep the Pod's log in the blob store before the Pod goes."""
        try:
            text = await client.logs(pod, namespace, LOG_LIMIT_BYTES)
            if text:
                await asyncio.to_thread(
                    self.blobs.write_bytes, f"{prefix}/attempt.log", text.encode()
                )
        except Exception as exc:
            log.warning("could not keep the log of Pod %s: %s", pod, exc)

    async def _live_log(self, ref: dict[str, Any]) -> str | None:
        client = await self._api()
        namespace = str(ref.get("namespace") or self.settings.namespace)
        name = str(ref["name"])
        pod = name if ref.get("kind", "Pod") == "Pod" else f"{name}-runner"
        return await client.logs(pod, namespace, LOG_LIMIT_BYTES)

    def _blob_text(self, uri: str) -> str:
        try:
            if self.blobs.exists(uri):
                return str(self.blobs.read_bytes(uri).decode(errors="replace"))
        except (OSError, SlipstreamError):
            pass
        return ""

    async def _shutdown(self) -> None:
        finishing = [t.task for t in self._tracked.values() if t.task is not None]
        if finishing:  # let attempts that ended be reported and cleaned up
            await asyncio.wait(finishing, timeout=30)
        tasks = [*self._watchers.values(), *([self._ticker] if self._ticker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watchers.clear()
        self._ticker = None
        if self._client is not None:
            await self._client.close()
            self._client = None

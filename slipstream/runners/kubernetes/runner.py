"""KubernetesRunner: each attempt a Pod or its plugin's DaskJob; the engine makes it.

kr8s runs in the runner's own event-loop thread; launch, cancel, adopt and logs hop into it.
What happens to the objects afterwards is the Follower's business (follower.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from slipstream.config import Settings
from slipstream.errors import KubernetesConfigError, SlipstreamError
from slipstream.runners.base import (
    AttemptHandle,
    AttemptResult,
    AttemptSpec,
    Runner,
    RunnerCapabilities,
    RunnerEvents,
)
from slipstream.runners.contract import read_result, write_inputs
from slipstream.runners.kubernetes.client import ApiError, KubeClient
from slipstream.runners.kubernetes.ending import (
    CLUSTER_LABEL,
    COMPONENT_LABEL,
    LOG_LIMIT_BYTES,
    first_container,
)
from slipstream.runners.kubernetes.follower import Follower
from slipstream.runners.kubernetes.names import NODE_ANNOTATION, attempt_selector
from slipstream.runners.kubernetes.pods import attempt_objects, log_container
from slipstream.runners.kubernetes.results import system_failure, waiting_failure
from slipstream.runners.kubernetes.tracked import Tracked

log = logging.getLogger(__name__)
T = TypeVar("T")
CALL_TIMEOUT = 90.0
_file_store_warned = False


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
    capabilities = RunnerCapabilities(finds_by_labels=True, has_logs=True, needs_bundle=True)

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
        self._follower = Follower(  # touched only in the loop thread
            blobs,
            self._api,
            pending_timeout=settings.pending_timeout,
            delete_timeout=settings.delete_timeout,
        )
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
                spec, system_failure(KubernetesConfigError, str(exc), recoverable=False)
            )
            return AttemptHandle(runner=self.name, ref={"prefix": prefix})
        write_inputs(self.blobs, spec, spec.inputs)
        main = objects[0]["metadata"]
        ref = {
            "kind": objects[0]["kind"],
            "name": main["name"],
            "namespace": main["namespace"],
            "prefix": prefix,
            "container": log_container(objects[0]),
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
        tracked.container = log_container(main)
        refused = await self._follower.launch(tracked, objects)
        return waiting_failure(refused) if refused is not None else None

    async def _cancel(self, ref: dict[str, Any]) -> None:
        namespace = str(ref.get("namespace") or self.settings.namespace)
        name, kind = str(ref["name"]), str(ref.get("kind") or "Pod")
        tracked = self._follower.tracked.pop((namespace, name), None)
        log_pod = name if kind == "Pod" else f"{name}-runner"
        if tracked is not None:
            tracked.cancelled = tracked.finishing = True
            log_pod = tracked.log_pod
        client = await self._api()
        prefix = str(ref.get("prefix") or (tracked.prefix if tracked else ""))
        if prefix:
            container = str(ref.get("container") or (tracked.container if tracked else ""))
            await self._follower.save_log(client, namespace, log_pod, prefix, container)
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
        tracked.container = str(ref.get("container") or "")
        tracked.cluster_ready = True  # its extra objects were made by the engine that died
        self._follower.tracked[tracked.key] = tracked
        self._follower.ensure_watching(namespace, kind)
        if kind == "DaskJob":
            for pod in await client.list("Pod", namespace, f"{CLUSTER_LABEL}={name}"):
                self._follower.dispatch("Pod", "MODIFIED", pod)
        self._follower.dispatch(kind, "MODIFIED", obj)
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

    async def _live_log(self, ref: dict[str, Any]) -> str | None:
        client = await self._api()
        namespace = str(ref.get("namespace") or self.settings.namespace)
        name = str(ref["name"])
        pod = name if ref.get("kind", "Pod") == "Pod" else f"{name}-runner"
        container = str(ref.get("container") or "") or await first_container(client, namespace, pod)
        return await client.logs(pod, namespace, LOG_LIMIT_BYTES, container)

    def _blob_text(self, uri: str) -> str:
        try:
            if self.blobs.exists(uri):
                return str(self.blobs.read_bytes(uri).decode(errors="replace"))
        except (OSError, SlipstreamError):
            pass
        return ""

    async def _shutdown(self) -> None:
        await self._follower.shutdown()
        if self._client is not None:
            await self._client.close()
            self._client = None

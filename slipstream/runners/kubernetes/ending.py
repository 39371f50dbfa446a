"""The end of an attempt on Kubernetes: its outcome, its log, its objects gone; for the follower.

Deleting a DaskJob only asks for it to go: the operator's finalizers and its Pods' grace
periods decide when it does, and with the operator down they never do. `remove` deletes
the attempt's main object and waits (bounded) until it and its Pods are gone, and says what
lingers when they are not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slipstream.runners.base import AttemptResult
from slipstream.runners.contract import read_result
from slipstream.runners.kubernetes.client import ApiError, KubeClient
from slipstream.runners.kubernetes.results import final_result
from slipstream.runners.kubernetes.status import FAILED, Observation, disruption, pod_observation
from slipstream.runners.kubernetes.tracked import Tracked

log = logging.getLogger(__name__)
LOG_LIMIT_BYTES = 8 << 20
CLUSTER_LABEL = "dask.org/cluster-name"
COMPONENT_LABEL = "dask.org/component"
POLL_SECONDS = 0.5


def _leftover(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    kind = obj.get("kind") or "Pod"
    finalizers = meta.get("finalizers") or []
    held = f" (finalizers: {', '.join(finalizers)})" if finalizers else ""
    return f"{kind} {meta.get('name')}{held}"


async def first_container(client: KubeClient, namespace: str, pod: str) -> str:
    """The name of the Pod's first container (ours: sidecar injectors add theirs after)."""
    found = await client.get("Pod", pod, namespace)
    containers = ((found or {}).get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("name") or "")


class Ending:
    """See the module docstring."""

    def __init__(
        self, blobs: Any, connect: Callable[[], Awaitable[KubeClient]], delete_timeout: float
    ) -> None:
        self.blobs = blobs
        self._connect = connect
        self.delete_timeout = delete_timeout

    async def outcome(self, tracked: Tracked, failure: Observation | None) -> AttemptResult:
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
        if tracked.created:
            await self.save_log(
                client, tracked.namespace, tracked.log_pod, tracked.prefix, tracked.container
            )
        found = await asyncio.to_thread(read_result, self.blobs, tracked.prefix)
        return final_result(found, failure, tracked.disruptions, f"{tracked.kind} {tracked.name}")

    async def save_log(
        self, client: KubeClient, namespace: str, pod: str, prefix: str, container: str = ""
    ) -> None:
        """Keep the log of the Pod's container in the blob store before the Pod goes."""
        try:
            container = container or await first_container(client, namespace, pod)
            text = await client.logs(pod, namespace, LOG_LIMIT_BYTES, container)
            if text:
                await asyncio.to_thread(
                    self.blobs.write_bytes, f"{prefix}/attempt.log", text.encode()
                )
        except Exception as exc:
            log.warning("could not keep the log of Pod %s: %s", pod, exc)

    async def remove(self, tracked: Tracked) -> str:
        """Delete the attempt's object; wait until it and its Pods are gone. "" when they
        are, else what lingers after `delete_timeout` seconds (also logged)."""
        if not tracked.created:
            return ""
        try:
            client = await self._connect()
            await client.delete(tracked.kind, tracked.name, tracked.namespace)
            left = await self._wait_gone(client, tracked)
        except Exception as exc:
            log.warning("could not delete %s %s: %s", tracked.kind, tracked.name, exc)
            return ""
        if not left:
            return ""
        message = (
            f"{tracked.kind} {tracked.name} was deleted but after {self.delete_timeout:g} s "
            f"these remain: {'; '.join(left)} (is the operator running? they may still "
            f"hold nodes)"
        )
        log.warning("%s", message)
        return message

    async def _wait_gone(self, client: KubeClient, tracked: Tracked) -> list[str]:
        deadline = time.monotonic() + self.delete_timeout
        while True:
            left = []
            main = await client.get(tracked.kind, tracked.name, tracked.namespace)
            if main is not None:
                left.append(_leftover({"kind": tracked.kind, **main}))
            if tracked.kind == "DaskJob":
                selector = f"{CLUSTER_LABEL}={tracked.name}"
                pods = await client.list("Pod", tracked.namespace, selector)
                left += [_leftover({**pod, "kind": "Pod"}) for pod in pods]
            if not left or time.monotonic() >= deadline:
                return left
            await asyncio.sleep(POLL_SECONDS)

    async def report_runtime(self, tracked: Tracked, ending: bool = False) -> None:
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

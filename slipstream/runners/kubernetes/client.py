"""The few Kubernetes API calls the runner makes, through kr8s (asyncio); used only by runner.py.

The one module that imports kr8s. Every call runs in the runner's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import kr8s
import kr8s.asyncio
from kr8s.asyncio.objects import object_from_spec

from slipstream.config import IN_CLUSTER

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
REQUEST_TIMEOUT = 30.0
# Plurals (with their API group) of the kinds the runner follows or creates.
RESOURCES = {
    "Pod": "pods",
    "DaskJob": "daskjobs.kubernetes.dask.org",
    "DaskCluster": "daskclusters.kubernetes.dask.org",
    "DaskWorkerGroup": "daskworkergroups.kubernetes.dask.org",
    "DaskAutoscaler": "daskautoscalers.kubernetes.dask.org",
    "Event": "events",
}


class ApiError(Exception):
    """The API server refused a request; `status` is its HTTP status (0: no answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


class KubeClient:
    """A kr8s API object bound to the loop it was made in."""

    def __init__(self, api: Any) -> None:
        self.api = api

    @classmethod
    async def connect(cls, kubeconfig: str) -> KubeClient:
        """kubeconfig: a file, "in-cluster" (the Pod's service account), or "" (kr8s' default
        discovery: $KUBECONFIG, ~/.kube/config, then a service account)."""
        if kubeconfig == IN_CLUSTER:
            api = await kr8s.asyncio.api(serviceaccount=SERVICE_ACCOUNT_DIR)
        elif kubeconfig:
            api = await kr8s.asyncio.api(kubeconfig=kubeconfig)
        else:
            api = await kr8s.asyncio.api()
        api.timeout = REQUEST_TIMEOUT
        return cls(api)

    async def close(self) -> None:
        session = getattr(self.api, "_session", None)
        if session is not None:
            with contextlib.suppress(Exception):
                await session.aclose()
        # kr8s caches clients per (thread id, loop id); both ids are reused once this loop
        # is gone, and a later runner must not get a client bound to a dead loop.
        from kr8s._api import Api  # noqa: PLC2701 - kr8s keeps its client cache there

        key = f"{threading.get_ident()}.{id(asyncio.get_running_loop())}"
        Api._instances.pop(key, None)  # noqa: SLF001 - kr8s's per-loop client cache

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        obj = object_from_spec(manifest, api=self.api, allow_unknown_type=True)
        try:
            await obj.create()
        except kr8s.ServerError as exc:
            raise ApiError(_status(exc), str(exc)) from exc
        return dict(obj.raw)

    async def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        found = await self.list(kind, namespace, field_selector=f"metadata.name={name}")
        return next((o for o in found if o["metadata"]["name"] == name), None)

    async def list(
        self,
        kind: str,
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        try:
            return [
                dict(obj.raw)
                async for obj in self.api.get(
                    RESOURCES[kind],
                    namespace=namespace,
                    label_selector=label_selector,
                    field_selector=field_selector,
                )
            ]
        except kr8s.ServerError as exc:
            raise ApiError(_status(exc), str(exc)) from exc

    async def delete(self, kind: str, name: str, namespace: str) -> bool:
        """Delete in the background (owned objects follow); False if it was not there."""
        body = {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
        }
        if kind != "Pod":
            body["apiVersion"] = "kubernetes.dask.org/v1"
        obj = object_from_spec(body, api=self.api, allow_unknown_type=True)
        try:
            await obj.delete(propagation_policy="Background")
        except kr8s.NotFoundError:
            return False
        except kr8s.ServerError as exc:
            if _status(exc) == 404:
                return False
            raise ApiError(_status(exc), str(exc)) from exc
        return True

    async def logs(
        self, pod: str, namespace: str, limit_bytes: int, container: str = ""
    ) -> str | None:
        """The log (its last `limit_bytes`) of one container of the Pod, or None if the Pod
        is gone. Name the container: a Pod with an injected sidecar answers 400 without."""
        params = {"limitBytes": str(limit_bytes)}
        if container:
            params["container"] = container
        try:
            async with self.api.call_api(
                "GET",
                version="v1",
                namespace=namespace,
                url=f"pods/{pod}/log",
                params=params,
            ) as response:
                return str(response.text)
        except kr8s.ServerError as exc:
            if _status(exc) in (400, 404):  # gone, or its container never started
                return None
            raise ApiError(_status(exc), str(exc)) from exc

    async def watch(
        self,
        kind: str,
        namespace: str,
        label_selector: str | None,
        since: str | None,
        timeout_seconds: float,
        *,
        read_timeout: float,
        field_selector: str | None = None,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(type, object) events; ends when the server closes the watch (its timeout).

        Raises TimeoutError when nothing arrives for `read_timeout` seconds: a connection
        that a NAT or load balancer dropped without closing it looks exactly like that.
        """
        params = {
            "timeoutSeconds": str(max(1, int(timeout_seconds))),
            "allowWatchBookmarks": "true",
        }
        if since:
            params["resourceVersion"] = since
        try:
            async with self.api.async_get_kind(
                RESOURCES[kind],
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                params=params,
                watch=True,
                timeout=None,
            ) as (_, response):
                lines = response.aiter_lines().__aiter__()
                while True:
                    try:
                        async with asyncio.timeout(read_timeout):
                            line = await anext(lines)
                    except StopAsyncIteration:
                        return
                    if line.strip():
                        event = json.loads(line)
                        yield str(event.get("type", "")), dict(event.get("object") or {})
        except kr8s.ServerError as exc:
            raise ApiError(_status(exc), str(exc)) from exc

"""The test Kubernetes API server: kmock's emulator over real HTTP, behaving like a real one.

Used by the harness (cluster.py) and by tests that talk HTTP through kr8s or kopf. What kmock
0.8 lacks and this adds: uid/resourceVersion/creationTimestamp stamping, `GET /version/`,
correct paths for namespaces, label and field selectors on list and watch, watch resumption
from a resourceVersion, status subresources, JSON/merge patches, PUT, delete-collection,
finalizers, graceful Pod deletion, garbage collection by ownerReferences and pods/log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import enums, rendering

from .changes import Change, Gone
from .objects import api_error
from .podlogs import PodLogs, tail
from .resources import VERBS, ResourceSpec, ResourceTable, default_resources
from .routing import int_param, parse_request
from .selectors import Selector, SelectorError
from .store import Store

_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
}


@attrs.define(kw_only=True)
class Apiserver(kmock.KubernetesEmulator):
    """kmock's KubernetesEmulator with real API server semantics (see the module docstring)."""

    specs: tuple[ResourceSpec, ...] = attrs.field(factory=default_resources)
    git_version: str = "v1.31.4"
    table: ResourceTable = attrs.field(init=False)
    store: Store = attrs.field(init=False)
    logs: PodLogs = attrs.field(init=False)
    _outcomes: dict[rendering.Request, Any] = attrs.field(factory=dict, init=False)
    _watch_count: int = attrs.field(default=0, init=False)
    _stall_before: dict[str, int] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.table = ResourceTable(self.specs)
        self.store = Store(self.objects, self.table)
        self.logs = PodLogs()
        self.store.listeners.append(self._forget_logs)
        for spec in self.specs:
            self.resources[kmock.resource(spec.group, spec.version, spec.plural)] = (
                kmock.ResourceInfo(
                    kind=spec.kind,
                    singular=spec.singular,
                    namespaced=spec.namespaced,
                    verbs=VERBS,
                    shortnames=spec.short_names,
                    subresources=spec.subresources,
                )
            )
        # kr8s asks for the discovery roots with a trailing slash.
        self.fallback["get /version/"] << self._serve_server_version
        self.fallback["get /api/"] << self._serve_api
        self.fallback["get /apis/"] << self._serve_apis
        self.fallback[kmock.method.PUT] << self._serve_replace
        self.fallback[kmock.method.DELETE] << self._serve_delete_collection

    async def shutdown(self) -> None:
        """End all watches and log streams, so that the HTTP server stops without waiting."""
        await self.store.close()
        await self.logs.finish_all()

    def _forget_logs(self, change: Change) -> None:
        if change.type == "DELETED" and change.spec.kind == "Pod":
            self.logs.forget(change.obj["metadata"]["uid"])

    async def _serve_server_version(self, request: rendering.Request) -> rendering.Payload:
        major, minor, _ = self.git_version.lstrip("v").split(".", 2)
        return {
            "major": major,
            "minor": minor,
            "gitVersion": self.git_version,
            "gitCommit": "0" * 40,
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.23.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    # ---- request routing -----------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # RawHandler.__call__ with our request parser; errors become Kubernetes Status bodies.
        await raw_request.read()
        raw_response: aiohttp.web.StreamResponse | None = None
        try:
            request = await parse_request(raw_request, id=len(self._requests))
            self._requests.append(request)
            try:
                return await self._handle(request)
            except rendering.StreamingError as e:
                raw_response = e.args[0]
                if e.__cause__ is not None:
                    raise e.__cause__ from None
                raise
        except Exception as e:
            if not self._errors:
                raise
            self._errors[-1].append(e)
            if raw_response is None or not raw_response.prepared:
                return await self._render_error(e)
            await self._stream_error(e, raw_response)
            await raw_response.write_eof()
            return raw_response

    def _spec(self, request: rendering.Request) -> ResourceSpec | None:
        res = request.resource
        if res is None or res.plural is None or res.version is None or res.group is None:
            return None
        spec = self.table.at(res.group, res.version, res.plural)
        if spec is None:
            raise api_error(
                404,
                "NotFound",
                f"the server could not find the requested resource "
                f"({res.group}/{res.version} {res.plural})",
            )
        if request.namespace is not None and not spec.namespaced:
            raise api_error(404, "NotFound", f"{spec} is cluster-scoped: no namespace in its URL")
        return spec

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        # Writes happen here, before the reactions, as kmock does: a user-defined reaction may
        # still answer the request, but the store always sees the write.
        spec = self._spec(request)
        if spec is not None:
            if request.params.get("dryRun"):
                raise api_error(400, "BadRequest", "dryRun is not implemented by the test server")
            outcome = await self._write(spec, request)
            if outcome is not None:
                self._outcomes[request] = outcome
        try:
            return await kmock.RawHandler._handle(self, request)
        finally:
            self._outcomes.pop(request, None)

    async def _write(self, spec: ResourceSpec, request: rendering.Request) -> Any:
        ns, name, data = request.namespace, request.name, request.data
        if request.action == enums.action.CREATE:
            if request.subresource:
                raise api_error(404, "NotFound", f"POST to {spec}/{request.subresource}")
            return await self.store.create(spec, ns, data)
        if name is None:
            if request.method == enums.method.DELETE:
                selector = self._selector(spec, request.params)
                return [
                    await self.store.delete(
                        spec, obj["metadata"].get("namespace"), obj["metadata"]["name"]
                    )
                    for obj in self.store.list(spec, ns, selector)
                ]
            return None
        if request.action == enums.action.UPDATE:
            content_type = (
                next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
                .split(";")[0]
                .strip()
            )
            if content_type not in _PATCH_TYPES:
                raise kmock.KubernetesError(
                    status=415,
                    reason="UnsupportedMediaType",
                    message=f"the body of the request was in an unknown format "
                    f"({content_type!r}) - accepted media types include: "
                    f"{', '.join(_PATCH_TYPES)} (server-side apply is not emulated)",
                )
            return await self.store.patch(
                spec,
                ns,
                name,
                data,
                patch_type=_PATCH_TYPES[content_type],
                subresource=request.subresource,
            )
        if request.method == enums.method.PUT:
            return await self.store.replace(spec, ns, name, data, subresource=request.subresource)
        if request.action == enums.action.DELETE:
            options = data if isinstance(data, dict) else {}
            grace = options.get(
                "gracePeriodSeconds", int_param(request.params, "gracePeriodSeconds")
            )
            return await self.store.delete(
                spec,
                ns,
                name,
                propagation=options.get("propagationPolicy")
                or request.params.get("propagationPolicy")
                or "Background",
                grace=grace,
                preconditions=options.get("preconditions"),
            )
        return None

    def _selector(self, spec: ResourceSpec, params: Mapping[str, str]) -> Selector:
        try:
            return Selector.parse(
                params.get("labelSelector"),
                params.get("fieldSelector"),
                spec.selectable_fields,
                spec.kind,
            )
        except SelectorError as e:
            raise api_error(400, "BadRequest", str(e)) from e

    def _must_spec(self, request: rendering.Request) -> ResourceSpec:
        spec = self._spec(request)
        if spec is None:
            raise kmock.KubernetesResourceNotFoundError()
        return spec

    # ---- fallback reactions (what the server answers when no test reaction does) ----------

    async def _serve_create(self, request: rendering.Request) -> rendering.Payload:
        return kmock.Response(status=201, payload=self._outcomes[request])

    async def _serve_update(self, request: rendering.Request) -> rendering.Payload:
        return self._outcomes[request]

    async def _serve_delete(self, request: rendering.Request) -> rendering.Payload:
        return self._outcomes[request]

    async def _serve_replace(self, request: rendering.Request) -> rendering.Payload:
        if request not in self._outcomes:
            raise kmock.KubernetesEndpointNotFoundError()
        return self._outcomes[request]

    async def _serve_delete_collection(self, request: rendering.Request) -> rendering.Payload:
        if request not in self._outcomes:
            raise kmock.KubernetesEndpointNotFoundError()
        spec = self._must_spec(request)
        return self._list_body(spec, self._outcomes[request])

    def _list_body(self, spec: ResourceSpec, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": spec.api_version,
            "kind": f"{spec.kind}List",
            "metadata": {"resourceVersion": str(self.store.rv)},
            "items": items,
        }

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        spec = self._must_spec(request)
        assert request.name is not None
        if spec.kind == "Pod" and request.subresource == "log":
            return self._serve_log(request)
        if request.subresource not in (None, "status") or (
            request.subresource == "status" and not spec.has_status
        ):
            raise api_error(404, "NotFound", f"{spec}/{request.subresource} is not served")
        obj = self.store.get(spec, request.namespace, request.name)
        if obj is None:
            raise api_error(
                404,
                "NotFound",
                f'{spec} "{request.name}" not found',
                name=request.name,
                kind=spec.plural,
            )
        return obj

    def _serve_log(self, request: rendering.Request) -> rendering.Payload:
        assert request.name is not None
        pods = self.table.find("pods")
        pod = self.store.get(pods, request.namespace, request.name)
        if pod is None:
            raise api_error(404, "NotFound", f'pods "{request.name}" not found')
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = request.params.get("container")
        if container is None:
            if len(names) > 1:
                raise api_error(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {request.name}, "
                    f"choose one of: {names}",
                )
            container = names[0]
        if container not in names:
            raise api_error(
                400, "BadRequest", f"container {container} is not valid for pod {request.name}"
            )
        if container != names[0]:
            raise api_error(
                400, "BadRequest", f"the test kubelet runs only the first container ({names[0]})"
            )
        previous = request.params.get("previous") == "true"
        run = self.logs.run(pod["metadata"]["uid"], previous)
        if run is None:
            if previous:
                raise api_error(
                    400,
                    "BadRequest",
                    f'previous terminated container "{container}" in pod '
                    f'"{request.name}" not found',
                )
            statuses = pod.get("status", {}).get("containerStatuses") or [{}]
            waiting = statuses[0].get("state", {}).get("waiting", {})
            raise api_error(
                400,
                "BadRequest",
                f'container "{container}" in pod "{request.name}" is waiting to '
                f"start: {waiting.get('reason', 'ContainerCreating')}",
            )
        snapshot = bytes(run.data)
        data = tail(
            snapshot,
            int_param(request.params, "tailLines"),
            int_param(request.params, "limitBytes"),
        )
        if request.params.get("follow") != "true" or run.finished:
            return data

        async def stream() -> AsyncIterator[bytes]:
            yield data
            async for chunk in self.logs.follow(run, len(snapshot)):
                yield chunk

        return stream()

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        spec = self._must_spec(request)
        return self._list_body(
            spec, self.store.list(spec, request.namespace, self._selector(spec, request.params))
        )

    async def _serve_watch(self, request: rendering.Request) -> rendering.Payload:  # type: ignore[override]
        spec = self._must_spec(request)
        params = dict(request.params)
        if request.name is not None:
            name_field = f"metadata.name={request.name}"
            params["fieldSelector"] = ",".join(
                filter(None, [params.get("fieldSelector"), name_field])
            )
        selector = self._selector(spec, params)
        since = int_param(params, "resourceVersion")
        timeout = int_param(params, "timeoutSeconds")
        initial_bookmark = params.get("sendInitialEvents") == "true"
        return self._watch_stream(
            spec, request.namespace, selector, since if since else None, timeout, initial_bookmark
        )

    def stall_open_watches(self, plural: str) -> None:
        """Watches of `plural` open now go silent without closing (a connection a NAT or load
        balancer dropped): no events, no end at their timeout. Later watches work."""
        self._stall_before[plural] = self._watch_count

    async def _watch_stream(
        self,
        spec: ResourceSpec,
        namespace: str | None,
        selector: Selector,
        since: int | None,
        timeout: int | None,
        initial_bookmark: bool,
    ) -> AsyncIterator[rendering.Payload]:
        yield b""  # send the headers now: the client waits for them before reading
        self._watch_count += 1
        number = self._watch_count
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        changes = self.store.watch(spec, namespace, selector, since, bookmark=initial_bookmark)
        try:
            while True:
                if number <= self._stall_before.get(spec.plural, 0):
                    with contextlib.suppress(Exception):
                        async for _ in changes:  # swallowed until the server shuts down
                            pass
                    return
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return
                try:
                    change = await asyncio.wait_for(anext(changes), remaining)
                except (TimeoutError, StopAsyncIteration):
                    return
                except Gone as e:
                    yield {
                        "type": "ERROR",
                        "object": {
                            "apiVersion": "v1",
                            "kind": "Status",
                            "metadata": {},
                            "status": "Failure",
                            "message": str(e),
                            "reason": "Expired",
                            "code": 410,
                        },
                    }
                    return
                yield {"type": change.type, "object": change.obj}
        finally:
            await changes.aclose()

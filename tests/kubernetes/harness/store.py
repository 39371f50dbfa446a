"""The object store behind the test API server: Kubernetes write semantics over kmock's objects.

The HTTP layer (apiserver.py), the kubelet and the operators all write through it, so uids,
resourceVersions, status subresources, finalizers, graceful Pod deletion and garbage
collection by ownerReferences behave the same for every writer.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime
import json
import re
import secrets
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import attrs
import kmock

from .patching import PatchError, json_patch, merge_patch
from .resources import ResourceSpec, ResourceTable
from .selectors import Selector

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_IMMUTABLE_META = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_POD_MUTABLE_SPEC = ("activeDeadlineSeconds", "tolerations")
TERMINAL_PHASES = ("Succeeded", "Failed")


@attrs.frozen
class ApiError(kmock.KubernetesError):
    """A Kubernetes API error (HTTP layer: rendered as a Status object), readable as text."""

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}"


def api_error(status: int, reason: str, message: str, **details: Any) -> ApiError:
    """An error the HTTP layer renders as a Kubernetes Status object."""
    return ApiError(
        status=status, reason=reason, message=message, details=details or {"causes": []}
    )


def now_iso(offset: float = 0.0) -> str:
    moment = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def clone(obj: Any) -> Any:
    """A deep copy; JSON round-trip because stored objects are JSON anyway (and it is fast)."""
    return json.loads(json.dumps(obj))


@dataclass(frozen=True)
class Change:
    """One write as watchers see it (`old` is None for ADDED)."""

    type: str  # ADDED, MODIFIED, DELETED
    spec: ResourceSpec
    obj: dict[str, Any]
    old: dict[str, Any] | None
    rv: int

    @property
    def namespace(self) -> str | None:
        namespace: str | None = self.obj.get("metadata", {}).get("namespace")
        return namespace

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))


class Gone(Exception):
    """A watch asked to resume from a resourceVersion older than the kept history (HTTP 410)."""


class Store:
    """Objects keyed by (resource, namespace, name); every write emits one Change."""

    def __init__(
        self, objects: kmock.ObjectsArray, table: ResourceTable, history_limit: int = 20000
    ) -> None:
        self.objects = objects
        self.table = table
        self.rv = 0
        self.history: collections.deque[Change] = collections.deque(maxlen=history_limit)
        self.bus: kmock.Bus[Change | None] = kmock.Bus()  # None: the server is shutting down
        self.closed = False
        self.lock = asyncio.Lock()
        self.listeners: list[Callable[[Change], None]] = []
        # Set when a kubelet runs Pods: deleting a live Pod then waits for it to stop.
        self.graceful_pods = False
        self._removed_uids: set[str] = set()
        self._pending: list[Change] = []
        self._ips = 0

    # ---- reading -------------------------------------------------------------------------

    def _key(self, spec: ResourceSpec, namespace: str | None, name: str) -> Any:
        return (
            kmock.resource(spec.group, spec.version, spec.plural),
            namespace if spec.namespaced else None,
            name,
        )

    def _live(self, spec: ResourceSpec, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = self._key(spec, namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        raw: dict[str, Any] = self.objects[key].last.raw
        return raw

    def get(self, spec: ResourceSpec, namespace: str | None, name: str) -> dict[str, Any] | None:
        live = self._live(spec, namespace, name)
        return None if live is None else clone(live)

    def _iter_live(
        self, spec: ResourceSpec | None = None
    ) -> list[tuple[ResourceSpec, dict[str, Any]]]:
        found = []
        for (res, _, _), obj in list(self.objects.items()):
            if obj.deleted:
                continue
            res_spec = self.table.at(res.group, res.version, res.plural)
            if res_spec is None or (spec is not None and res_spec != spec):
                continue
            found.append((res_spec, obj.last.raw))
        return found

    def list(
        self, spec: ResourceSpec, namespace: str | None = None, selector: Selector | None = None
    ) -> list[dict[str, Any]]:
        return [
            clone(obj)
            for _, obj in self._iter_live(spec)
            if namespace is None or obj["metadata"].get("namespace") == namespace
            if selector is None or selector.matches(obj)
        ]

    # ---- emitting ------------------------------------------------------------------------

    def _write(self, spec: ResourceSpec, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = self._key(spec, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if key in self.objects:
            self.objects[key].create(obj)
        else:
            self.objects[key] = obj
        self._emit(Change("MODIFIED" if old else "ADDED", spec, clone(obj), old, self.rv))

    def _remove(self, spec: ResourceSpec, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[self._key(spec, meta.get("namespace"), meta["name"])].delete()
        self.rv += 1
        final = clone(obj)
        final["metadata"]["resourceVersion"] = str(self.rv)
        self._removed_uids.add(meta["uid"])
        self._emit(Change("DELETED", spec, final, clone(obj), self.rv))

    def _emit(self, change: Change) -> None:
        self.history.append(change)
        self._pending.append(change)

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await self.bus.put(*pending)
        for change in pending:
            for listener in list(self.listeners):
                listener(change)

    # ---- writing -------------------------------------------------------------------------

    async def create(
        self, spec: ResourceSpec, namespace: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        async with self.lock:
            try:
                return self._create(spec, namespace, body)
            finally:
                await self._flush()

    def _create(
        self, spec: ResourceSpec, namespace: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise api_error(400, "BadRequest", f"the body of a {spec.kind} must be a JSON object")
        obj = clone(body)
        meta = obj.setdefault("metadata", {})
        for field, expected in (("apiVersion", spec.api_version), ("kind", spec.kind)):
            if obj.setdefault(field, expected) != expected:
                raise api_error(
                    400,
                    "BadRequest",
                    f"{field} {obj[field]!r} does not match {expected!r} of {spec}",
                )
        if spec.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise api_error(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the "
                    f"namespace sent on the request ({body_ns!r} != {namespace!r})",
                )
            meta["namespace"] = namespace = namespace or body_ns or "default"
            if self._live(self.table.find("namespaces"), None, namespace) is None:
                raise api_error(
                    404,
                    "NotFound",
                    f'namespaces "{namespace}" not found',
                    name=namespace,
                    kind="namespaces",
                )
        else:
            meta.pop("namespace", None)
            namespace = None
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise api_error(
                    422,
                    "Invalid",
                    f"{spec.kind}: metadata.name or metadata.generateName is required",
                )
            meta["name"] = meta["generateName"] + "".join(
                secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)
            )
        self._validate_name(spec, meta["name"])
        if self._live(spec, namespace, meta["name"]) is not None:
            raise api_error(
                409,
                "AlreadyExists",
                f'{spec} "{meta["name"]}" already exists',
                name=meta["name"],
                kind=spec.plural,
            )
        for transient in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(transient, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        if spec.has_status:
            obj.pop("status", None)
        self._default(spec, obj)
        self._write(spec, obj, None)
        return clone(obj)

    def _validate_name(self, spec: ResourceSpec, name: str) -> None:
        pattern, limit = (_LABEL, 63) if spec.name_rule == "label" else (_SUBDOMAIN, 253)
        if not isinstance(name, str) or len(name) > limit or not pattern.match(name):
            raise api_error(
                422,
                "Invalid",
                f'{spec.kind} "{name}" is invalid: metadata.name: Invalid value: '
                f"{name!r}: a lowercase RFC 1123 "
                f"{'label' if spec.name_rule == 'label' else 'subdomain'} of at most "
                f"{limit} characters must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric "
                "character",
            )

    def _default(self, spec: ResourceSpec, obj: dict[str, Any]) -> None:
        """The few defaults the real API server applies that our users read back."""
        body_spec = obj.setdefault("spec", {}) if spec.kind in ("Pod", "Service") else None
        if spec.kind == "Pod":
            assert body_spec is not None
            containers = body_spec.get("containers")
            if not isinstance(containers, list) or not containers:
                raise api_error(
                    422,
                    "Invalid",
                    f'Pod "{obj["metadata"]["name"]}" is invalid: spec.containers: Required value',
                )
            for index, container in enumerate(containers):
                if not isinstance(container, dict) or not container.get("name"):
                    raise api_error(
                        422, "Invalid", f"spec.containers[{index}].name: Required value"
                    )
            body_spec.setdefault("restartPolicy", "Always")
            body_spec.setdefault("terminationGracePeriodSeconds", 30)
            body_spec.setdefault("serviceAccountName", "default")
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif spec.kind == "Service":
            assert body_spec is not None
            body_spec.setdefault("type", "ClusterIP")
            if body_spec.get("clusterIP") != "None":
                self._ips += 1
                body_spec["clusterIP"] = f"10.96.{self._ips // 250}.{self._ips % 250 + 1}"
                body_spec["clusterIPs"] = [body_spec["clusterIP"]]
            obj["status"] = {"loadBalancer": {}}
        elif spec.kind == "Secret" and obj.get("stringData"):
            # stringData is write-only: it lands base64-encoded in data.
            data = obj.setdefault("data", {})
            for key, value in obj.pop("stringData").items():
                data[key] = base64.b64encode(str(value).encode()).decode()
        elif spec.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        elif spec.kind == "Deployment":
            obj.setdefault("spec", {}).setdefault("replicas", 1)

    async def patch(
        self,
        spec: ResourceSpec,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        system: bool = False,
    ) -> dict[str, Any]:
        """Apply a merge ("merge"/"strategic") or JSON ("json") patch; `system` skips Pod rules."""
        async with self.lock:
            try:
                old = self._require(spec, namespace, name, subresource)
                if patch_type == "json":
                    try:
                        new = json_patch(old, patch)
                    except PatchError as e:
                        raise api_error(
                            422, "Invalid", f"JSON patch of {spec} {name!r}: {e}"
                        ) from e
                elif isinstance(patch, dict):
                    self._check_precondition(spec, old, patch)
                    new = merge_patch(old, patch)
                else:
                    raise api_error(
                        400,
                        "BadRequest",
                        f"a merge patch must be a JSON object, got {type(patch).__name__}",
                    )
                return self._update(spec, old, new, subresource, system)
            finally:
                await self._flush()

    async def replace(
        self,
        spec: ResourceSpec,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        async with self.lock:
            try:
                old = self._require(spec, namespace, name, subresource)
                if not isinstance(body, dict) or body.get("metadata", {}).get("name") != name:
                    raise api_error(
                        400,
                        "BadRequest",
                        f"the name of the object ({body.get('metadata', {}).get('name')!r}) "
                        f"does not match the name on the URL ({name!r})",
                    )
                self._check_precondition(spec, old, body)
                return self._update(spec, old, clone(body), subresource, system=False)
            finally:
                await self._flush()

    def _require(
        self, spec: ResourceSpec, namespace: str | None, name: str, subresource: str | None
    ) -> dict[str, Any]:
        if subresource is not None and subresource != "status":
            raise api_error(
                404, "NotFound", f"the test API server does not serve {spec}/{subresource}"
            )
        if subresource == "status" and not spec.has_status:
            raise api_error(404, "NotFound", f"{spec} has no status subresource")
        live = self._live(spec, namespace, name)
        if live is None:
            raise api_error(
                404, "NotFound", f'{spec} "{name}" not found', name=name, kind=spec.plural
            )
        return clone(live)

    def _check_precondition(self, spec: ResourceSpec, old: dict[str, Any], body: Any) -> None:
        uid = (body.get("metadata") or {}).get("uid")
        if uid is not None and uid != old["metadata"]["uid"]:
            raise api_error(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                f"{old['metadata']['uid']}",
            )
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and str(wanted) != old["metadata"]["resourceVersion"]:
            raise api_error(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {spec} "{old["metadata"]["name"]}": '
                "the object has been modified; please apply your changes to the "
                "latest version and try again",
            )

    def _update(
        self,
        spec: ResourceSpec,
        old: dict[str, Any],
        new: dict[str, Any],
        subresource: str | None,
        system: bool,
    ) -> dict[str, Any]:
        if not isinstance(new.get("metadata"), dict):
            raise api_error(422, "Invalid", f"{spec} {old['metadata']['name']!r}: no metadata")
        if spec.has_status:
            if subresource == "status":
                status = new.get("status")
                new = clone(old)
                if status is None:
                    new.pop("status", None)
                else:
                    new["status"] = status
            elif "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        for field in _IMMUTABLE_META:
            if field in old["metadata"]:
                new["metadata"][field] = old["metadata"][field]
            else:
                new["metadata"].pop(field, None)
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        new["metadata"]["generation"] = old["metadata"].get("generation", 1)
        if spec.kind == "Pod" and not system:
            self._check_pod_update(old, new)
        old_finalizers = set(old["metadata"].get("finalizers") or [])
        new_finalizers = set(new["metadata"].get("finalizers") or [])
        if old["metadata"].get("deletionTimestamp") and new_finalizers - old_finalizers:
            raise api_error(
                422, "Forbidden", "no new finalizers can be added if the object is being deleted"
            )
        if new == old:
            return old  # a no-op write bumps nothing and notifies nobody, as in Kubernetes
        strip = ("metadata", "status")
        if {k: v for k, v in new.items() if k not in strip} != {
            k: v for k, v in old.items() if k not in strip
        }:
            new["metadata"]["generation"] += 1
        if old["metadata"].get("deletionTimestamp") and not new_finalizers:
            self._remove(spec, new)
            self._collect()
            return clone(new)
        self._write(spec, new, old)
        return clone(new)

    def _check_pod_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        def comparable(pod_spec: dict[str, Any]) -> dict[str, Any]:
            result = {k: v for k, v in pod_spec.items() if k not in _POD_MUTABLE_SPEC}
            for key in ("containers", "initContainers"):
                if key in result:
                    result[key] = [
                        {k: v for k, v in c.items() if k != "image"} for c in result[key]
                    ]
            return result

        if comparable(old.get("spec", {})) != comparable(new.get("spec", {})):
            raise api_error(
                422,
                "Invalid",
                f'Pod "{old["metadata"]["name"]}" is invalid: spec: Forbidden: pod '
                "updates may not change fields other than spec.containers[*].image, "
                "spec.initContainers[*].image, spec.activeDeadlineSeconds, "
                "spec.tolerations (only additions to existing tolerations)",
            )

    async def delete(
        self,
        spec: ResourceSpec,
        namespace: str | None,
        name: str,
        *,
        propagation: str = "Background",
        grace: int | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Delete (or start deleting, with finalizers or a live Pod) one object."""
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise api_error(
                400,
                "BadRequest",
                f"propagationPolicy {propagation!r}: expected Background, Foreground or Orphan",
            )
        async with self.lock:
            try:
                obj = self._require(spec, namespace, name, None)
                for field, value in (preconditions or {}).items():
                    if value is not None and obj["metadata"].get(field) != value:
                        raise api_error(
                            409,
                            "Conflict",
                            f"Precondition failed: {field} in precondition: {value}, "
                            f"{field} in object meta: {obj['metadata'].get(field)}",
                        )
                deleted = self._delete(spec, obj, propagation, grace)
                self._collect()
                return deleted
            finally:
                await self._flush()

    def _delete(
        self, spec: ResourceSpec, obj: dict[str, Any], propagation: str, grace: int | None
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        if propagation == "Orphan":
            self._orphan(meta["uid"])
        if spec.kind == "Namespace":
            for child_spec, child in self._iter_live():
                if child_spec.namespaced and child["metadata"].get("namespace") == meta["name"]:
                    self._delete(child_spec, clone(child), "Background", None)
        pod_grace = obj.get("spec", {}).get("terminationGracePeriodSeconds", 30)
        grace = pod_grace if grace is None else grace
        live_pod = (
            spec.kind == "Pod"
            and self.graceful_pods
            and obj.get("status", {}).get("phase") not in TERMINAL_PHASES
        )
        if meta.get("deletionTimestamp"):
            if meta.get("finalizers") or spec.kind != "Pod" or grace != 0:
                return obj  # already being deleted
        elif meta.get("finalizers") or (live_pod and grace > 0):
            old = clone(obj)
            meta["deletionTimestamp"] = now_iso(grace if live_pod else 0)
            meta["deletionGracePeriodSeconds"] = grace if live_pod else 0
            self._write(spec, obj, old)
            return clone(obj)
        self._remove(spec, obj)
        return obj

    def _orphan(self, owner_uid: str) -> None:
        for spec, child in self._iter_live():
            refs = child["metadata"].get("ownerReferences") or []
            kept = [ref for ref in refs if ref.get("uid") != owner_uid]
            if len(kept) != len(refs):
                new = clone(child)
                new["metadata"]["ownerReferences"] = kept
                self._write(spec, new, clone(child))

    def _collect(self) -> None:
        """Garbage collection: delete objects all of whose owners are gone (background policy)."""
        changed = True
        while changed:
            changed = False
            for spec, child in self._iter_live():
                meta = child["metadata"]
                refs = meta.get("ownerReferences") or []
                if not refs or meta.get("deletionTimestamp"):
                    continue
                if all(ref.get("uid") in self._removed_uids for ref in refs):
                    self._delete(spec, clone(child), "Background", None)
                    changed = True
                    break  # the live set changed: look again

    async def close(self) -> None:
        """End every watch (so HTTP streams end and the server can stop at once)."""
        async with self.lock:
            self.closed = True
            await self.bus.put(None)

    # ---- watching ------------------------------------------------------------------------

    async def watch(
        self,
        spec: ResourceSpec | None,
        namespace: str | None = None,
        selector: Selector | None = None,
        since: int | None = None,
        bookmark: bool = False,
    ) -> AsyncGenerator[Change, None]:
        """Changes as a watcher sees them: the current objects (or the history after `since`)
        as ADDED, then live changes; objects entering or leaving the selection appear as
        ADDED/DELETED, as the real API server does. With `bookmark`, a BOOKMARK marks the
        end of the initial events (sendInitialEvents=true)."""
        async with self.lock:
            if since is not None:
                oldest = self.history[0].rv if self.history else self.rv + 1
                if since < oldest - 1 and len(self.history) == self.history.maxlen:
                    raise Gone(f"too old resource version: {since} ({oldest - 1})")
                initial = [c for c in self.history if c.rv > since]
            else:
                initial = [
                    Change("ADDED", s, clone(obj), None, self.rv)
                    for s, obj in self._iter_live(spec)
                ]
            mark = await self.bus.mark()
        try:
            for first in initial:
                if (seen := _as_seen(first, spec, namespace, selector)) is not None:
                    yield seen
            if bookmark and spec is not None:
                yield Change(
                    "BOOKMARK",
                    spec,
                    {
                        "apiVersion": spec.api_version,
                        "kind": spec.kind,
                        "metadata": {
                            "resourceVersion": str(self.rv),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                    None,
                    self.rv,
                )
            if self.closed:
                return
            async for change in self.bus.stream(since=mark):
                if change is None:
                    return
                if (seen := _as_seen(change, spec, namespace, selector)) is not None:
                    yield seen
        finally:
            await self.bus.unmark(mark)


def _as_seen(
    change: Change, spec: ResourceSpec | None, namespace: str | None, selector: Selector | None
) -> Change | None:
    if spec is not None and change.spec != spec:
        return None
    if namespace is not None and change.namespace != namespace:
        return None
    if selector is None:
        return change
    now = change.type != "DELETED" and selector.matches(change.obj)
    before = change.old is not None and selector.matches(change.old)
    if change.type == "DELETED":
        return change if before else None
    if now and before:
        return change
    if now:
        return Change("ADDED", change.spec, change.obj, None, change.rv)
    if before:
        return Change("DELETED", change.spec, change.obj, change.old, change.rv)
    return None

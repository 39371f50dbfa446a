"""The object store behind the test API server: Kubernetes write semantics over kmock's objects.

The HTTP layer (apiserver.py), the kubelet and the operators all write through it, so uids,
resourceVersions, status subresources, finalizers, graceful Pod deletion and garbage
collection by ownerReferences behave the same for every writer.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any

import kmock

from .admission import apply_defaults, check_pod_update, validate_name
from .changes import Change, watch
from .deletion import collect, delete_object
from .objects import api_error, clone, now_iso
from .patching import PatchError, json_patch, merge_patch
from .resources import ResourceSpec, ResourceTable
from .selectors import Selector

_IMMUTABLE_META = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


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
        # Admission plugins: each sees (spec, obj) of a create, may change obj or raise.
        self.admission: list[Callable[[ResourceSpec, dict[str, Any]], None]] = []
        self._removed_uids: set[str] = set()
        self._pending: list[Change] = []
        self._ips = 0

    def _next_ip(self) -> str:
        self._ips += 1
        return f"10.96.{self._ips // 250}.{self._ips % 250 + 1}"

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
        validate_name(spec, meta["name"])
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
        apply_defaults(spec, obj, self._next_ip)
        for plugin in list(self.admission):
            plugin(spec, obj)
        self._write(spec, obj, None)
        return clone(obj)

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
            check_pod_update(old, new)
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
            collect(self)
            return clone(new)
        self._write(spec, new, old)
        return clone(new)

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
                deleted = delete_object(self, spec, obj, propagation, grace)
                collect(self)
                return deleted
            finally:
                await self._flush()

    async def close(self) -> None:
        """End every watch (so HTTP streams end and the server can stop at once)."""
        async with self.lock:
            self.closed = True
            await self.bus.put(None)

    # ---- watching ------------------------------------------------------------------------

    def watch(
        self,
        spec: ResourceSpec | None,
        namespace: str | None = None,
        selector: Selector | None = None,
        since: int | None = None,
        bookmark: bool = False,
    ) -> AsyncGenerator[Change, None]:
        """Changes as a watcher sees them (see changes.watch)."""
        return watch(self, spec, namespace, selector, since, bookmark)

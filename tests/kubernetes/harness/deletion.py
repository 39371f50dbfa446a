"""Deletion as Kubernetes does it: finalizers, graceful Pod deletion, orphaning and garbage
collection by ownerReferences (background propagation). Called by the Store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .objects import TERMINAL_PHASES, clone, now_iso
from .resources import ResourceSpec

if TYPE_CHECKING:
    from .store import Store


def delete_object(
    store: Store, spec: ResourceSpec, obj: dict[str, Any], propagation: str, grace: int | None
) -> dict[str, Any]:
    """Delete one object now, or mark it deleting (finalizers, a live Pod) and return it."""
    meta = obj["metadata"]
    if propagation == "Orphan":
        orphan(store, meta["uid"])
    if spec.kind == "Namespace":
        for child_spec, child in store._iter_live():
            if child_spec.namespaced and child["metadata"].get("namespace") == meta["name"]:
                delete_object(store, child_spec, clone(child), "Background", None)
    pod_grace = obj.get("spec", {}).get("terminationGracePeriodSeconds", 30)
    grace = pod_grace if grace is None else grace
    live_pod = (
        spec.kind == "Pod"
        and store.graceful_pods
        and obj.get("status", {}).get("phase") not in TERMINAL_PHASES
    )
    if meta.get("deletionTimestamp"):
        if meta.get("finalizers") or spec.kind != "Pod" or grace != 0:
            return obj  # already being deleted
    elif meta.get("finalizers") or (live_pod and grace > 0):
        old = clone(obj)
        meta["deletionTimestamp"] = now_iso(grace if live_pod else 0)
        meta["deletionGracePeriodSeconds"] = grace if live_pod else 0
        store._write(spec, obj, old)
        return clone(obj)
    store._remove(spec, obj)
    return obj


def orphan(store: Store, owner_uid: str) -> None:
    """propagationPolicy=Orphan: dependents lose the owner reference and stay."""
    for spec, child in store._iter_live():
        refs = child["metadata"].get("ownerReferences") or []
        kept = [ref for ref in refs if ref.get("uid") != owner_uid]
        if len(kept) != len(refs):
            new = clone(child)
            new["metadata"]["ownerReferences"] = kept
            store._write(spec, new, clone(child))


def collect(store: Store) -> None:
    """Garbage collection: delete objects all of whose owners are gone (background policy)."""
    changed = True
    while changed:
        changed = False
        for spec, child in store._iter_live():
            meta = child["metadata"]
            refs = meta.get("ownerReferences") or []
            if not refs or meta.get("deletionTimestamp"):
                continue
            if all(ref.get("uid") in store._removed_uids for ref in refs):
                delete_object(store, spec, clone(child), "Background", None)
                changed = True
                break  # the live set changed: look again

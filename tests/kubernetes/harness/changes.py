"""What watchers receive: one Change per write, filtered as the real API server filters."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .objects import clone
from .resources import ResourceSpec
from .selectors import Selector

if TYPE_CHECKING:
    from .store import Store


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


def as_seen(
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


async def watch(
    store: Store,
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
    async with store.lock:
        if since is not None:
            oldest = store.history[0].rv if store.history else store.rv + 1
            if since < oldest - 1 and len(store.history) == store.history.maxlen:
                raise Gone(f"too old resource version: {since} ({oldest - 1})")
            initial = [c for c in store.history if c.rv > since]
        else:
            initial = [
                Change("ADDED", s, clone(obj), None, int(obj["metadata"]["resourceVersion"]))
                for s, obj in store._iter_live(spec)
            ]
        mark = await store.bus.mark()
    try:
        for first in initial:
            if (seen := as_seen(first, spec, namespace, selector)) is not None:
                yield seen
        if bookmark and spec is not None:
            yield Change(
                "BOOKMARK",
                spec,
                {
                    "apiVersion": spec.api_version,
                    "kind": spec.kind,
                    "metadata": {
                        "resourceVersion": str(store.rv),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                },
                None,
                store.rv,
            )
        if store.closed:
            return
        async for change in store.bus.stream(since=mark):
            if change is None:
                return
            if (seen := as_seen(change, spec, namespace, selector)) is not None:
                yield seen
    finally:
        await store.bus.unmark(mark)

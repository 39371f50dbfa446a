"""Watches of one runner: one per kind per namespace, resumed, restarted and never stalled.

Used by the Follower. A watch the server ends (its timeout) resumes from its last
resourceVersion; one that fails, or reads nothing for longer than the server's timeout plus
a margin (a connection a NAT or load balancer dropped silently), starts over and asks the
follower to resync. Pods and DaskJobs are selected by slipstream's label; events (which
carry no labels) by type.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slipstream.runners.kubernetes.client import ApiError, KubeClient
from slipstream.runners.kubernetes.names import SELECTOR

log = logging.getLogger(__name__)
EVENT_SELECTOR = "type!=Normal"  # Warning events, and kopf's Error events


def selectors(kind: str) -> tuple[str | None, str | None]:
    """(label selector, field selector) of the watch and resync of `kind`."""
    return (None, EVENT_SELECTOR) if kind == "Event" else (SELECTOR, None)


class Watches:
    """See the module docstring; `dispatch(kind, event, obj)`, `lost()` is awaited after a
    watch failed (the follower resyncs)."""

    timeout_seconds = 60.0  # the server ends each watch after this; we resume it
    read_margin_seconds = 15.0  # nothing read for timeout + margin: the connection is dead

    def __init__(
        self,
        connect: Callable[[], Awaitable[KubeClient]],
        dispatch: Callable[[str, str, dict[str, Any]], None],
        lost: Callable[[], Awaitable[None]],
    ) -> None:
        self._connect = connect
        self._dispatch = dispatch
        self._lost = lost
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.trouble = False  # a watch failed and has not completed a round since
        self.namespaces: dict[str, set[str]] = {}  # namespace -> kinds watched there

    def ensure(self, namespace: str, kind: str) -> None:
        self.namespaces.setdefault(namespace, set()).add(kind)
        task = self._tasks.get((kind, namespace))
        if task is None or task.done():
            self._tasks[(kind, namespace)] = asyncio.create_task(
                self._watch(kind, namespace), name=f"slipstream-watch-{kind}-{namespace}"
            )

    async def _watch(self, kind: str, namespace: str) -> None:
        since: str | None = None
        backoff = 0.2
        labels, fields = selectors(kind)
        while True:
            began, events = time.monotonic(), 0
            try:
                client = await self._connect()
                async for event, obj in client.watch(
                    kind,
                    namespace,
                    labels,
                    since,
                    self.timeout_seconds,
                    read_timeout=self.timeout_seconds + self.read_margin_seconds,
                    field_selector=fields,
                ):
                    if event == "ERROR":  # e.g. 410 Gone: start over from the current state
                        since = None
                        raise ApiError(int(obj.get("code") or 0), str(obj.get("message")))
                    since = obj.get("metadata", {}).get("resourceVersion") or since
                    events += 1
                    if event != "BOOKMARK":
                        self._dispatch(kind, event, obj)
                self.trouble = False
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
                self.trouble = True
                since = None
                await self._lost()  # what happened while it was down
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

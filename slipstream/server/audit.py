"""The audit trail as requests pass: one event per state-changing or refused request; for app.py.

`AuditMiddleware` sits outside the auth middleware, so it sees its 401s and 403s too. After the
response it records who (the token's name, or the CLI's user on a token-less server), what (the
route's name as the action, its path parameters as the target, unless the route said better
with `note`; "METHOD PATH" for a request refused before routing), when, from where (the peer
address of the connection: a proxy in front shows as itself) and the status. Reading requests
(GET, HEAD) that are let in are not recorded."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool

from slipstream.server.auth import Principal
from slipstream.storage.metadata.audit_store import AuditEvent, AuditStore

log = logging.getLogger("slipstream.server.audit")
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REFUSED = frozenset({401, 403})
NOTE = "audit"


def note(request: Any, target: str, detail: str = "") -> None:
    """Say what a request changed (the new execution, the entity), for its audit event."""
    request.scope.setdefault("state", {})[NOTE] = (target, detail)


def _detail(body: bytes) -> str:
    """The `detail` of a refusal's JSON body (our own words, never a token)."""
    try:
        found = json.loads(body).get("detail", "")
    except (ValueError, AttributeError):
        return ""
    return found if isinstance(found, str) else ""


def _route(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The name and path parameters of the route the request went to; ("", {}) for a request
    refused before routing (its action is then "METHOD PATH")."""
    route = scope.get("route")
    if route is None:
        return "", {}
    return str(getattr(route, "name", "")), dict(scope.get("path_params") or {})


class AuditMiddleware:
    """ASGI middleware writing the audit event of each request that changes or is refused."""

    def __init__(self, app: Any, store: AuditStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        at = time.time()
        refusal = b""

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status, refusal
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif status in _REFUSED and len(refusal) < 4096:
                refusal += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            method = scope.get("method", "GET")
            if method in _CHANGES or status in _REFUSED:
                await self._record(scope, method, status, at, _detail(refusal))

    async def _record(
        self, scope: dict[str, Any], method: str, status: int, at: float, why: str
    ) -> None:
        state = scope.get("state", {})
        who = state.get("principal")
        action, params = _route(scope)
        target, detail = state.get(NOTE) or ("/".join(str(v) for v in params.values()), "")
        detail = why or detail
        client = scope.get("client")
        event = AuditEvent(
            at=at,
            who=who.name if isinstance(who, Principal) else "",
            scope=who.scope if isinstance(who, Principal) else "",
            action=action or f"{method} {scope.get('path', '')}",
            target=str(target)[:500],
            method=method,
            path=str(scope.get("path", ""))[:1000],
            status=status,
            client=str(client[0]) if client else "",
            detail=str(detail)[:2000],
        )
        try:
            await run_in_threadpool(self.store.record, event)
        except Exception:  # the answer is sent: say it loudly, the request cannot be undone
            log.exception("could not write the audit event of %s %s", method, event.path)

"""GET /api/v1/audit: the audit trail, newest first, filtered and paged by cursor; admin only."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import APIRouter, Query, Request

from slipstream.server.api.deps import needs
from slipstream.storage.metadata.audit_store import AuditFilter, AuditStore

router = APIRouter(prefix="/audit", tags=["audit"])
MAX_LIMIT = 500


def _cursor(at: float, event_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, event_id]).encode()).decode().rstrip("=")


def _after_last(cursor: str) -> tuple[float, int]:
    try:
        at, found = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except Exception:
        at = found = None
    if not isinstance(at, int | float) or not isinstance(found, int) or isinstance(found, bool):
        raise ValueError(f"cursor {cursor[:40]!r} is not a cursor this server gave")
    return float(at), found


@router.get("", dependencies=[needs("admin")])
def list_audit(
    request: Request,
    who: str | None = Query(None, max_length=200, description="A token's (or user's) name."),
    action: str | None = Query(None, max_length=200, description="launch, abort, activate, ..."),
    target: str | None = Query(None, max_length=500, description="An execution id, a name."),
    refused: bool | None = Query(None, description="true: only 401/403; false: none of them."),
    after: float | None = Query(None, ge=0, le=1e11, description="Unix seconds."),
    before: float | None = Query(None, ge=0, le=1e11, description="Unix seconds."),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(None, max_length=500),
) -> dict[str, Any]:
    """Who did what to which target, when, from where, and what the server answered."""
    store: AuditStore = request.app.state.audit
    where = AuditFilter(
        who=who, action=action, target=target, refused=refused, after=after, before=before
    )
    rows = store.list_events(where, limit + 1, _after_last(cursor) if cursor else None)
    page = rows[:limit]
    return {
        "events": [{f: getattr(e, f) for f in e.__struct_fields__} for e in page],
        "next_cursor": _cursor(page[-1].at, page[-1].id) if len(rows) > limit else None,
    }

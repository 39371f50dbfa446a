"""DELETE /api/v1/cache: evict cached task results (admin only); for the CLI and operators."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from slipstream.server.api.deps import needs, services
from slipstream.server.audit import note
from slipstream.server.services import Services

router = APIRouter(prefix="/cache", tags=["cache"])


@router.delete("", dependencies=[needs("admin")])
def evict(
    request: Request,
    task: str | None = Query(None, max_length=500, description="Only entries of this task."),
    older_than: float | None = Query(
        None, ge=0, le=1e10, description="Only entries created more than this many seconds ago."
    ),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Evict cached results (all, or those matching the filters); how many went."""
    before = None if older_than is None else time.time() - older_than
    removed = svc.executions.engine_store.cache_delete(task, before)
    note(
        request,
        task or "",
        f"removed {removed} (older than {older_than} s)" if before else f"removed {removed}",
    )
    return {"removed": removed}

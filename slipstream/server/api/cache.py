"""DELETE /api/v1/cache: evict cached task results (admin only); for the CLI and operators."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query

from slipstream.server.api.deps import needs, services
from slipstream.server.services import Services

router = APIRouter(prefix="/cache", tags=["cache"])


@router.delete("", dependencies=[needs("admin")])
def evict(
    task: str | None = Query(None, max_length=500, description="Only entries of this task."),
    older_than: float | None = Query(
        None, ge=0, le=1e10, description="Only entries created more than this many seconds ago."
    ),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Evict cached results (all, or those matching the filters); how many went."""
    before = None if older_than is None else time.time() - older_than
    return {"removed": svc.executions.engine_store.cache_delete(task, before)}

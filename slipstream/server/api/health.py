"""GET /api/v1/health: the server answers (for people, the CLI and probes); no token needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from slipstream import __version__
from slipstream.server.api.deps import services
from slipstream.server.services import Services

router = APIRouter(tags=["health"])


@router.get("/health")
def health(svc: Services = Depends(services)) -> dict[str, Any]:
    return {
        "status": "ok",
        "version": __version__,
        "runner": svc.settings.runner,
        "running_executions": svc.runtime.running_count(),
    }

"""GET /api/v1/{tasks,workflows,launch_plans}[/{name}]: registered entities; for CLI and UI.

Each entity comes with its versions, its typed interface (a JSON Schema per input, with
defaults) and, for workflows, its graph. One router per kind, built the same way; launch
plans are activated and deactivated here too.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from slipstream.server.api.deps import needs, services
from slipstream.server.services import Services
from slipstream.server.services.catalog import DEFAULT_DOMAIN, DEFAULT_PROJECT


def entity_router(kind: str, path: str) -> APIRouter:
    router = APIRouter(prefix=f"/{path}", tags=[path])

    @router.get("", name=f"list_{path}")
    def list_entities(
        project: str | None = Query(None, max_length=200),
        domain: str | None = Query(None, max_length=200),
        name: str | None = Query(None, max_length=200),
        svc: Services = Depends(services),
    ) -> dict[str, Any]:
        return {path: svc.catalog.list_entities(kind, project, domain, name)}

    @router.get("/{name}", name=f"get_{kind}")
    def get_entity(
        name: str,
        project: str = Query(DEFAULT_PROJECT, max_length=200),
        domain: str = Query(DEFAULT_DOMAIN, max_length=200),
        version: str | None = Query(None, max_length=200),
        svc: Services = Depends(services),
    ) -> dict[str, Any]:
        return svc.catalog.get_entity(project, domain, kind, name, version)

    return router


tasks = entity_router("task", "tasks")
workflows = entity_router("workflow", "workflows")
launch_plans = entity_router("launch_plan", "launch_plans")


@launch_plans.post("/{name}/activate", dependencies=[needs("admin")])
def activate(
    name: str,
    project: str = Query(DEFAULT_PROJECT, max_length=200),
    domain: str = Query(DEFAULT_DOMAIN, max_length=200),
    version: str | None = Query(None, max_length=200, description="Default: the latest."),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Make this version of the plan the active one: its schedule fires from now on."""
    return svc.schedules.activate(project, domain, name, version)


@launch_plans.post("/{name}/deactivate", dependencies=[needs("admin")])
def deactivate(
    name: str,
    project: str = Query(DEFAULT_PROJECT, max_length=200),
    domain: str = Query(DEFAULT_DOMAIN, max_length=200),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Stop the plan's schedule."""
    return svc.schedules.deactivate(project, domain, name)

"""PUT /api/v1/bundles/{digest} and POST /api/v1/registrations: registering code; for the CLI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from slipstream.runners.bundle import MAX_BUNDLE_BYTES
from slipstream.server.api.deps import needs, services
from slipstream.server.audit import note
from slipstream.server.services import Services
from slipstream.server.services.catalog import DEFAULT_DOMAIN, DEFAULT_PROJECT, Registration

router = APIRouter(tags=["registration"])


class RegistrationBody(BaseModel):
    project: str = DEFAULT_PROJECT
    domain: str = DEFAULT_DOMAIN
    version: str | None = Field(None, description="Default: the bundle digest (16 characters).")
    bundle: str = Field(description="sha256 of the code bundle, uploaded first.")
    tasks: list[dict[str, Any]] = Field(default_factory=list, description="TaskTemplate IR.")
    workflows: list[dict[str, Any]] = Field(
        default_factory=list, description="WorkflowTemplate IR."
    )
    launch_plans: list[dict[str, Any]] = Field(
        default_factory=list, description="LaunchPlanTemplate IR."
    )


@router.head("/bundles/{digest}")
def bundle_exists(digest: str, svc: Services = Depends(services)) -> Response:
    return Response(status_code=200 if svc.catalog.bundle_exists(digest) else 404)


@router.put("/bundles/{digest}", status_code=201, dependencies=[needs("launch")])
async def put_bundle(
    digest: str, request: Request, svc: Services = Depends(services)
) -> dict[str, Any]:
    """Upload a code bundle (a tar.gz) whose sha256 is `digest`; 413 past the bundle limit."""
    data = bytearray()
    async for chunk in request.stream():  # stopped as soon as it passes the limit
        data += chunk
        if len(data) > MAX_BUNDLE_BYTES:
            raise HTTPException(413, f"a bundle may hold {MAX_BUNDLE_BYTES >> 20} MiB at most")
    from starlette.concurrency import run_in_threadpool

    uri = await run_in_threadpool(svc.catalog.put_bundle, digest, bytes(data))
    return {"bundle": digest, "uri": uri}


@router.post("/registrations", dependencies=[needs("launch")])
def register(
    body: RegistrationBody, request: Request, svc: Services = Depends(services)
) -> dict[str, Any]:
    """Check and store every entity (all or none); the same content again is a no-op."""
    done = svc.catalog.register(Registration(**body.model_dump()))
    count = len(body.tasks) + len(body.workflows) + len(body.launch_plans)
    note(request, body.bundle, f"{count} entities in {body.project}/{body.domain}")
    return done

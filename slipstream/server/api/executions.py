"""/api/v1/executions: launch, list (filters, cursor), detail with every node, and actions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from slipstream.server.api.deps import FastJSON, abort_allowed, caller, needs, services
from slipstream.server.audit import note
from slipstream.server.services import Services
from slipstream.server.services.catalog import DEFAULT_DOMAIN, DEFAULT_PROJECT
from slipstream.server.services.requests import LaunchRequest
from slipstream.storage.metadata.server_records import ExecutionFilter
from slipstream.types import ExecutionPhase

router = APIRouter(prefix="/executions", tags=["executions"])

Id = str


class LaunchBody(BaseModel):
    project: str = DEFAULT_PROJECT
    domain: str = DEFAULT_DOMAIN
    workflow: str | None = None
    task: str | None = None
    launch_plan: str | None = None
    version: str | None = Field(None, description="The latest version when absent.")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Input name -> JSON value.")
    labels: dict[str, str] = Field(default_factory=dict)


class RelaunchBody(BaseModel):
    inputs: dict[str, Any] = Field(default_factory=dict, description="Inputs to override.")
    labels: dict[str, str] | None = None


def _filter(
    phase: list[str] | None = Query(None, description="One or more phases."),
    project: str | None = Query(None, max_length=200),
    domain: str | None = Query(None, max_length=200),
    name: str | None = Query(None, max_length=500, description="Workflow or task name."),
    launch_plan: str | None = Query(None, max_length=200),
    launched_by: str | None = Query(None, max_length=200),
    label: list[str] | None = Query(None, description="key=value; several must all match."),
    created_after: float | None = Query(None, description="Unix seconds."),
    created_before: float | None = Query(None, description="Unix seconds."),
) -> ExecutionFilter:
    phases = tuple(p.upper() for p in phase or ())
    for value in phases:
        if value not in ExecutionPhase.__members__:
            from slipstream.server.inputs import InputError

            raise InputError(
                "phase", f"phase {value!r} is not one of {', '.join(ExecutionPhase.__members__)}"
            )
    labels: dict[str, str] = {}
    for item in label or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            from slipstream.server.inputs import InputError

            raise InputError("label", f"label filter {item!r} is not key=value")
        labels[key] = value
    return ExecutionFilter(
        phases=phases,
        project=project,
        domain=domain,
        name=name,
        launch_plan=launch_plan,
        launched_by=launched_by,
        labels=labels,
        created_after=created_after,
        created_before=created_before,
    )


@router.post("", status_code=201, dependencies=[needs("launch")])
def launch(
    body: LaunchBody,
    request: Request,
    svc: Services = Depends(services),
    who: str = Depends(caller),
) -> dict[str, Any]:
    """Launch a registered workflow, task or launch plan; inputs are checked first (422)."""
    execution_id = svc.executions.launch(LaunchRequest(**body.model_dump()), who)
    kind = "workflow" if body.workflow else "task" if body.task else "launch_plan"
    note(request, execution_id, f"{kind} {body.workflow or body.task or body.launch_plan}")
    return {"execution": execution_id}


@router.get("", response_class=FastJSON)
def list_executions(
    where: ExecutionFilter = Depends(_filter),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=500),
    svc: Services = Depends(services),
) -> Any:
    """Newest first; pass `next_cursor` back as `cursor` for the next page."""
    return FastJSON(svc.executions.list_executions(where, limit, cursor))


@router.get("/counts")
def phase_counts(
    where: ExecutionFilter = Depends(_filter), svc: Services = Depends(services)
) -> dict[str, Any]:
    """How many executions match the filter, per phase."""
    return {"counts": svc.executions.counts(where)}


@router.get("/{execution_id}", response_class=FastJSON)
def get_execution(execution_id: Id, svc: Services = Depends(services)) -> Any:
    """The execution and every node (nested ones and map summaries) in one response."""
    return FastJSON(svc.executions.get(execution_id))


@router.post("/{execution_id}/abort", dependencies=[Depends(abort_allowed)])
def abort(execution_id: Id, svc: Services = Depends(services)) -> dict[str, Any]:
    """Abort a running execution: one's own with scope `launch`, anyone's with `admin`."""
    return {"execution": execution_id, "phase": svc.executions.abort(execution_id)}


@router.post("/{execution_id}/relaunch", status_code=201, dependencies=[needs("launch")])
def relaunch(
    execution_id: Id,
    request: Request,
    body: RelaunchBody | None = None,
    svc: Services = Depends(services),
    who: str = Depends(caller),
) -> dict[str, Any]:
    """A new execution of the same entity version and inputs (any of them overridden)."""
    body = body or RelaunchBody()
    new = svc.executions.relaunch(execution_id, who, body.inputs, body.labels)
    note(request, new, f"relaunch of {execution_id}")
    return {"execution": new, "parent": execution_id}


@router.post("/{execution_id}/recover", status_code=201, dependencies=[needs("launch")])
def recover(
    execution_id: Id,
    request: Request,
    svc: Services = Depends(services),
    who: str = Depends(caller),
) -> dict[str, Any]:
    """A new execution of a failed one that reuses every succeeded node's outputs."""
    new = svc.executions.recover(execution_id, who)
    note(request, new, f"recover of {execution_id}")
    return {"execution": new, "parent": execution_id}

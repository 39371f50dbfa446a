"""The UI's read-only pages (workflows, an entity, launch form, executions, an execution).

Built by build_ui_router; every page is server-rendered from the server's service objects.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import msgspec
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from slipstream.ir import WorkflowTemplate, decode
from slipstream.server.auth import permissions
from slipstream.server.ui.forms import form_spec, interface_rows
from slipstream.server.ui.graph_view import live_state, workflow_graph
from slipstream.server.ui.render import GRAPH_THRESHOLD, ICONS, PHASES, Pages, duration, url, when
from slipstream.storage.metadata.server_records import ExecutionFilter

KINDS = {"workflows": "workflow", "tasks": "task", "launch_plans": "launch_plan"}
TITLES = {"workflow": "Workflow", "task": "Task", "launch_plan": "Launch plan"}
PAGE_SIZE = 50


def _stamp(text: str) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise HTTPException(
            422, f"time {text!r} is not a date and time (YYYY-MM-DDTHH:MM)"
        ) from None


def execution_filter(
    request: Request, project: str, domain: str
) -> tuple[ExecutionFilter, dict[str, str]]:
    q = request.query_params
    given = {
        key: q.get(key, "") for key in ("phase", "name", "launched_by", "label", "after", "before")
    }
    labels: dict[str, str] = {}
    if given["label"]:
        key, _, value = given["label"].partition("=")
        labels[key.strip()] = value.strip()
    phase = given["phase"].upper()
    if phase and phase not in PHASES:
        raise HTTPException(422, f"phase {given['phase']!r} is not one of {', '.join(PHASES)}")
    where = ExecutionFilter(
        phases=(phase,) if phase else (),
        project=project,
        domain=domain,
        name=given["name"] or None,
        launched_by=given["launched_by"] or None,
        labels=labels,
        created_after=_stamp(given["after"]),
        created_before=_stamp(given["before"]),
    )
    return where, given


def template_of(services: Any, execution_id: str) -> WorkflowTemplate:
    record = services.executions.engine_store.get_execution(execution_id)
    if record is None:
        raise HTTPException(404, f"no execution {execution_id!r}")
    return decode(record.template, WorkflowTemplate)


def add_page_routes(router: APIRouter, services: Any, pages: Pages) -> None:
    catalog = services.catalog
    executions = services.executions

    def entity_or_404(
        request: Request, kind: str, name: str, version: str | None
    ) -> dict[str, Any]:
        project, domain = pages.scope(request)
        try:
            return dict(catalog.get_entity(project, domain, kind, name, version))
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None

    @router.get("/", include_in_schema=False)
    def home(request: Request) -> RedirectResponse:
        return RedirectResponse(url("/workflows", **dict(request.query_params)), status_code=303)

    @router.get("/workflows", response_class=HTMLResponse, include_in_schema=False)
    def workflows(request: Request) -> HTMLResponse:
        project, domain = pages.scope(request)
        entities: dict[str, list[dict[str, Any]]] = {}
        for kind in KINDS.values():
            for doc in catalog.list_entities(kind, project, domain):
                entities.setdefault(kind, []).append(
                    {
                        "name": doc["name"],
                        "version": doc["version"],
                        "versions": len(doc.get("versions", [])),
                        "registered": when(doc.get("registered_at")),
                    }
                )
        return pages.render(request, "workflows.html", entities=entities)

    def plan_inputs(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return dict(doc.get("default_inputs") or {}), dict(doc.get("fixed_inputs") or {})

    def form_interface(request: Request, doc: dict[str, Any]) -> dict[str, Any]:
        """The inputs the form shows: a launch plan's are its workflow's, fixed ones included."""
        if doc["kind"] != "launch_plan" or not doc.get("workflow"):
            return dict(doc.get("interface", {}))
        workflow = entity_or_404(request, "workflow", str(doc["workflow"]), doc["version"])
        return dict(workflow.get("interface", {}))

    def graph_of(doc: dict[str, Any], project: str, domain: str) -> dict[str, Any] | None:
        kind = doc["kind"]
        name, version = doc["name"], doc["version"]
        if kind == "launch_plan":  # the graph of the plan's workflow
            workflow = doc.get("workflow") or ""
            if isinstance(workflow, dict):
                name, version = workflow.get("name", ""), workflow.get("version", version)
            else:
                name = str(workflow)
            if not name:
                return None
            kind = "workflow"
        if kind != "workflow":
            return None
        template = catalog.workflow_of(catalog.get_entry(project, domain, kind, name, version))
        return workflow_graph(template)

    def entity(request: Request, plural: str, name: str, version: str | None) -> HTMLResponse:
        kind = KINDS[plural]
        project, domain = pages.scope(request)
        doc = entity_or_404(request, kind, name, version)
        defaults, fixed = plan_inputs(doc)
        interface = form_interface(request, doc)
        spec = form_spec(interface, defaults, fixed)
        rows = interface_rows(spec, interface)
        return pages.render(
            request,
            "entity.html",
            kind_title=TITLES[kind],
            name=name,
            version=doc["version"],
            versions=[
                {"version": v["version"], "registered": when(v.get("registered_at"))}
                for v in doc.get("versions", [])
            ],
            inputs=rows["inputs"],
            outputs=rows["outputs"],
            graph=graph_of(doc, project, domain),
            threshold=GRAPH_THRESHOLD,
            launch_url=url(
                f"/{plural}/{name}/launch", project=project, domain=domain, version=doc["version"]
            ),
        )

    def launch(
        request: Request, plural: str, name: str, version: str | None, relaunch: str
    ) -> HTMLResponse:
        kind = KINDS[plural]
        project, domain = pages.scope(request)
        doc = entity_or_404(request, kind, name, version)
        defaults, fixed = plan_inputs(doc)
        prefill: dict[str, Any] = {}
        if relaunch:
            try:
                prefill = dict(executions.get(relaunch).get("inputs") or {})
            except LookupError as exc:
                raise HTTPException(404, str(exc)) from None
        spec = form_spec(form_interface(request, doc), defaults, fixed, prefill)
        target: dict[str, Any] = {"project": project, "domain": domain, "version": doc["version"]}
        target[kind] = name
        if relaunch:
            target = {"relaunch": relaunch}
        return pages.render(
            request,
            "launch.html",
            heading="Relaunch" if relaunch else "Launch",
            kind=TITLES[kind].lower(),
            name=name,
            version=doc["version"],
            parent=relaunch,
            spec=spec,
            target=target,
            launch_post="/ui/launch",
            upload_post="/ui/upload",
        )

    for plural in KINDS:
        add_entity_routes(router, plural, entity, launch)

    def list_context(request: Request) -> dict[str, Any]:
        project, domain = pages.scope(request)
        where, given = execution_filter(request, project, domain)
        cursor = request.query_params.get("cursor") or None
        try:
            page = executions.list_executions(where, PAGE_SIZE, cursor)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        counts = executions.counts(msgspec_replace_phases(where))
        now = time.time()
        rows = [
            {
                "id": e["id"],
                "phase": e["phase"],
                "name": e["name"],
                "launched_by": e.get("launched_by", ""),
                "created": when(e["created_at"]),
                "duration": duration(e.get("started_at"), e.get("ended_at"), now),
            }
            for e in page["executions"]
        ]
        base = {"project": project, "domain": domain, **given}
        return {
            "filters": given,
            "all_phases": PHASES,
            "rows": rows,
            "counts": [(p, counts[p]) for p in PHASES if counts.get(p)],
            "total": sum(counts.values()),
            "icons": ICONS,
            "refreshed": time.strftime("%H:%M:%S"),
            "next_url": url("/executions", **base, cursor=page["next_cursor"])
            if page["next_cursor"]
            else "",
            "first_url": url("/executions", **base) if cursor else "",
            "rows_url": url("/executions/rows", **base, cursor=cursor),
            "project": project,
            "domain": domain,
        }

    @router.get("/executions", response_class=HTMLResponse, include_in_schema=False)
    def executions_page(request: Request) -> HTMLResponse:
        return pages.render(request, "executions.html", **list_context(request))

    @router.get("/executions/rows", response_class=HTMLResponse, include_in_schema=False)
    def executions_rows(request: Request) -> HTMLResponse:
        return pages.fragment("executions_rows.html", **list_context(request))

    def summary_context(request: Request, execution_id: str) -> dict[str, Any]:
        try:
            detail = executions.get(execution_id)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        may = permissions(request, detail.get("launched_by"))
        return {"e": detail, "detail": detail, "now": time.time(), "may": may}

    @router.get("/executions/{execution_id}", response_class=HTMLResponse, include_in_schema=False)
    def execution_page(request: Request, execution_id: str) -> HTMLResponse:
        context = summary_context(request, execution_id)
        graph = workflow_graph(template_of(services, execution_id))
        known = {node["id"] for node in graph["nodes"]}
        state = live_state(context["detail"], known, time.time())
        return pages.render(
            request,
            "execution.html",
            **context,
            graph=graph,
            state=state,
            project=context["e"].get("project") or "default",
            domain=context["e"].get("domain") or "development",
            config={
                "threshold": GRAPH_THRESHOLD,
                "liveUrl": f"/executions/{execution_id}/live",
                "summaryUrl": f"/executions/{execution_id}/summary",
                "panelUrl": f"/executions/{execution_id}/nodes/__NODE__/panel",
            },
        )

    @router.get(
        "/executions/{execution_id}/summary", response_class=HTMLResponse, include_in_schema=False
    )
    def execution_summary(request: Request, execution_id: str) -> HTMLResponse:
        return pages.fragment("execution_summary.html", **summary_context(request, execution_id))


def msgspec_replace_phases(where: ExecutionFilter) -> ExecutionFilter:
    """The same filter for every phase: the counts per phase beside a phase filter."""
    return msgspec.structs.replace(where, phases=())


def add_entity_routes(router: APIRouter, plural: str, entity: Any, launch: Any) -> None:
    """/workflows/NAME and /workflows/NAME/launch (and the same for tasks and launch plans)."""

    def show(request: Request, name: str, version: str | None = None) -> HTMLResponse:
        return entity(request, plural, name, version)

    def form(
        request: Request, name: str, version: str | None = None, relaunch: str = ""
    ) -> HTMLResponse:
        return launch(request, plural, name, version, relaunch)

    router.add_api_route(
        f"/{plural}/{{name}}", show, response_class=HTMLResponse, include_in_schema=False
    )
    router.add_api_route(
        f"/{plural}/{{name}}/launch", form, response_class=HTMLResponse, include_in_schema=False
    )

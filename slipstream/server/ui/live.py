"""The execution page's live parts: its state over SSE, a node's panel, and its buttons.

Built by build_ui_router on the server's service objects. The live stream sends the whole
state document (one detail read of the execution) whenever it changes: never one request
per node.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from slipstream.errors import ExecutionError
from slipstream.ir import WorkflowTemplate
from slipstream.server.api.sse import poll_stream
from slipstream.server.audit import note
from slipstream.server.auth import launched_by, permissions, require_abort
from slipstream.server.hardening import SANDBOX_POLICY
from slipstream.server.identifiers import check_identifier
from slipstream.server.inputs import InputError
from slipstream.server.services.requests import LaunchRequest
from slipstream.server.ui.graph_view import attempt_reason, live_state, workflow_graph
from slipstream.server.ui.pages import template_of
from slipstream.server.ui.render import Pages
from slipstream.server.ui.reports import (
    SUMMARY_NAME,
    attempt_file,
    dask_report_uri,
    offline,
    report_being_written,
)
from slipstream.server.ui.values import frame_preview, shown

POLL_SECONDS = 0.5
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED"}


def _frame(event: str, text: str) -> bytes:
    return f"event: {event}\ndata: {text}\n\n".encode()


def add_live_routes(router: APIRouter, services: Any, pages: Pages) -> None:
    executions = services.executions
    blobs = services.runtime.blobs

    def bodies_of(detail: dict[str, Any], cache: dict[str, WorkflowTemplate]) -> dict[str, Any]:
        """The graphs dynamic nodes returned, read once per stream from the blob store."""
        for node in detail.get("nodes", []):
            info = (node.get("info") or {}).get("dynamic")
            if isinstance(info, dict) and info.get("template") and node["id"] not in cache:
                cache[node["id"]] = blobs.read_document(info["template"], WorkflowTemplate)
        return cache

    @router.get("/executions/{execution_id}/live", include_in_schema=False)
    async def live(request: Request, execution_id: str) -> StreamingResponse:
        template = await run_in_threadpool(template_of, services, execution_id)
        known = {node["id"] for node in workflow_graph(template)["nodes"]}
        cache: dict[str, WorkflowTemplate] = {}

        def read() -> tuple[str, bool]:
            detail = executions.get(execution_id)
            state = live_state(detail, known, time.time(), bodies_of(detail, cache))
            return json.dumps(state), detail["phase"] in TERMINAL

        last = ""

        def step() -> tuple[list[bytes], bool]:
            """The state when it changed (and at the end), then the end."""
            nonlocal last
            text, done = read()
            digest = hashlib.sha256(text.encode()).hexdigest()
            frames = []
            if digest != last or done:
                last = digest
                frames.append(_frame("state", text))
            if done:
                frames.append(_frame("end", "{}"))
            return frames, done

        return poll_stream(step, poll_seconds=POLL_SECONDS, disconnected=request.is_disconnected)

    def panel_context(execution_id: str, node_id: str) -> dict[str, Any]:
        store = executions.engine_store
        node = store.get_node(execution_id, node_id)
        if node is None:
            raise HTTPException(404, f"execution {execution_id!r} has no node {node_id!r}")
        detail = next(
            (n for n in executions.get(execution_id)["nodes"] if n["id"] == node_id), None
        )
        if detail is None:
            raise HTTPException(404, f"execution {execution_id!r} has no node {node_id!r}")
        events, _ = executions.events(execution_id)
        history = [e for e in events if e["node"] == node_id]
        attempts = [{**a, "reason": attempt_reason(a)} for a in detail.get("attempt_history", [])]
        data = executions.node_data(execution_id, node_id)
        values = {side: _values(data.get(side)) for side in ("inputs", "outputs")}
        report = None
        summary = None
        tried = store.get_attempts(execution_id, node_id)
        for attempt in reversed(tried):
            if dask_report_uri(blobs, attempt):
                report = attempt.attempt
                uri = attempt_file(blobs, attempt, SUMMARY_NAME)
                if uri:
                    summary = shown(json.loads(blobs.read_bytes(uri)))
                break
        writing = bool(tried) and report_being_written(blobs, tried[-1], time.time())
        logs_url = f"/api/v1/executions/{execution_id}/nodes/{node_id}/logs"
        return {
            "eid": execution_id,
            "n": detail,
            "history": history,
            "attempts": attempts,
            "values": values,
            "dashboard": (detail.get("info") or {}).get("dashboard", ""),
            "report": report,
            "report_writing": tried[-1].attempt if writing else None,
            "dask_summary": summary,
            "logs_url": logs_url,
            "log": _log(execution_id, node_id),
        }

    def _values(side: dict[str, Any] | None) -> list[dict[str, Any]] | None:
        if side is None:
            return None
        out = []
        for name, entry in side.items():
            value = entry.get("value")
            item: dict[str, Any] = {
                "name": name,
                "type": entry.get("type", ""),
                "href": entry.get("href", ""),
            }
            if isinstance(value, dict) and value.get("format") == "parquet" and value.get("uri"):
                try:
                    with blobs.open(value["uri"], "rb") as handle:
                        item["frame"] = frame_preview(handle)
                except Exception as exc:  # a value we cannot read is shown, not fatal
                    item["problem"] = f"could not read this DataFrame: {exc}"
            item["shown"] = shown(value, entry.get("href", ""))
            out.append(item)
        return out

    def _log(execution_id: str, node_id: str) -> dict[str, Any] | None:
        try:
            logs = executions.logs(execution_id, node_id)
        except LookupError:
            return None
        return {
            "text": logs["text"][-20000:],
            "running": logs["running"],
            "attempt": logs["attempt"],
        }

    @router.get(
        "/executions/{execution_id}/nodes/{node_id:path}/panel",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def panel(execution_id: str, node_id: str) -> HTMLResponse:
        return pages.fragment("node_panel.html", **panel_context(execution_id, node_id))

    @router.get(
        "/executions/{execution_id}/nodes/{node_id:path}/report/{attempt}",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def report(execution_id: str, node_id: str, attempt: int) -> HTMLResponse:
        chosen = [
            a
            for a in executions.engine_store.get_attempts(execution_id, node_id)
            if a.attempt == attempt
        ]
        uri = dask_report_uri(blobs, chosen[0]) if chosen else ""
        if not uri:
            raise HTTPException(404, f"attempt {attempt} of {node_id!r} kept no Dask report")
        # Dask's own page, sandboxed: its scripts run, but never with this site's cookies.
        return HTMLResponse(
            offline(blobs.read_bytes(uri).decode("utf-8", errors="replace")),
            headers={
                "content-security-policy": SANDBOX_POLICY,
                "cache-control": "no-store",
            },
        )

    # -- buttons -------------------------------------------------------------------------------
    @router.post("/ui/launch", include_in_schema=False)
    async def launch(request: Request) -> JSONResponse:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("inputs", {}), dict):
            return JSONResponse({"detail": "send a JSON object with an inputs object"}, 422)
        user = launched_by(request)

        def start() -> str:
            if body.get("relaunch"):
                parent = check_identifier("relaunch", str(body["relaunch"]))
                return str(executions.relaunch(parent, user, inputs=body["inputs"]))
            fields = ("project", "domain", "workflow", "task", "launch_plan", "version")
            given = {k: body[k] for k in fields if body.get(k)}
            return str(executions.launch(LaunchRequest(**given, inputs=body["inputs"]), user))

        try:
            execution_id = await run_in_threadpool(start)
        except InputError as exc:
            errors = [{"input": exc.input, "message": str(exc)}] if exc.input else []
            return JSONResponse({"detail": str(exc), "errors": errors}, 422)
        except LookupError as exc:
            return JSONResponse({"detail": str(exc)}, 404)
        note(request, execution_id, "from the web UI")
        return JSONResponse({"id": execution_id, "url": f"/executions/{execution_id}"}, 201)

    @router.post("/executions/{execution_id}/abort", include_in_schema=False)
    async def abort(request: Request, execution_id: str) -> HTMLResponse:
        info = await run_in_threadpool(services.store.get_info, execution_id)
        owner = info.launched_by if info else None
        require_abort(request, owner)  # launch: only its own; admin: any (else 403)
        with contextlib.suppress(ExecutionError):  # asked, not yet done: "abort requested"
            await run_in_threadpool(executions.abort, execution_id)
        e = executions.get(execution_id)
        context = {"e": e, "now": time.time(), "may": permissions(request, owner)}
        return pages.fragment("execution_summary.html", **context)

    @router.post("/executions/{execution_id}/recover", include_in_schema=False)
    async def recover(request: Request, execution_id: str) -> HTMLResponse:
        user = launched_by(request)
        new_id = await run_in_threadpool(executions.recover, execution_id, user)
        return HTMLResponse("", headers={"HX-Redirect": f"/executions/{new_id}"})

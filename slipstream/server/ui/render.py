"""Jinja2 templates of the web UI (autoescaped) and their helpers; used by the page routers."""

from __future__ import annotations

import hashlib
import time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from slipstream.server.auth import permissions
from slipstream.server.ui.values import pretty

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
GRAPH_THRESHOLD = 500  # more visible nodes than this and the graph opens collapsed
PHASES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "ABORTED")
ICONS = {
    "QUEUED": "○",
    "RUNNING": "▶",
    "SUCCEEDED": "✓",
    "FAILED": "✗",
    "SKIPPED": "⤼",
    "ABORTED": "■",
}


def url(path: str, **query: Any) -> str:
    """A path with the query parameters that are set (None and "" are left out)."""
    given = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path


@cache
def _asset_version(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static(name: str) -> str:
    """The URL of a packaged asset; its content hash in the query lets browsers cache it."""
    return f"/static/{name}?v={_asset_version(name)}"


def when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def duration(start: float | None, end: float | None, now: float | None = None) -> str:
    if start is None:
        return ""
    seconds = (end if end is not None else (now or time.time())) - start
    if seconds < 1:
        text = f"{seconds * 1000:.0f} ms"
    elif seconds < 120:
        text = f"{seconds:.1f} s"
    elif seconds < 7200:
        text = f"{int(seconds // 60)} min {int(seconds % 60)} s"
    else:
        text = f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return text if end is not None else f"{text} so far"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        url=url, static=static, when=when, duration=duration, icons=ICONS, pretty=pretty
    )
    return env


class Pages:
    """Renders a template with what every page shows (project/domain switcher, CSRF token)."""

    def __init__(self, projects: Any, csrf_token: Any) -> None:
        self.projects = projects  # () -> (projects, domains)
        self.csrf_token = csrf_token  # (request) -> str

    def scope(self, request: Request) -> tuple[str, str]:
        project = request.query_params.get("project") or "default"
        domain = request.query_params.get("domain") or "development"
        return project, domain

    def render(self, request: Request, template: str, **context: Any) -> HTMLResponse:
        project, domain = self.scope(request)
        projects, domains = self.projects()
        context.setdefault("project", project)
        context.setdefault("domain", domain)
        context["projects"] = sorted({*projects, context["project"]})
        context["domains"] = sorted({*domains, context["domain"]})
        context["request_path"] = request.url.path
        context["csrf_token"] = self.csrf_token(request)
        context.setdefault("may", permissions(request))  # which buttons this caller gets
        html = environment().get_template(template).render(**context)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def fragment(self, template: str, **context: Any) -> HTMLResponse:
        html = environment().get_template(template).render(**context)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

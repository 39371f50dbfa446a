"""Puts the UI's routes together on one APIRouter; called by build_ui_router."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from slipstream.server.auth import csrf_token
from slipstream.server.ui.live import add_live_routes
from slipstream.server.ui.pages import add_page_routes
from slipstream.server.ui.render import STATIC, Pages
from slipstream.server.ui.uploads import add_upload_routes

_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".txt": "text/plain",
    ".json": "application/json",
}


def ui_router(services: Any) -> APIRouter:
    router = APIRouter()

    def projects() -> tuple[set[str], set[str]]:
        found: set[tuple[str, str]] = set()
        for kind in ("workflow", "task", "launch_plan"):
            found.update((e.project, e.domain) for e in services.store.list_entries(kind))
        return {p for p, _ in found} | {"default"}, {d for _, d in found} | {"development"}

    pages = Pages(projects, csrf_token)

    @router.get("/static/{asset:path}", include_in_schema=False)
    def static(asset: str) -> FileResponse:
        path = (STATIC / asset).resolve()
        if STATIC not in path.parents or not path.is_file():
            raise HTTPException(404, f"no asset {asset!r}")
        return FileResponse(
            path,
            media_type=_TYPES.get(path.suffix, "application/octet-stream"),
            headers={"cache-control": "public, max-age=31536000, immutable"},
        )

    add_live_routes(router, services, pages)
    add_page_routes(router, services, pages)
    add_upload_routes(router, services)
    return router

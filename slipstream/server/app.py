"""The app factory: the API under /api/v1, auth, error mapping, and the web UI at /.

`create_app(services, auth)` is what `slipstream serve` runs and what tests mount. When the
package `slipstream.server.ui` offers `build_ui_router(services) -> APIRouter`, its router is
included at `/`; otherwise `/` points to the API's docs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from slipstream import __version__
from slipstream.errors import ExecutionError
from slipstream.server.api import (
    audit,
    cache,
    entities,
    events,
    executions,
    health,
    nodes,
    registration,
)
from slipstream.server.audit import AuditMiddleware
from slipstream.server.auth import AuthConfig, AuthMiddleware, ScopeError
from slipstream.server.hardening import Hardening
from slipstream.server.identifiers import check_request
from slipstream.server.inputs import InputError
from slipstream.server.services import Services
from slipstream.server.services.catalog import NotFoundError, RegistrationError
from slipstream.server.services.requests import ActionError
from slipstream.storage.metadata.audit_store import AuditStore
from slipstream.storage.metadata.server_store import CatalogConflictError

log = logging.getLogger("slipstream.server")
API = "/api/v1"


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": message, **extra}, status_code=status)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return _error(422, str(exc), input=exc.input)

    @app.exception_handler(RegistrationError)
    async def bad_registration(request: Request, exc: RegistrationError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(CatalogConflictError)
    async def conflict(request: Request, exc: CatalogConflictError) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(ActionError)
    async def wrong_phase(request: Request, exc: ActionError) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(ScopeError)
    async def beyond_scope(request: Request, exc: ScopeError) -> JSONResponse:
        return _error(403, str(exc), needed_scope=exc.needed, scope=exc.scope)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(ExecutionError)
    async def engine_refused(request: Request, exc: ExecutionError) -> JSONResponse:
        return _error(409, str(exc))


class RejectNul:
    """400 for a NUL character in the path or query: no store can keep one (PostgreSQL
    refuses them), and no name has one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
            if b"\x00" in raw or b"%00" in raw.lower() or "\x00" in scope.get("path", ""):
                response = _error(400, "a NUL character is not allowed in the address")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _ui_router(services: Services) -> Any:
    try:
        ui = importlib.import_module("slipstream.server.ui")
    except ModuleNotFoundError as exc:
        if exc.name != "slipstream.server.ui":
            raise
        return None
    build = getattr(ui, "build_ui_router", None)
    return None if build is None else build(services)


def create_app(services: Services, auth: AuthConfig | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resumed = await run_in_threadpool(services.start)
        if resumed:
            log.warning("resumed %d execution(s) left running by a previous server", resumed)
        yield
        trail.close()
        left = services.stop()
        if left:
            log.warning(
                "stopping with %d execution(s) running; they stay resumable and go on "
                "when the server starts again",
                left,
            )

    app = FastAPI(
        title="slipstream",
        version=__version__,
        description="Register, launch and follow slipstream workflows.",
        openapi_url=f"{API}/openapi.json",
        docs_url=f"{API}/docs",
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(check_request)],
    )
    app.state.services = services
    trail = AuditStore(services.settings.resolved_database_url)
    app.state.audit = trail
    for router in (
        health.router,
        registration.router,
        entities.tasks,
        entities.workflows,
        entities.launch_plans,
        executions.router,
        nodes.router,
        events.router,
        cache.router,
        audit.router,
    ):
        app.include_router(router, prefix=API)
    _install_errors(app)
    ui = _ui_router(services)
    if ui is not None:
        app.include_router(ui)
    else:

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse(f"{API}/docs")

    app.add_middleware(AuthMiddleware, config=auth or AuthConfig())
    app.add_middleware(AuditMiddleware, store=trail)  # outside auth: sees its refusals too
    app.add_middleware(RejectNul)
    app.add_middleware(Hardening, settings=services.settings, api=API)
    return app

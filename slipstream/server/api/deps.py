"""What every router needs from a request: the services, who is calling, its scope; for api/*."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import Depends, Request, Response

from slipstream.server.auth import launched_by, require, require_abort
from slipstream.server.services import Services


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def caller(request: Request) -> str:
    return launched_by(request)


def needs(scope: str) -> Any:
    """A route dependency: the caller's token must have `scope` (else 403 naming it)."""

    def check(request: Request) -> None:
        require(request, scope)

    return Depends(check)


def abort_allowed(request: Request, execution_id: str) -> None:
    """A route dependency: `launch` may abort its own executions, `admin` anyone's."""
    svc = services(request)
    info = svc.store.get_info(execution_id)
    if info is None and svc.executions.engine_store.get_execution(execution_id) is None:
        return  # no such execution: the route answers 404
    require_abort(request, info.launched_by if info else None)


def loose(model: Any) -> dict[str, Any]:
    """A request model as a plain dict of the fields that were given."""
    data: dict[str, Any] = model.model_dump(exclude_none=True)
    return data


class FastJSON(Response):
    """A JSON response encoded by msgspec, for the large documents (lists, details): FastAPI's
    own encoder walks every value in Python first, several times slower."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)

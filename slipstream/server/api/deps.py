"""What every router needs from a request: the services and who is calling; for api/*."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import Request, Response

from slipstream.server.auth import launched_by
from slipstream.server.services import Services


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def caller(request: Request) -> str:
    return launched_by(request)


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

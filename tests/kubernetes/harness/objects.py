"""Small shared pieces of the test API server: API errors, timestamps, object copies."""

from __future__ import annotations

import datetime
import json
from typing import Any

import attrs
import kmock

TERMINAL_PHASES = ("Succeeded", "Failed")


@attrs.frozen
class ApiError(kmock.KubernetesError):
    """A Kubernetes API error (HTTP layer: rendered as a Status object), readable as text."""

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}"


def api_error(status: int, reason: str, message: str, **details: Any) -> ApiError:
    """An error the HTTP layer renders as a Kubernetes Status object."""
    return ApiError(
        status=status, reason=reason, message=message, details=details or {"causes": []}
    )


def now_iso(offset: float = 0.0) -> str:
    moment = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def clone(obj: Any) -> Any:
    """A deep copy; JSON round-trip because stored objects are JSON anyway (and it is fast)."""
    return json.loads(json.dumps(obj))


def refusal(status: int, reason: str, message: str) -> ApiError:
    """What an admission plugin raises to refuse a create (403 Forbidden, 422 Invalid...)."""
    return api_error(status, reason, message)

"""Launch requests and labels, as clients ask them; used by the execution service, API and UI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slipstream.server.inputs import InputError
from slipstream.server.services.catalog import DEFAULT_DOMAIN, DEFAULT_PROJECT, check_name


class ActionError(ValueError):
    """An action that does not apply to the execution in its phase (409)."""


@dataclass
class LaunchRequest:
    """What to run: exactly one of workflow, task or launch_plan, by name."""

    project: str = DEFAULT_PROJECT
    domain: str = DEFAULT_DOMAIN
    workflow: str | None = None
    task: str | None = None
    launch_plan: str | None = None
    version: str | None = None  # latest when absent
    inputs: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def check_labels(labels: Any) -> dict[str, str]:
    if not isinstance(labels, dict):
        raise InputError("labels", "labels must be an object of strings")
    for key, value in labels.items():
        check_name(key, "label key")
        if not isinstance(value, str) or len(value) > 200 or "\x00" in value:
            raise InputError("labels", f"label {key!r} must be a string of at most 200 characters")
    return dict(labels)

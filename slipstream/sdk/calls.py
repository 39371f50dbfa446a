"""The hook through which a plain call of a task or workflow runs locally; set by the facade."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slipstream.errors import SlipstreamError

LocalExecutor = Callable[[Any, dict[str, Any]], Any]

_executor: LocalExecutor | None = None


def set_local_executor(executor: LocalExecutor | None) -> None:
    global _executor
    _executor = executor


def run_locally(entity: Any, kwargs: dict[str, Any]) -> Any:
    """Run a task or workflow now, on this machine, returning plain Python values."""
    if _executor is None:
        raise SlipstreamError("no local executor is installed; import slipstream first")
    return _executor(entity, kwargs)

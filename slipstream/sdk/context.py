"""current_context(): what a running task knows about its attempt; set by the attempt runner."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from pathlib import Path

from slipstream.errors import SlipstreamError


@dataclass(frozen=True)
class ExecutionContext:
    execution_id: str
    node_id: str
    attempt: int
    working_directory: Path
    logger: logging.Logger
    output_prefix: str = ""


_current: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar(
    "slipstream_execution_context", default=None
)


def current_context() -> ExecutionContext:
    """The context of the task attempt running in this thread."""
    context = _current.get()
    if context is None:
        raise SlipstreamError("current_context() is only available inside a running task")
    return context


def set_context(context: ExecutionContext | None) -> contextvars.Token[ExecutionContext | None]:
    return _current.set(context)


def reset_context(token: contextvars.Token[ExecutionContext | None]) -> None:
    _current.reset(token)

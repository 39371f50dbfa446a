"""current_context(): what a running task knows about its attempt; set by the attempt runner."""

from __future__ import annotations

import contextvars
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from slipstream.errors import SlipstreamError
from slipstream.sdk.secrets import SecretsManager


@dataclass
class ExecutionContext:
    execution_id: str
    node_id: str
    attempt: int
    logger: logging.Logger
    output_prefix: str = ""
    _working_directory: Path | None = None

    @property
    def secrets(self) -> SecretsManager:
        """The secrets this task can read: `.get(group, key)`."""
        return SecretsManager()

    @property
    def working_directory(self) -> Path:
        """A private scratch folder for this attempt, made when first asked for."""
        if self._working_directory is None:
            safe = self.node_id.replace("/", "-") or "task"
            self._working_directory = Path(tempfile.mkdtemp(prefix=f"slipstream-{safe}-"))
        return self._working_directory

    def made_working_directory(self) -> Path | None:
        """The scratch folder if the attempt asked for one (removed once outputs are stored)."""
        return self._working_directory


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

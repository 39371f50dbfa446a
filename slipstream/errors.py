"""Exceptions users see and raise; a leaf module imported by every layer."""

from __future__ import annotations


class SlipstreamError(Exception):
    """Base of every error slipstream raises on its own behalf."""


class NonRecoverableError(Exception):
    """Raised by user code to fail a task at once, without spending its retries."""


class DefinitionError(SlipstreamError, TypeError):
    """A task or workflow is defined wrongly (missing type hint, bad option, bad quantity)."""


class CompileError(SlipstreamError):
    """A workflow's DAG does not type-check or is malformed; raised when it is defined."""


class TypeTransformError(SlipstreamError, TypeError):
    """A value does not match its declared type, or a type has no transformer."""


class ConfigError(SlipstreamError, ValueError):
    """A configuration value is invalid."""


class ExecutionError(SlipstreamError):
    """An execution failed for a reason other than a user exception (system failure, abort)."""


class TaskTimeoutError(SlipstreamError, TimeoutError):
    """An attempt ran longer than its task's timeout and was stopped."""


class RemoteError(SlipstreamError):
    """A user exception whose type could not be re-created in this process.

    Carries the original type name, message and traceback text.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text

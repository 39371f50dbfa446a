"""Error documents by named constructors; runners and the engine build every error.json here.

Each document's `type` is the qualified name of a real exception class: the user's own for
an exception their code raised, otherwise one in `slipstream.errors`.
"""

from __future__ import annotations

from slipstream.errors import (
    Aborted,
    AttemptDied,
    AttemptLost,
    ExecutionError,
    LaunchError,
    SystemFailure,
    TaskTimeoutError,
)
from slipstream.ir.model import ErrorDocument
from slipstream.types import ErrorKind


def exception_type_name(exc_type: type) -> str:
    """ "module.QualName" of an exception class (just the name for builtins)."""
    module = exc_type.__module__
    return exc_type.__qualname__ if module == "builtins" else f"{module}.{exc_type.__qualname__}"


def raised(
    type_name: str, message: str, *, kind: ErrorKind, recoverable: bool, traceback: str = ""
) -> ErrorDocument:
    """An exception raised inside an attempt (by the user's code, or while loading it)."""
    return ErrorDocument(
        kind=kind.value,
        recoverable=recoverable,
        type=type_name,
        message=message,
        traceback=traceback,
    )


def system_failure(
    message: str, cls: type[SystemFailure] = SystemFailure, *, recoverable: bool = True
) -> ErrorDocument:
    """A failure outside the task's code (spends the system retry budget when recoverable)."""
    return ErrorDocument(
        kind=ErrorKind.SYSTEM.value,
        recoverable=recoverable,
        type=exception_type_name(cls),
        message=message,
    )


def user_failure(message: str, cls: type[Exception] = ExecutionError) -> ErrorDocument:
    """A node that cannot succeed whatever is retried (a bad conditional, a bad map input)."""
    return ErrorDocument(
        kind=ErrorKind.USER.value,
        recoverable=False,
        type=exception_type_name(cls),
        message=message,
    )


def launch_failed(exc: BaseException) -> ErrorDocument:
    if isinstance(exc, SystemFailure):  # e.g. a BlobStoreError: the same under every runner
        return system_failure(str(exc), type(exc))
    return system_failure(f"launch failed: {type(exc).__name__}: {exc}", LaunchError)


def attempt_died(how: str) -> ErrorDocument:
    """`how`: e.g. "was killed by SIGKILL", "exited with code 3"."""
    return system_failure(
        f"the attempt's process {how} without writing outputs.json or error.json", AttemptDied
    )


def no_error_document() -> ErrorDocument:
    return system_failure("the attempt failed without an error document", AttemptDied)


def attempt_lost(attempt: int) -> ErrorDocument:
    return system_failure(f"attempt {attempt} was lost with the engine that ran it", AttemptLost)


def timed_out(task_name: str, seconds: float, which: str) -> ErrorDocument:
    """`which`: the attempt, e.g. "attempt 2" or "item 7, attempt 1"."""
    return ErrorDocument(
        kind=ErrorKind.USER.value,
        recoverable=True,
        type=exception_type_name(TaskTimeoutError),
        message=f"task {task_name!r} timed out after {seconds:g} s ({which}) and was stopped",
        timed_out=True,
    )


def aborted(reason: str) -> ErrorDocument:
    return ErrorDocument(
        kind=ErrorKind.SYSTEM.value,
        recoverable=False,
        type=exception_type_name(Aborted),
        message=reason,
    )

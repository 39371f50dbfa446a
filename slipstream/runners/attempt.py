"""Runs one attempt's user function: load, decode inputs, call in its plugin context, encode."""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import (
    NonRecoverableError,
    RemoteError,
    SlipstreamError,
    SystemFailure,
    TypeTransformError,
)
from slipstream.ir import ErrorDocument, Literal, LiteralMap, TaskTemplate, failures
from slipstream.sdk.context import ExecutionContext, reset_context, set_context
from slipstream.sdk.dynamic import DynamicDefinition, DynamicWorkflow
from slipstream.sdk.plugins import AttemptContext, PluginRegistry, default_plugins
from slipstream.types import ErrorKind

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


class AttemptTerminated(BaseException):
    """Raised in an attempt's main thread when it is asked to stop (SIGTERM): unwinds contexts."""


class InputError(SlipstreamError):
    """An input value could not be decoded into the task's declared type."""


def load_task(reference: str, source_root: str = "") -> Any:
    """Import "module:qualname" and return the task object (a TaskDefinition)."""
    module_name, _, qualname = reference.partition(":")
    if not module_name or not qualname:
        raise SlipstreamError(f"task reference {reference!r} is not of the form module:name")
    if "<locals>" in qualname:
        raise SlipstreamError(
            f"task {reference!r} is defined inside a function; a task that runs in its own "
            "process is imported by module and name, so define it at module level"
        )
    if source_root and source_root not in sys.path:
        sys.path.insert(0, source_root)
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def decode_inputs(
    template: TaskTemplate,
    py_types: dict[str, Any],
    literals: LiteralMap,
    registry: TypeRegistry,
    ctx: TransformContext,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for variable in template.interface.inputs:
        literal = literals.get(variable.name)
        if literal is None:
            if not variable.has_default or variable.default is None:
                raise InputError(f"task {template.name!r}: input {variable.name!r} is missing")
            literal = variable.default
        try:
            values[variable.name] = registry.to_python(literal, py_types[variable.name], ctx)
        except TypeTransformError as exc:
            raise InputError(f"task {template.name!r}: input {variable.name!r}: {exc}") from None
    return values


def encode_values(
    where: str,
    py_types: dict[str, Any],
    values: dict[str, Any],
    registry: TypeRegistry,
    ctx: TransformContext,
) -> LiteralMap:
    literals: dict[str, Literal] = {}
    for name, value in values.items():
        try:
            literals[name] = registry.to_literal(value, py_types[name], ctx)
        except TypeTransformError as exc:
            raise TypeTransformError(f"{where} {name!r}: {exc}") from None
    return literals


def call_task(
    task: Any,
    values: dict[str, Any],
    attempt: AttemptContext,
    plugins: PluginRegistry | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
    transform: TransformContext | None = None,
) -> dict[str, Any] | DynamicWorkflow:
    """Call the task's function in its plugin context; return its outputs by name.

    A @dynamic returns the graph its body built instead (`transform` stores its constants).
    """
    template: TaskTemplate = task.template
    context = ExecutionContext(
        execution_id=attempt.execution_id,
        node_id=attempt.node_id,
        attempt=attempt.attempt,
        logger=logging.getLogger(f"slipstream.task.{template.name}"),
        output_prefix=attempt.output_prefix,
    )
    attempt.report = report
    token = set_context(context)
    try:
        with (plugins or default_plugins).local_context(template, attempt):
            if isinstance(task, DynamicDefinition):
                return task.trace_body(values, transform)
            result = task.function(**values)
    finally:
        reset_context(token)
        scratch = context.made_working_directory()
        if scratch is not None:
            attempt.scratch.append(str(scratch))
    return task.interface.pack_outputs(result, f"task {template.name!r}")


def remove_scratch(attempt: AttemptContext) -> None:
    """Delete the attempt's private folders (after its outputs, maybe Files in them, are stored)."""
    for folder in attempt.scratch:
        shutil.rmtree(folder, ignore_errors=True)
    attempt.scratch.clear()


def user_traceback(exc: BaseException) -> str:
    """The exception's traceback without slipstream's own frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(_PACKAGE_DIR)
        and "/concurrent/futures/" not in frame.filename
        and "/threading.py" not in frame.filename
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines.extend(traceback.format_exception_only(type(exc), exc))
    for note in getattr(exc, "__notes__", []) or []:
        lines.append(f"{note}\n")
    return "".join(lines)


def error_document(exc: BaseException, kind: ErrorKind = ErrorKind.USER) -> ErrorDocument:
    """error.json of an exception raised in an attempt: its type, message and user traceback.

    A SystemFailure raised in the attempt (a store down, full or read-only) is a system error
    whatever `kind` says: it spends the system budget, never the user's retries.
    """
    if isinstance(exc, SystemFailure):
        return failures.system_failure(str(exc), type(exc))  # the message says it all
    if isinstance(exc, RemoteError):
        type_name, message = exc.type_name, exc.message
    else:
        type_name, message = failures.exception_type_name(type(exc)), str(exc)
    return failures.raised(
        type_name,
        message,
        kind=kind,
        recoverable=not isinstance(exc, NonRecoverableError | InputError | TypeTransformError),
        traceback=user_traceback(exc),
    )


def rebuild_exception(error: ErrorDocument) -> BaseException:
    """The user's exception from an error document: its own type when importable."""
    module_name, _, qualname = error.type.rpartition(".")
    exc_type: Any = None
    try:
        owner: Any = importlib.import_module(module_name or "builtins")
        for part in qualname.split("."):
            owner = getattr(owner, part)
        exc_type = owner
    except (ImportError, AttributeError, ValueError):
        exc_type = None
    exc: BaseException
    if isinstance(exc_type, type) and issubclass(exc_type, BaseException):
        try:
            exc = exc_type(error.message)
        except Exception:
            exc = RemoteError(error.type, error.message, error.traceback)
    else:
        exc = RemoteError(error.type, error.message, error.traceback)
    if error.traceback and isinstance(exc, Exception):
        exc.add_note(f"Remote traceback:\n{error.traceback.rstrip()}")
    return exc


def log_dir_for(prefix_local: str | None) -> str:
    if prefix_local:
        os.makedirs(prefix_local, exist_ok=True)
        return prefix_local
    return tempfile.mkdtemp(prefix="slipstream-logs-")

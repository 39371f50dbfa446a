"""Runs a task or workflow called as a plain function: the SDK's local-call hook."""

from __future__ import annotations

import atexit
import threading
from typing import Any

from slipstream.compiler.registry import TransformContext
from slipstream.config import Settings, load_settings
from slipstream.engine.engine import Engine
from slipstream.errors import ExecutionError, TypeTransformError
from slipstream.ir import Literal, LiteralMap
from slipstream.runners.attempt import rebuild_exception
from slipstream.storage.blobs import BlobStore
from slipstream.storage.metadata import MetadataStore
from slipstream.types import ErrorKind, ExecutionPhase

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_closing_at_exit: list[bool] = []  # [True] once reset_engines is registered with atexit


def engine_for(settings: Settings) -> Engine:
    """One engine per settings per process, with its stores opened once."""
    with _lock:
        engine = _engines.get(repr(settings))
        if engine is None:
            engine = Engine(
                settings,
                MetadataStore(settings.resolved_database_url),
                BlobStore(settings.resolved_blob_url),
            )
            if not _closing_at_exit:  # what the runners started ends with this process
                atexit.register(reset_engines)
                _closing_at_exit.append(True)
            _engines[repr(settings)] = engine
        return engine


def reset_engines() -> None:
    """Close every cached engine (tests call this between homes)."""
    with _lock:
        for engine in _engines.values():
            engine.close()
            engine.store.close()
        _engines.clear()


def encode_inputs(entity: Any, kwargs: dict[str, Any], ctx: TransformContext) -> LiteralMap:
    """Check and encode a call's inputs; a wrong value fails here, before any body runs."""
    interface = entity.interface
    where = f"{entity.kind} {entity.name!r}"
    unknown = [name for name in kwargs if name not in interface.inputs]
    if unknown:
        raise TypeError(
            f"{where} got unknown input(s) {', '.join(map(repr, unknown))}; its inputs are: "
            f"{', '.join(interface.inputs) or 'none'}"
        )
    literals: dict[str, Literal] = {}
    for name, py_type in interface.inputs.items():
        if name not in kwargs:
            if name in interface.defaults:
                continue
            raise TypeError(f"{where} is missing its required input {name!r}")
        try:
            literals[name] = entity.registry.to_literal(kwargs[name], py_type, ctx)
        except TypeTransformError as exc:
            raise TypeTransformError(f"{where}: input {name!r}: {exc}") from None
    return literals


def run_entity(entity: Any, kwargs: dict[str, Any]) -> Any:
    """Run entity(**kwargs) to the end on this machine and return its plain Python result."""
    settings = load_settings()
    engine = engine_for(settings)
    ctx = TransformContext(blobs=engine.blobs, offload_threshold=settings.offload_threshold)
    inputs = encode_inputs(entity, kwargs, ctx)
    entities = dict(getattr(entity, "entities", {}))
    entities[entity.name] = entity
    outcome = engine.execute(
        entity.template,
        inputs,
        input_values=dict(kwargs),
        source_root=entity.source_root,
        entities=entities,
    )
    if outcome.phase != ExecutionPhase.SUCCEEDED:
        raise outcome_exception(outcome)
    values = outcome.output_values
    if values is None:
        values = {
            name: entity.registry.to_python(literal, entity.interface.outputs[name], ctx)
            for name, literal in outcome.outputs.items()
        }
    return entity.interface.unpack_outputs(values)


def outcome_exception(outcome: Any) -> BaseException:
    """The exception a failed execution raises to a caller: the user's own when it was theirs."""
    if outcome.exception is not None:
        return outcome.exception
    error = outcome.error
    if error is None:
        return ExecutionError(f"execution {outcome.execution_id} ended {outcome.phase.value}")
    if error.kind == ErrorKind.USER.value and outcome.phase == ExecutionPhase.FAILED:
        return rebuild_exception(error)
    where = f" in node {outcome.failed_node!r}" if outcome.failed_node else ""
    return ExecutionError(
        f"execution {outcome.execution_id} {outcome.phase.value.lower()}{where}: "
        f"{error.type}: {error.message}"
    )


__all__ = ["engine_for", "reset_engines", "run_entity"]

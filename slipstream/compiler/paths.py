"""Attribute paths into outputs (`out.field`, `out["key"]`, `out[0]`): for tracing and the engine.

While a workflow is traced, `step_type` gives the Python type one step down; when the engine
binds a node's inputs, `follow` walks the stored literal (and the Python value, when at hand)
down the same path.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any

from slipstream.compiler.labels import type_label
from slipstream.errors import CompileError, ExecutionError
from slipstream.ir import Literal

PathStep = str | int
MISSING: Any = object()


def describe_path(path: tuple[PathStep, ...]) -> str:
    """`.field["key"][0]` for messages and names."""
    return "".join(
        f".{step}" if isinstance(step, str) and step.isidentifier() else f"[{step!r}]"
        for step in path
    )


def attribute_type(py_type: Any, name: str) -> Any:
    """The type of field `name` of a dataclass or pydantic model; CompileError otherwise."""
    if isinstance(py_type, type) and dataclasses.is_dataclass(py_type):
        hints = typing.get_type_hints(py_type)
        fields = [f.name for f in dataclasses.fields(py_type)]
        if name in fields:
            return hints[name]
        raise CompileError(
            f"dataclass {py_type.__qualname__} has no field {name!r}; its fields are: "
            f"{', '.join(fields) or 'none'}"
        )
    model_fields = getattr(py_type, "model_fields", None)
    if isinstance(py_type, type) and isinstance(model_fields, dict):
        if name in model_fields:
            return model_fields[name].annotation
        raise CompileError(
            f"model {py_type.__qualname__} has no field {name!r}; its fields are: "
            f"{', '.join(model_fields) or 'none'}"
        )
    raise CompileError(
        f"a {type_label(py_type)} has no attribute {name!r} to read while the workflow is "
        "defined (fields can be read from dataclass and pydantic outputs)"
    )


def item_type(py_type: Any, key: Any) -> Any:
    """The type of `value[key]` for a dict[str, T] (str key) or list[T] (int key)."""
    origin = typing.get_origin(py_type)
    args = typing.get_args(py_type)
    if origin is dict and len(args) == 2 and isinstance(key, str):
        return args[1]
    if origin is list and args and isinstance(key, int) and not isinstance(key, bool):
        return args[0]
    raise CompileError(
        f"a {type_label(py_type)} cannot be indexed with {key!r} while the workflow is defined "
        "(dict outputs take a str key, list outputs an int index)"
    )


def follow(
    literal: Literal,
    value: Any,
    path: tuple[PathStep, ...],
    load: Callable[[Literal], Literal] | None = None,
    *,
    missing: Any = MISSING,
) -> tuple[Literal, Any]:
    """The literal (and value, or `missing` when none is at hand) at `path` inside an output.

    `load` reads an offloaded JSON literal back inline; without it such a value is an error.
    """
    for depth, step in enumerate(path):
        where = describe_path(path[: depth + 1])
        if literal.uri and literal.format == "json":
            if load is None:
                raise ExecutionError(f"cannot read {where} of an offloaded value {literal.uri}")
            literal = load(literal)
        literal = _step(literal, step, where)
        if value is not missing:
            if isinstance(step, str) and not isinstance(value, dict):
                value = getattr(value, step)
            else:
                value = value[step]
    return literal, value


def _step(literal: Literal, step: PathStep, where: str) -> Literal:
    if isinstance(step, int):
        if literal.items is not None and -len(literal.items) <= step < len(literal.items):
            return literal.items[step]
        if isinstance(literal.value, list) and -len(literal.value) <= step < len(literal.value):
            return Literal(value=literal.value[step])
        raise ExecutionError(f"{where}: index out of range")
    if literal.entries is not None and step in literal.entries:
        return literal.entries[step]
    if isinstance(literal.value, dict) and step in literal.value:
        return Literal(value=literal.value[step])
    raise ExecutionError(f"{where}: no such key or field in the stored value")

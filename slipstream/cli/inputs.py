"""Command-line options generated from an entity's typed inputs; used by `slipstream run`."""

from __future__ import annotations

import json
from typing import Any

import click

from slipstream.compiler.labels import type_label
from slipstream.compiler.values import parse_text
from slipstream.errors import TypeTransformError


class TypedValue(click.ParamType):
    """Parses one input from text into its declared Python type."""

    def __init__(self, input_name: str, py_type: Any, registry: Any) -> None:
        self.input_name = input_name
        self.py_type = py_type
        self.registry = registry
        self.name = type_label(py_type)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_text(value, self.py_type, self.registry)
        except TypeTransformError as exc:
            self.fail(f"input {self.input_name!r} expects {self.name}: {exc}", param, ctx)


def _default_text(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def input_options(entity: Any) -> list[click.Option]:
    """One option per input: --list-length (and the Flyte spelling --list_length)."""
    options = []
    interface = entity.interface
    for name, py_type in interface.inputs.items():
        flags = [f"--{name.replace('_', '-')}"]
        if "_" in name:
            flags.append(f"--{name}")
        required = name not in interface.defaults
        help_text = f"{type_label(py_type)}"
        if not required:
            help_text += f" (default: {_default_text(interface.defaults[name])})"
        options.append(
            click.Option(
                [*flags, name],
                type=TypedValue(name, py_type, entity.registry),
                required=required,
                default=None,
                help=help_text,
                metavar=type_label(py_type).upper()
                if py_type in (int, float, str, bool)
                else "VALUE",
            )
        )
    return options

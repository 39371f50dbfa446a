"""`slipstream run --remote`: register the entity's code, launch it on the server and follow it."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from slipstream.cli.follow import follow
from slipstream.cli.register import register_entities
from slipstream.cli.remote import ServerError, require_client
from slipstream.compiler.registry import TransformContext
from slipstream.compiler.values import literal_to_display
from slipstream.errors import TypeTransformError


def json_inputs(entity: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The typed command-line values as the JSON the API takes (values given inline)."""
    out: dict[str, Any] = {}
    interface = entity.template.interface
    for name, value in kwargs.items():
        variable = interface.input(name)
        py_type = entity.interface.inputs[name]
        try:
            literal = entity.registry.to_literal(value, py_type, TransformContext())
        except (TypeTransformError, TypeError, ValueError) as exc:
            raise click.UsageError(f"input {name!r}: {exc}") from None
        if literal.uri or variable is None:
            raise click.UsageError(
                f"input {name!r}: a file, directory or data frame cannot be uploaded with "
                "--remote; store it where the server can read it and launch with its URI "
                "(slipstream launch)"
            )
        out[name] = literal_to_display(literal, variable.type)
    return out


def run_remote(
    entity: Any,
    kwargs: dict[str, Any],
    remote: str,
    as_json: bool,
    abort_on_interrupt: bool,
) -> None:
    started = time.monotonic()
    inputs = json_inputs(entity, kwargs)
    with require_client(remote or None) as client:
        try:
            registered = register_entities(
                client, entity.source_root, {entity.name: entity}, "default", "development", None
            )
            kind = "task" if entity.kind == "task" else "workflow"
            execution_id = client.launch(
                {
                    "project": registered["project"],
                    "domain": registered["domain"],
                    kind: entity.name,
                    "version": registered["version"],
                    "inputs": inputs,
                }
            )
        except ServerError as exc:
            raise click.ClickException(str(exc)) from None
        code = follow(client, execution_id, as_json, abort_on_interrupt, started)
    if code:
        sys.exit(code)


def remote_options() -> list[click.Option]:
    """`--remote [URL]` (the server_url setting when no URL) and `--abort-on-interrupt`."""
    return [
        click.Option(
            ["--remote"],
            is_flag=False,
            flag_value="",
            default=None,
            metavar="[URL]",
            help="Register, launch and follow it on a server (default: the server_url setting).",
        ),
        click.Option(
            ["--abort-on-interrupt"],
            is_flag=True,
            help="With --remote: Ctrl-C aborts the execution instead of detaching.",
        ),
    ]

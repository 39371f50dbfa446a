"""Printing outcomes, values and errors for the CLI: results on stdout, notices on stderr."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import click

from slipstream.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED  # noqa: F401 (re-exported)
from slipstream.compiler.values import literal_to_display
from slipstream.ir import ErrorDocument, LiteralMap, TypedInterface
from slipstream.types import ExecutionPhase


def display_outputs(outputs: LiteralMap, interface: TypedInterface) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, literal in outputs.items():
        variable = interface.output(name)
        if variable is None:
            continue
        shown[name] = literal_to_display(literal, variable.type)
    return shown


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def print_error(error: ErrorDocument, node: str = "") -> None:
    where = f" in node {node!r}" if node else ""
    kind = "user error" if error.kind == "user" else "system error"
    click.secho(f"{kind}{where}: {error.type}: {error.message}", fg="red", err=True)
    if error.traceback:
        click.echo(error.traceback.rstrip(), err=True)


def report_outcome(outcome: Any, interface: TypedInterface, as_json: bool, started: float) -> int:
    """Print an execution's result; return the process exit code."""
    elapsed = time.monotonic() - started
    phase = outcome.phase
    outputs = (
        display_outputs(outcome.outputs, interface) if phase == ExecutionPhase.SUCCEEDED else {}
    )
    colour = "green" if phase == ExecutionPhase.SUCCEEDED else "red"
    click.secho(
        f"execution {outcome.execution_id} {phase.value} in {elapsed:.2f}s", fg=colour, err=True
    )
    if outcome.error is not None:
        print_error(outcome.error, outcome.failed_node)
    if as_json:
        document: dict[str, Any] = {
            "execution": outcome.execution_id,
            "phase": phase.value,
            "outputs": outputs,
        }
        if outcome.error is not None:
            document["error"] = {
                "kind": outcome.error.kind,
                "type": outcome.error.type,
                "message": outcome.error.message,
                "node": outcome.failed_node,
            }
        click.echo(json.dumps(document, default=str))
    elif outputs:
        if list(outputs) == ["o0"]:
            click.echo(format_value(outputs["o0"]))
        else:
            for name, value in outputs.items():
                click.echo(f"{name}: {format_value(value)}")
    return 0 if phase == ExecutionPhase.SUCCEEDED else EXIT_FAILED


def when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def duration(start: float | None, end: float | None) -> str:
    if not start:
        return ""
    return f"{(end or time.time()) - start:.2f}s"


def seconds_ago(text: str, option: str) -> float:
    """The Unix time `text` (a duration: 90s, 15m, 2h, 7d) ago; a BadParameter naming `option`."""
    from slipstream.compiler.types import default_registry
    from slipstream.compiler.values import parse_text
    from slipstream.errors import TypeTransformError

    try:
        age = parse_text(text, dt.timedelta, default_registry())
    except TypeTransformError as exc:
        raise click.BadParameter(
            f"{exc} (expected e.g. 90s, 15m, 2h, 7d)", param_hint=option
        ) from None
    return time.time() - age.total_seconds()

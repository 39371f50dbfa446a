"""Following an execution on a server: live node lines on stderr, then the outcome like a local run.

Used by `run --remote`, `launch` and `executions follow`. Ctrl-C detaches (the execution goes
on in the server) and prints how to re-attach; with abort_on_interrupt it aborts instead.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from slipstream.cli.output import EXIT_FAILED, EXIT_INTERRUPTED, format_value, print_error
from slipstream.cli.remote import RemoteClient, ServerError
from slipstream.ir import ErrorDocument

_COLOURS = {"SUCCEEDED": "green", "FAILED": "red", "ABORTED": "magenta", "RUNNING": "cyan"}
_SHOWN = {"RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "SKIPPED", "RETRY"}


def _error(doc: dict[str, Any] | None) -> ErrorDocument | None:
    if not doc:
        return None
    return ErrorDocument(
        kind=doc.get("kind", "system"),
        recoverable=bool(doc.get("recoverable")),
        type=doc.get("type", ""),
        message=doc.get("message", ""),
        traceback=doc.get("traceback", ""),
    )


def _failed_node(doc: dict[str, Any]) -> str:
    failed = [n for n in doc.get("nodes", []) if n["phase"] == "FAILED"]
    return failed[-1]["id"] if failed else ""


def report_remote(doc: dict[str, Any], as_json: bool, started: float) -> int:
    """Print a finished execution as a local run prints its outcome; the exit code."""
    phase = doc["phase"]
    colour = "green" if phase == "SUCCEEDED" else "red"
    click.secho(
        f"execution {doc['id']} {phase} in {time.monotonic() - started:.2f}s", fg=colour, err=True
    )
    error = _error(doc.get("error"))
    node = _failed_node(doc)
    if error is not None:
        print_error(error, node)
    outputs = (doc.get("outputs") or {}) if phase == "SUCCEEDED" else {}
    if as_json:
        document: dict[str, Any] = {"execution": doc["id"], "phase": phase, "outputs": outputs}
        if error is not None:
            document["error"] = {
                "kind": error.kind,
                "type": error.type,
                "message": error.message,
                "node": node,
            }
        click.echo(json.dumps(document, default=str))
    elif list(outputs) == ["o0"]:
        click.echo(format_value(outputs["o0"]))
    else:
        for name, value in outputs.items():
            click.echo(f"{name}: {format_value(value)}")
    return 0 if phase == "SUCCEEDED" else EXIT_FAILED


def _show(event: dict[str, Any]) -> None:
    phase = event.get("phase", "")
    if phase not in _SHOWN or not event.get("node"):
        return
    message = f"  {event['message']}" if event.get("message") else ""
    click.secho(f"  {event['node']:<30} {phase}{message}", fg=_COLOURS.get(phase), err=True)


def follow(
    client: RemoteClient,
    execution_id: str,
    as_json: bool = False,
    abort_on_interrupt: bool = False,
    started: float | None = None,
) -> int:
    """Stream the execution's events until it ends, then report it; the exit code."""
    started = time.monotonic() if started is None else started
    click.echo(f"following execution {execution_id} on {client.url}", err=True)
    try:
        for kind, event in client.events(execution_id):
            if kind == "event":
                _show(event)
    except KeyboardInterrupt:
        if abort_on_interrupt:
            click.secho(f"interrupted: aborting {execution_id} ...", fg="red", err=True)
            phase = client.abort(execution_id)
            click.secho(f"execution {execution_id} {phase}", fg="red", err=True)
        else:
            click.secho(
                f"detached: execution {execution_id} goes on in the server; follow it again "
                f"with: slipstream executions --remote {client.url} follow {execution_id}",
                fg="yellow",
                err=True,
            )
        sys.exit(EXIT_INTERRUPTED)
    except ServerError as exc:
        raise click.ClickException(str(exc)) from None
    return report_remote(client.execution(execution_id), as_json, started)

"""`slipstream executions list|show|resume|abort|logs|report`: the history in the metadata store."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from slipstream.cli.attempts import chosen_attempt
from slipstream.cli.context import engine as make_engine
from slipstream.cli.context import read_engine, read_store, settings_for
from slipstream.cli.errors import EXIT_INTERRUPTED
from slipstream.cli.executions_remote import ServerModeGroup, remote_executions
from slipstream.cli.output import duration, print_error, report_outcome, when
from slipstream.cli.progress import Progress
from slipstream.cli.reports import kept_reports, report
from slipstream.cli.signals import Terminated, exit_resumable, sigterm_stops
from slipstream.compiler.values import literal_to_display
from slipstream.engine.cache import offloaded
from slipstream.errors import ExecutionError
from slipstream.ir import ErrorDocument, LiteralMapDocument, WorkflowTemplate, decode
from slipstream.storage.blobs import BlobStore
from slipstream.types import ExecutionPhase

PHASES = tuple(phase.value for phase in ExecutionPhase)


@click.group("executions", cls=ServerModeGroup, remote_commands=remote_executions)
@click.option("--remote", default=None, metavar="URL", help="A server (default: server_url).")
def executions(remote: str | None) -> None:
    """List, inspect, resume and abort executions (on a server with --remote URL)."""


def _require(store: Any, execution_id: str) -> Any:
    record = None if store is None else store.get_execution(execution_id)
    if record is None:
        raise click.BadParameter(f"no execution {execution_id!r}", param_hint="ID")
    return record


def _known(execution_id: str) -> Any:
    """The execution's record, checked without creating a database where there is none."""
    with read_store() as store:
        return _require(store, execution_id)


@executions.command("list")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="How many."
)
@click.option(
    "--phase",
    type=click.Choice(PHASES, case_sensitive=False),
    default=None,
    help="Only executions in this phase.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_executions(limit: int, phase: str | None, as_json: bool) -> None:
    """The most recent executions, newest first."""
    with read_store() as store:
        records = (
            []
            if store is None
            else store.list_executions(limit=limit, phase=phase.upper() if phase else None)
        )
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "execution": r.id,
                        "name": r.name,
                        "kind": r.kind,
                        "phase": r.phase,
                        "created_at": r.created_at,
                        "ended_at": r.ended_at,
                    }
                    for r in records
                ]
            )
        )
        return
    if not records:
        click.echo(f"no {phase.upper()} executions" if phase else "no executions yet", err=True)
        return
    click.echo(f"{'EXECUTION':16} {'PHASE':10} {'STARTED':20} {'DURATION':>10}  NAME")
    for r in records:
        click.echo(
            f"{r.id:16} {r.phase:10} {when(r.created_at):20} "
            f"{duration(r.started_at, r.ended_at):>10}  {r.name}"
        )


def _node_document(node: Any, attempts: list[Any], kept: dict[str, str]) -> dict[str, Any]:
    return {
        **({"dask": kept} if kept else {}),
        "node": node.node_id,
        "parent": node.parent_id,
        "kind": node.kind,
        "target": node.target,
        "phase": node.phase,
        "cached": node.cached,
        "attempts": node.attempts,
        "started_at": node.started_at,
        "ended_at": node.ended_at,
        "info": node.info,
        "error": json.loads(node.error) if node.error else None,
        "attempt_history": [
            {
                "attempt": a.attempt,
                "phase": a.phase,
                "runner": a.runner,
                "error": json.loads(a.error) if a.error else None,
                "info": a.info,
                "handle": a.handle,
                "started_at": a.started_at,
                "ended_at": a.ended_at,
            }
            for a in attempts
        ],
    }


_MAP_KEYS = ("items", "succeeded", "failed", "running", "cached", "chunks", "errors")


def _tree_order(nodes: list[Any]) -> list[Any]:
    """Nodes depth first: each node followed by its children (sub-workflow, dynamic, branch)."""
    children: dict[str, list[Any]] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)
    ordered: list[Any] = []
    stack = [iter(sorted(children.get("", []), key=_start_key))]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        ordered.append(node)
        if node.node_id in children:
            stack.append(iter(sorted(children[node.node_id], key=_start_key)))
    return ordered


def _start_key(node: Any) -> tuple[float, str]:
    return (node.started_at or float("inf"), node.node_id)


def _info_lines(info: dict[str, Any]) -> list[str]:
    """A node's info for people: one summary line for a map, the case a branch took."""
    lines: list[str] = []
    if "items" in info:
        lines.append(
            f"items {info['items']}: {info.get('succeeded', 0)} succeeded "
            f"({info.get('cached', 0)} cached), {info.get('failed', 0)} failed, "
            f"{info.get('running', 0)} running"
        )
        for sample in info.get("errors", []):
            lines.append(f"item {sample['item']}: {sample['type']}: {sample['message']}")
    if isinstance(info.get("dynamic"), dict):
        lines.append(f"dynamic body built {info['dynamic'].get('nodes', 0)} node(s)")
    if "case" in info:
        lines.append(f"took case {info['case']}")
    for key, value in info.items():
        shown = key not in {"dashboard", "case", *_MAP_KEYS} and isinstance(
            value, str | int | float
        )
        if shown and value != "":  # "": e.g. "waiting" once an attempt no longer waits
            lines.append(f"{key}: {value}")
    return lines


@executions.command("show")
@click.argument("execution_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(execution_id: str, as_json: bool) -> None:
    """One execution: its nodes (nested), phases, attempts, errors and outputs."""
    with read_store() as store:
        record = _require(store, execution_id)
        assert store is not None
        nodes = store.get_nodes(execution_id)
        attempts: dict[str, list[Any]] = {}
        for attempt in store.get_attempts(execution_id):
            attempts.setdefault(attempt.node_id, []).append(attempt)
    template = decode(record.template, WorkflowTemplate)
    outputs: dict[str, Any] = {}
    missing: list[str] = []
    if record.outputs:
        literals = decode(record.outputs, LiteralMapDocument).literals
        for name, literal in literals.items():
            variable = template.interface.output(name)
            if variable is not None:
                outputs[name] = literal_to_display(literal, variable.type)
        missing = _missing_blobs(literals)
    error = decode(record.error, ErrorDocument) if record.error else None
    blobs = BlobStore(settings_for().resolved_blob_url)
    kept = {  # Dask nodes (they report a dashboard): the report and summary their last attempt kept
        node.node_id: kept_reports(blobs, attempts[node.node_id][-1])
        for node in nodes
        if "dashboard" in node.info and attempts.get(node.node_id)
    }
    if as_json:
        click.echo(
            json.dumps(
                {
                    "execution": record.id,
                    "name": record.name,
                    "kind": record.kind,
                    "phase": record.phase,
                    "created_at": record.created_at,
                    "ended_at": record.ended_at,
                    "outputs": outputs,
                    "missing_blobs": missing,
                    "error": json.loads(record.error) if record.error else None,
                    "nodes": [
                        _node_document(n, attempts.get(n.node_id, []), kept.get(n.node_id, {}))
                        for n in nodes
                    ],
                },
                default=str,
            )
        )
        return
    click.echo(
        f"execution {record.id}  {record.name}  {record.phase}  "
        f"{duration(record.started_at, record.ended_at)}"
    )
    click.echo(f"started {when(record.created_at)}")
    for node in _tree_order(nodes):
        depth = node.node_id.count("/")
        flags = " (cached)" if node.cached else ""
        tries = f"  attempts {node.attempts}" if node.attempts > 1 else ""
        kind = f"[{node.kind}]" if node.kind not in ("task", "") else ""
        name = node.node_id.rsplit("/", 1)[-1]
        click.echo(
            f"  {'  ' * depth}{name:<{max(28 - 2 * depth, len(name))}} {kind:<10} "
            f"{node.phase:<10}{flags} {duration(node.started_at, node.ended_at):>9}{tries}"
        )
        dashboard = node.info.get("dashboard")
        if dashboard:
            click.echo(f"  {'  ' * depth}  dask dashboard: {dashboard}")
        for key, where in kept.get(node.node_id, {}).items():
            click.echo(f"  {'  ' * depth}  dask {key}: {where}")
        for line in _info_lines(node.info):
            click.echo(f"  {'  ' * depth}  {line}")
        if node.error and node.phase == "FAILED":
            node_error = decode(node.error, ErrorDocument)
            click.echo(f"  {'  ' * depth}  {node_error.type}: {node_error.message}")
    if outputs:
        click.echo("outputs:")
        for name, value in outputs.items():
            click.echo(f"  {name}: {_shorten(json.dumps(value, default=str))}")
    for uri in missing:
        click.secho(f"  missing from the blob store: {uri}", fg="red")
    if error is not None:
        print_error(error, record.options.get("failed_node", ""))


@executions.command("resume")
@click.argument("execution_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def resume(execution_id: str, as_json: bool) -> None:
    """Finish an execution whose engine died; nothing that succeeded runs again."""
    record = _known(execution_id)
    # Resume where it ran: an execution started with --isolate keeps its runner.
    engine = make_engine(record.options.get("runner") or None)
    progress = Progress()
    engine.observer = progress
    started = time.monotonic()
    try:
        with sigterm_stops():
            outcome = engine.resume(execution_id)
    except ExecutionError as exc:
        raise click.ClickException(str(exc)) from None
    except Terminated:
        progress.stop()
        exit_resumable(execution_id)
    except KeyboardInterrupt:
        progress.stop()
        click.secho("interrupted: the execution was aborted", fg="red", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        progress.stop()
    template = decode(record.template, WorkflowTemplate)
    code = report_outcome(outcome, template.interface, as_json, started)
    if code:
        sys.exit(code)


@executions.command("abort")
@click.argument("execution_id", metavar="ID")
def abort(execution_id: str) -> None:
    """Stop a running execution and everything it launched."""
    _known(execution_id)
    engine = make_engine()
    try:
        phase = engine.abort(execution_id)
    except ExecutionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"execution {execution_id} {phase.value}")


@executions.command("logs")
@click.argument("execution_id", metavar="ID")
@click.argument("node")
@click.option("--attempt", type=int, default=None, help="Which attempt (default: the last).")
def logs(execution_id: str, node: str, attempt: int | None) -> None:
    """Print the logs an attempt of NODE wrote (its process, or its Pod on Kubernetes)."""
    with read_engine() as engine:
        _logs(engine, execution_id, node, attempt)


def _logs(engine: Any, execution_id: str, node: str, attempt: int | None) -> None:
    _require(engine and engine.store, execution_id)
    chosen = chosen_attempt(engine.store, execution_id, node, attempt)
    text = engine.attempt_logs(chosen)
    if text is None:
        raise click.ClickException(
            f"attempt {chosen.attempt} of {node!r} ran {chosen.runner}: it kept no separate log "
            "(in-process attempts log to the engine's own stderr)"
        )
    click.echo(text, nl=False)


def _missing_blobs(literals: Any) -> list[str]:
    """The blobs of stored outputs that are gone (checked for presence only: reads nothing)."""
    blobs = BlobStore(settings_for().resolved_blob_url)
    return [lit.uri for lit in offloaded(iter(literals.values())) if not blobs.exists(lit.uri)]


executions.add_command(report)


def _shorten(text: str, limit: int = 300) -> str:
    """Long values (a 100,000-item list) cut for the terminal; --json has them whole."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters; --json shows all)"

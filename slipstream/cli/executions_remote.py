"""`slipstream executions ...` against a server: list, show, logs, abort, relaunch, recover, follow.

The same commands as the local ones, on the server's API; `ServerModeGroup` picks this set
when `--remote URL` or the server_url setting is given.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from slipstream.cli.follow import follow as follow_execution
from slipstream.cli.output import duration, when
from slipstream.cli.remote import RemoteClient, ServerError, require_client


def _client(ctx: click.Context) -> RemoteClient:
    remote = ctx.find_root().meta.get("slipstream.remote")
    return require_client(remote)


def _call(ctx: click.Context, method: str, *args: Any, **kwargs: Any) -> Any:
    with _client(ctx) as client:
        try:
            return getattr(client, method)(*args, **kwargs)
        except ServerError as exc:
            raise click.ClickException(str(exc)) from None


class ServerModeGroup(click.Group):
    """A group whose commands go to a server when --remote or server_url is set."""

    def __init__(self, *args: Any, remote_commands: click.Group, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote_commands = remote_commands

    def _remote(self, ctx: click.Context) -> str | None:
        from slipstream.config import load_settings

        remote = ctx.params.get("remote") or load_settings().server_url or None
        ctx.find_root().meta["slipstream.remote"] = remote
        return remote

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self._remote(ctx):
            return self.remote_commands.get_command(ctx, cmd_name)
        local = super().get_command(ctx, cmd_name)
        if local is None and cmd_name in self.remote_commands.commands:
            return _needs_server(cmd_name)
        return local

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.remote_commands.commands))


def _needs_server(name: str) -> click.Command:
    def refuse() -> None:
        raise click.UsageError(
            f"`executions {name}` needs a server: pass --remote URL (before {name}) or set "
            "SLIPSTREAM_SERVER_URL"
        )

    return click.Command(
        name,
        callback=refuse,
        help="Needs a server (--remote URL).",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


remote_executions = click.Group("executions")


@remote_executions.command("list")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--phase", default=None, help="Only executions in this phase.")
@click.option("--name", default=None, help="Only executions of this workflow or task.")
@click.option("--label", default=None, metavar="KEY=VALUE", help="Only those with this label.")
@click.option("--launched-by", default=None, help="Only those launched by this user or token.")
@click.option("--cursor", default=None, help="The next page (printed after a full page).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_executions(
    ctx: click.Context,
    limit: int,
    phase: str | None,
    name: str | None,
    label: str | None,
    launched_by: str | None,
    cursor: str | None,
    as_json: bool,
) -> None:
    """The most recent executions on the server."""
    page = _call(
        ctx,
        "list_executions",
        limit=limit,
        phase=phase.upper() if phase else None,
        name=name,
        label=label,
        launched_by=launched_by,
        cursor=cursor,
    )
    rows = page["executions"]
    if as_json:
        click.echo(json.dumps(page))
        return
    if not rows:
        click.echo("no executions", err=True)
        return
    click.echo(f"{'EXECUTION':16} {'PHASE':10} {'STARTED':20} {'DURATION':>10}  {'BY':12} NAME")
    for r in rows:
        click.echo(
            f"{r['id']:16} {r['phase']:10} {when(r['created_at']):20} "
            f"{duration(r['started_at'], r['ended_at']):>10}  {r['launched_by'][:12]:12} "
            f"{r['name']}"
        )
    if page.get("next_cursor"):
        click.echo(f"more: --cursor {page['next_cursor']}", err=True)


@remote_executions.command("show")
@click.argument("execution_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, execution_id: str, as_json: bool) -> None:
    """One execution: its nodes (nested), phases, attempts, errors and outputs."""
    doc = _call(ctx, "execution", execution_id)
    if as_json:
        click.echo(json.dumps(doc))
        return
    click.echo(
        f"execution {doc['id']}  {doc['name']}  {doc['phase']}  "
        f"{duration(doc['started_at'], doc['ended_at'])}"
    )
    parent = f"  ({doc['relation']} of {doc['parent']})" if doc.get("parent") else ""
    click.echo(
        f"started {when(doc['created_at'])} by {doc['launched_by'] or '?'} in "
        f"{doc['project']}/{doc['domain']} version {doc['version'] or '-'}{parent}"
    )
    for node in doc["nodes"]:
        depth = node["id"].count("/")
        flags = " (cached)" if node["cached"] else ""
        tries = f"  attempts {node['attempts']}" if node["attempts"] > 1 else ""
        name = node["id"].rsplit("/", 1)[-1]
        click.echo(
            f"  {'  ' * depth}{name:<{max(28 - 2 * depth, len(name))}} {node['phase']:<10}"
            f"{flags} {duration(node['started_at'], node['ended_at']):>9}{tries}"
        )
        info = node.get("info") or {}
        if "items" in info:
            click.echo(
                f"  {'  ' * depth}  items {info['items']}: {info.get('succeeded', 0)} succeeded, "
                f"{info.get('failed', 0)} failed, {info.get('running', 0)} running"
            )
        if node.get("error") and node["phase"] == "FAILED":
            error = node["error"]
            click.echo(f"  {'  ' * depth}  {error['type']}: {error['message']}")
    if doc.get("outputs"):
        click.echo("outputs:")
        for key, value in doc["outputs"].items():
            click.echo(f"  {key}: {json.dumps(value, default=str)[:300]}")
    if doc.get("error"):
        error = doc["error"]
        click.secho(
            f"{error['kind']} error: {error['type']}: {error['message']}", fg="red", err=True
        )


@remote_executions.command("logs")
@click.argument("execution_id", metavar="ID")
@click.argument("node")
@click.option("--attempt", type=int, default=None, help="Which attempt (default: the last).")
@click.option("--follow", "follow_log", is_flag=True, help="Go on printing until it ends.")
@click.pass_context
def logs(
    ctx: click.Context, execution_id: str, node: str, attempt: int | None, follow_log: bool
) -> None:
    """Print the log an attempt of NODE wrote."""
    if not follow_log:
        click.echo(_call(ctx, "logs", execution_id, node, attempt)["text"], nl=False)
        return
    with _client(ctx) as client:
        params: dict[str, Any] = {"follow": "true"}
        if attempt is not None:
            params["attempt"] = attempt
        try:
            for kind, data in client.stream(
                f"/executions/{execution_id}/nodes/{node}/logs", params
            ):
                if kind == "log":
                    click.echo(data["text"], nl=False)
        except ServerError as exc:
            raise click.ClickException(str(exc)) from None


@remote_executions.command("abort")
@click.argument("execution_id", metavar="ID")
@click.pass_context
def abort(ctx: click.Context, execution_id: str) -> None:
    """Stop a running execution and everything it launched."""
    click.echo(f"execution {execution_id} {_call(ctx, 'abort', execution_id)}")


@remote_executions.command("relaunch")
@click.argument("execution_id", metavar="ID")
@click.option("--input", "inputs", multiple=True, metavar="NAME=JSON", help="Override an input.")
@click.option("--follow", "follow_it", is_flag=True, help="Follow the new execution.")
@click.pass_context
def relaunch(
    ctx: click.Context, execution_id: str, inputs: tuple[str, ...], follow_it: bool
) -> None:
    """A new execution of the same entity version with the same inputs (some overridden)."""
    overrides: dict[str, Any] = {}
    for item in inputs:
        key, sep, text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=JSON", param_hint="--input")
        try:
            overrides[key] = json.loads(text)
        except ValueError:
            overrides[key] = text
    new = _call(ctx, "relaunch", execution_id, overrides)
    _started(ctx, new, follow_it)


@remote_executions.command("recover")
@click.argument("execution_id", metavar="ID")
@click.option("--follow", "follow_it", is_flag=True, help="Follow the new execution.")
@click.pass_context
def recover(ctx: click.Context, execution_id: str, follow_it: bool) -> None:
    """Re-run a failed execution, reusing the outputs of every node that succeeded."""
    _started(ctx, _call(ctx, "recover", execution_id), follow_it)


def _started(ctx: click.Context, execution_id: str, follow_it: bool) -> None:
    click.echo(execution_id)
    if follow_it:
        with _client(ctx) as client:
            code = follow_execution(client, execution_id)
        if code:
            sys.exit(code)


@remote_executions.command("follow")
@click.argument("execution_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line.")
@click.option("--abort-on-interrupt", is_flag=True, help="Ctrl-C aborts instead of detaching.")
@click.pass_context
def follow(ctx: click.Context, execution_id: str, as_json: bool, abort_on_interrupt: bool) -> None:
    """Follow an execution live until it ends, then print its outcome."""
    with _client(ctx) as client:
        code = follow_execution(client, execution_id, as_json, abort_on_interrupt)
    if code:
        sys.exit(code)

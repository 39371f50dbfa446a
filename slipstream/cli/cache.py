"""`slipstream cache list|clear`: the task result cache in the metadata store."""

from __future__ import annotations

import json

import click

from slipstream.cli.context import engine as make_engine
from slipstream.cli.context import read_store
from slipstream.cli.output import seconds_ago, when


@click.group("cache")
def cache() -> None:
    """List and evict cached task results."""


@cache.command("list")
@click.option("--task", "task_name", default=None, help="Only entries of this task.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_entries(task_name: str | None, as_json: bool) -> None:
    """Cached results, newest first."""
    with read_store() as store:
        found = [] if store is None else store.cache_list(task_name)
    entries = sorted(found, key=lambda e: -e.created_at)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "key": e.key,
                        "task": e.task_name,
                        "version": e.cache_version,
                        "created_at": e.created_at,
                        "expires_at": e.expires_at,
                        "execution": e.execution_id,
                        "node": e.node_id,
                    }
                    for e in entries
                ]
            )
        )
        return
    if not entries:
        click.echo("the cache is empty", err=True)
        return
    click.echo(f"{'KEY':14} {'CREATED':20} {'EXPIRES':20} {'VERSION':18} TASK")
    for e in entries:
        click.echo(
            f"{e.key[:12]:14} {when(e.created_at):20} {when(e.expires_at) or 'never':20} "
            f"{e.cache_version[:18]:18} {e.task_name}"
        )


@cache.command("clear")
@click.option("--task", "task_name", default=None, help="Only entries of this task.")
@click.option(
    "--older-than",
    default=None,
    metavar="DURATION",
    help="Only entries created longer ago than this (90s, 15m, 2h, 7d).",
)
def clear(task_name: str | None, older_than: str | None) -> None:
    """Evict cached results (all, or those matching the filters)."""
    before = None if older_than is None else seconds_ago(older_than, "--older-than")
    removed = make_engine().store.cache_delete(task_name, before)
    click.echo(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'}")

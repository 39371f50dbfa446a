"""`slipstream audit`: the server's audit trail (for an admin token), as a table or JSON lines."""

from __future__ import annotations

import json
from typing import Any

import click

from slipstream.cli.output import seconds_ago, when
from slipstream.cli.remote import ServerError, require_client


@click.command("audit")
@click.option("--remote", default=None, metavar="URL", help="The server (default: server_url).")
@click.option("--who", default=None, help="Only events of this token (or user) name.")
@click.option("--action", default=None, help="Only this action (launch, abort, activate, ...).")
@click.option("--target", default=None, help="Only events about this execution id or name.")
@click.option("--refused", is_flag=True, help="Only refused calls (401, 403).")
@click.option("--since", default=None, metavar="DURATION", help="Only the last 90s, 15m, 2h, 7d.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event (stdout).")
def audit(
    remote: str | None,
    who: str | None,
    action: str | None,
    target: str | None,
    refused: bool,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Who changed what, when and from where on the server, and every refused call; newest
    first. Needs an admin token (SLIPSTREAM_SERVER_TOKEN)."""
    params = {
        "who": who,
        "action": action,
        "target": target,
        "refused": "true" if refused else None,
        "after": None if since is None else seconds_ago(since, "--since"),
    }
    events: list[dict[str, Any]] = []
    with require_client(remote) as client:
        cursor = None
        try:
            while len(events) < limit:
                page = client.audit(**params, limit=min(500, limit - len(events)), cursor=cursor)
                events.extend(page["events"])
                cursor = page["next_cursor"]
                if not cursor:
                    break
        except ServerError as exc:
            raise click.ClickException(str(exc)) from None
    for e in events:
        if as_json:
            click.echo(json.dumps(e))
        else:
            click.echo(
                f"{when(e['at']):20} {e['who'] or '?':16} {e['action']:14} {e['status']:3} "
                f"{e['client']:15} {e['target'] or e['path']}"
                + (f"  ({e['detail']})" if e["status"] in (401, 403) and e["detail"] else "")
            )

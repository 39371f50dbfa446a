"""`slipstream launchplan activate|deactivate NAME`: start or stop a launch plan's schedule."""

from __future__ import annotations

import json
from typing import Any

import click

from slipstream.cli.remote import ServerError, require_client


@click.group("launchplan")
def launchplan() -> None:
    """Activate or deactivate registered launch plans (their schedules) on the server."""


def _change(action: str, name: str, remote: str | None, as_json: bool, **params: Any) -> None:
    with require_client(remote) as client:
        try:
            state = client.plan_action(action, name, **params)
        except ServerError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(state))
    elif state["active"]:
        click.echo(f"launch plan {name} version {state['version']} is active")
    else:
        click.echo(f"launch plan {name} is inactive")


_common = [
    click.option("--project", default="default", show_default=True),
    click.option("--domain", default="development", show_default=True),
    click.option("--remote", default=None, metavar="URL", help="The server (default: server_url)."),
    click.option("--json", "as_json", is_flag=True, help="Print the plan's state as JSON."),
]


def _with_common(command: Any) -> Any:
    for option in reversed(_common):
        command = option(command)
    return command


@launchplan.command("activate")
@click.argument("name")
@click.option("--version", default=None, help="Default: the latest registered version.")
@_with_common
def activate(
    name: str, version: str | None, project: str, domain: str, remote: str | None, as_json: bool
) -> None:
    """Make a version of the plan the active one: its schedule fires from now on."""
    _change("activate", name, remote, as_json, project=project, domain=domain, version=version)


@launchplan.command("deactivate")
@click.argument("name")
@_with_common
def deactivate(name: str, project: str, domain: str, remote: str | None, as_json: bool) -> None:
    """Stop the plan's schedule."""
    _change("deactivate", name, remote, as_json, project=project, domain=domain)

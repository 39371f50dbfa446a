"""`slipstream launch NAME --input value`: launch a registered entity on the server and follow it.

Inputs are options built from the interface the server has registered (its JSON Schema per
input): strings as typed, numbers and booleans parsed, anything else as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from slipstream.cli.follow import follow
from slipstream.cli.loading import ENTITY_COMMAND_SETTINGS
from slipstream.cli.remote import RemoteClient, ServerError, require_client

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
KINDS = ("launch_plan", "workflow", "task")


class SchemaValue(click.ParamType):
    """Command-line text to the JSON value an input's schema describes."""

    def __init__(self, variable: dict[str, Any]) -> None:
        self.variable = variable
        self.name = variable.get("type", "value")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        schema = self.variable.get("schema", {})
        kind = schema.get("type")
        try:
            if kind == "string" and "format" not in schema and "enum" not in schema:
                return value
            if kind == "integer":
                return int(value)
            if kind == "number":
                return float(value)
            if kind == "boolean":
                word = value.strip().lower()
                if word in _TRUE or word in _FALSE:
                    return word in _TRUE
                raise ValueError("use true or false")
            try:
                return json.loads(value)
            except ValueError:
                return value  # an enum value, a date-time, a URI: the server checks it
        except ValueError as exc:
            self.fail(f"input {self.variable['name']!r} expects {self.name}: {exc}", param, ctx)


def find_entity(
    client: RemoteClient, name: str, version: str | None, project: str, domain: str
) -> dict[str, Any]:
    """The registered launch plan, workflow or task called name (in that order)."""
    for kind in KINDS:
        try:
            return client.entity(kind, name, project=project, domain=domain, version=version)
        except ServerError as exc:
            if exc.status != 404:
                raise click.ClickException(str(exc)) from None
    at = f" version {version!r}" if version else ""
    raise click.BadParameter(
        f"no launch plan, workflow or task {name!r}{at} is registered in {project}/{domain}",
        param_hint="NAME",
    )


def _input_options(entity: dict[str, Any]) -> list[click.Parameter]:
    options: list[click.Parameter] = []
    for variable in entity["interface"]["inputs"]:
        name = variable["name"]
        flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
        shown = f" (default: {json.dumps(variable['default'])})" if "default" in variable else ""
        options.append(
            click.Option(
                [*flags, name],
                type=SchemaValue(variable),
                required=variable.get("required", False),
                default=None,
                help=f"{variable['type']}{shown}",
            )
        )
    return options


@click.command("launch", context_settings=ENTITY_COMMAND_SETTINGS)
@click.argument("name", required=False)
@click.option("--version", default=None, help="Default: the latest registered version.")
@click.option("--project", default="default", show_default=True)
@click.option("--domain", default="development", show_default=True)
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="A label to set.")
@click.option("--remote", default=None, metavar="URL", help="The server (default: server_url).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line.")
@click.option("--no-follow", is_flag=True, help="Print the new execution's id and return.")
@click.option("--abort-on-interrupt", is_flag=True, help="Ctrl-C aborts instead of detaching.")
@click.pass_context
def launch(
    ctx: click.Context,
    name: str | None,
    version: str | None,
    project: str,
    domain: str,
    labels: tuple[str, ...],
    remote: str | None,
    as_json: bool,
    no_follow: bool,
    abort_on_interrupt: bool,
) -> None:
    """Launch a registered launch plan, workflow or task: slipstream launch NAME [--input v ...]

    `slipstream launch NAME --help` lists its inputs, types and defaults.
    """
    asked_for_help = bool({"--help", "-h"} & set(ctx.args)) or name in ("--help", "-h")
    if name is None or (asked_for_help and name in ("--help", "-h")):
        click.echo(ctx.get_help())
        ctx.exit(0 if asked_for_help else 2)
    assert name is not None
    parsed_labels = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--label")
        parsed_labels[key] = value
    with require_client(remote) as client:
        entity = find_entity(client, name, version, project, domain)
        command = click.Command(
            f"slipstream launch {name}",
            params=_input_options(entity),
            help=f"Launch the {entity['kind'].replace('_', ' ')} {name}.",
            context_settings={"help_option_names": ["-h", "--help"]},
        )
        with command.make_context(f"slipstream launch {name}", list(ctx.args)) as sub:
            inputs = {k: v for k, v in sub.params.items() if v is not None}
        try:
            execution_id = client.launch(
                {
                    "project": project,
                    "domain": domain,
                    entity["kind"]: name,
                    "version": entity["version"],
                    "inputs": inputs,
                    "labels": parsed_labels,
                }
            )
        except ServerError as exc:
            raise click.ClickException(str(exc)) from None
        if no_follow:
            click.echo(json.dumps({"execution": execution_id}) if as_json else execution_id)
            return
        code = follow(client, execution_id, as_json, abort_on_interrupt)
    if code:
        sys.exit(code)

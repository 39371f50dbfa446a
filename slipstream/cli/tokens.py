"""`slipstream token create|list|revoke`: the server's named, scoped tokens (the tokens file)."""

from __future__ import annotations

import json
import time

import click

from slipstream.config import load_settings

_FILE = click.option(
    "--tokens-file",
    default=None,
    metavar="PATH",
    help="Default: the server_tokens_file setting, else $home/server/tokens.json.",
)


@click.group("token")
def token() -> None:
    """Make, list and revoke the tokens a server accepts (each has a name and a scope).

    Scopes: read (list and show), launch (also register, launch, relaunch, recover, abort
    its own executions), admin (everything: others' executions, schedules, the cache, the
    audit trail). The file keeps only SHA-256 digests; a running server reads it again when
    it changes.
    """


@token.command("create")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(("read", "launch", "admin")),
    required=True,
    help="What the token may do.",
)
@_FILE
def create(name: str, scope: str, tokens_file: str | None) -> None:
    """Make a token NAME; it is printed once (stdout) and only its digest is kept."""
    from slipstream.errors import ConfigError
    from slipstream.server.tokens import create_token, tokens_path

    path = tokens_path(load_settings(), tokens_file)
    try:
        secret = create_token(path, name, scope)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"token {name!r} (scope {scope}) added to {path}; it is shown only now:", err=True)
    click.echo(secret)


@token.command("list")
@_FILE
@click.option("--json", "as_json", is_flag=True, help="One JSON object per token.")
def list_tokens(tokens_file: str | None, as_json: bool) -> None:
    """The tokens' names, scopes and creation times (never the tokens)."""
    from slipstream.server.tokens import read_tokens, tokens_path

    path = tokens_path(load_settings(), tokens_file)
    tokens = read_tokens(path) if path.exists() else []
    for t in tokens:
        if as_json:
            click.echo(json.dumps({"name": t.name, "scope": t.scope, "created_at": t.created_at}))
        else:
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t.created_at))
            click.echo(f"{t.name:24} {t.scope:7} {created}")


@token.command("revoke")
@click.argument("name")
@_FILE
def revoke(name: str, tokens_file: str | None) -> None:
    """Remove token NAME: a running server refuses it from its next request."""
    from slipstream.errors import ConfigError
    from slipstream.server.tokens import revoke_token, tokens_path

    path = tokens_path(load_settings(), tokens_file)
    try:
        revoke_token(path, name)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"token {name!r} revoked")

"""`slipstream serve`: the API server (and the web UI) on this machine's settings."""

from __future__ import annotations

import click

from slipstream.cli.context import settings_for


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--tokens-file",
    default=None,
    metavar="PATH",
    help="The named, scoped tokens to accept (made by `slipstream token create`); default the "
    "server_tokens_file setting, else $home/server/tokens.json. SLIPSTREAM_SERVER_TOKEN is also "
    "accepted, as an admin token named server_token. A token is needed to listen beyond "
    "loopback.",
)
@click.option(
    "--backend",
    type=click.Choice(("inprocess", "process", "kubernetes")),
    default=None,
    help="Where attempts run (default: the runner setting).",
)
def serve(host: str, port: int, tokens_file: str | None, backend: str | None) -> None:
    """Serve the REST API under /api/v1 (docs at /api/v1/docs) and the web UI at /.

    Uses the same settings as the CLI: the metadata store (SQLite, or PostgreSQL by
    SLIPSTREAM_DATABASE_URL), the blob store and the runner. Ctrl-C stops it; executions
    still running are resumed when it starts again.
    """
    from slipstream.errors import ConfigError
    from slipstream.server.serve import serve as run_server

    settings = settings_for(backend)
    try:
        run_server(settings, host=host, port=port, tokens_file=tokens_file)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None

"""`slipstream serve`: the API server (and the web UI) on this machine's settings."""

from __future__ import annotations

import click

from slipstream.cli.context import settings_for


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    default=None,
    help="Require this token (Bearer, or ?token= once in the UI); default SLIPSTREAM_SERVER_TOKEN."
    " Needed to listen beyond loopback.",
)
@click.option(
    "--token-name",
    default="token",
    show_default=True,
    help="The name recorded as launched_by for calls made with the token.",
)
@click.option(
    "--backend",
    type=click.Choice(("inprocess", "process", "kubernetes")),
    default=None,
    help="Where attempts run (default: the runner setting).",
)
def serve(host: str, port: int, token: str | None, token_name: str, backend: str | None) -> None:
    """Serve the REST API under /api/v1 (docs at /api/v1/docs) and the web UI at /.

    Uses the same settings as the CLI: the metadata store (SQLite, or PostgreSQL by
    SLIPSTREAM_DATABASE_URL), the blob store and the runner. Ctrl-C stops it; executions
    still running are resumed when it starts again.
    """
    from slipstream.errors import ConfigError
    from slipstream.server.serve import serve as run_server

    settings = settings_for(backend)
    try:
        run_server(
            settings,
            host=host,
            port=port,
            token=token or settings.server_token or None,
            token_name=token_name,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None

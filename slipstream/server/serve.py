"""Runs the server: checks the bind, opens the services, serves with uvicorn; for `serve`.

Ctrl-C or SIGTERM stops it cleanly: no new requests, and executions still running are left
RUNNING (not failed) for the next server start to resume.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from slipstream.config import Settings
from slipstream.server.auth import AuthConfig, check_bind
from slipstream.server.tokens import server_tokens

log = logging.getLogger("slipstream.server")


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8080,
    tokens_file: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve until interrupted; then leave the process without waiting for running attempts."""
    tokens = server_tokens(settings, tokens_file)
    check_bind(host, tokens)
    import uvicorn

    from slipstream.server.app import create_app
    from slipstream.server.services import open_services

    services = open_services(settings)
    app = create_app(services, AuthConfig(tokens=tokens))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,  # open event streams are cut after this
    )
    server = uvicorn.Server(config)
    # uvicorn stops gracefully on SIGINT/SIGTERM, then raises the signal again under the
    # handlers it found: these make that a no-op, so the stop below runs in full.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    server.run()
    left = services.runtime.running_count()
    if not left:
        services.close()
        if not server.started:
            raise SystemExit(1)
        return
    print(
        f"slipstream server stopped; {left} execution(s) left to resume at the next start",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    # Running executions' threads (and in-process attempts) are not waited for: they are
    # resumed by the next server, exactly as after a crash, but nothing is marked failed.
    os._exit(0)

"""Runs the server: checks the bind, opens the services, serves with uvicorn; for `serve`.

Ctrl-C or SIGTERM stops it cleanly: no new requests, and executions still running are left
RUNNING (not failed), their leases handed over: another server takes them up at once, or the
next start of this one. On SQLite there is one server: a second refuses to start.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
from pathlib import Path
from typing import IO

from slipstream.config import Settings
from slipstream.errors import ConfigError
from slipstream.server.auth import AuthConfig, check_bind
from slipstream.server.tokens import server_tokens

log = logging.getLogger("slipstream.server")


def hold_sqlite(settings: Settings) -> IO[str] | None:
    """On SQLite, the lock that makes this the only server of the database (held until the
    process ends, also when it is killed); a ConfigError naming the other server if taken.
    None on PostgreSQL, where servers share the work through leases."""
    url = settings.resolved_database_url
    if not url.startswith("sqlite"):
        return None
    database = Path(url.split("///", 1)[1].split("?", 1)[0])
    database.parent.mkdir(parents=True, exist_ok=True)
    held = open(f"{database}.server-lock", "a+")  # noqa: SIM115 - kept open while serving
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.seek(0)
        other = held.read().strip() or "unknown"
        held.close()
        raise ConfigError(
            f"another slipstream server (process {other}) already serves the SQLite database "
            f"{database}: SQLite means one server. Stop that one, or give several servers one "
            "PostgreSQL database (SLIPSTREAM_DATABASE_URL=postgresql://...)"
        ) from None
    held.truncate(0)
    held.write(f"{os.getpid()}\n")
    held.flush()
    return held


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

    lock = hold_sqlite(settings)
    services = open_services(settings, sole=lock is not None)
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
        f"slipstream server stopped; {left} execution(s) left to resume (by another server "
        "of the database, or at the next start)",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    # Running executions' threads (and in-process attempts) are not waited for: they are
    # resumed by the next server, exactly as after a crash, but nothing is marked failed.
    os._exit(0)

"""Fixtures for the server tests: a real uvicorn on a loopback port, projects to register."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import FLOWS, Live, free_port

from slipstream.config import load_settings
from slipstream.server.app import create_app
from slipstream.server.auth import AuthConfig
from slipstream.server.services import open_services
from slipstream.server.tokens import Token, TokenSet


@pytest.fixture
def start_server(home: Path) -> Iterator[Any]:
    """start(token=None, tokens=None) -> Live: a uvicorn serving create_app on a free loopback
    port; `token` is an admin token named "ci" (the client's), `tokens` more: {name: (token,
    scope)}, `tokens_file` a tokens file."""
    import uvicorn

    started: list[tuple[uvicorn.Server, threading.Thread, Live]] = []

    def start(
        token: str | None = None,
        tokens: dict[str, tuple[str, str]] | None = None,
        tokens_file: Path | None = None,
        **settings: Any,
    ) -> Live:
        services = open_services(load_settings().with_values(**settings))
        given = {**({"ci": (token, "admin")} if token else {}), **(tokens or {})}
        accepted = [
            Token.from_secret(name, scope, secret) for name, (secret, scope) in given.items()
        ]
        app = create_app(services, AuthConfig(tokens=TokenSet(tokens_file, accepted)))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise AssertionError("the server did not start")
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        headers = {"authorization": f"Bearer {token}"} if token else {}
        live = Live(url, services, httpx.Client(base_url=url, headers=headers, timeout=30))
        started.append((server, thread, live))
        return live

    yield start
    for server, thread, live in started:
        live.client.close()
        server.should_exit = True
        thread.join(timeout=20)
        deadline = time.monotonic() + 20
        while live.services.runtime.running_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        live.services.close()


@pytest.fixture
def server(start_server: Any) -> Live:
    live: Live = start_server()
    return live


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A source tree holding FLOWS under a module name of its own: (root, module)."""
    module = f"flows_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "project"
    root.mkdir()
    (root / f"{module}.py").write_text(textwrap.dedent(FLOWS))
    yield root, module
    for name in [m for m in sys.modules if m == module]:
        del sys.modules[name]

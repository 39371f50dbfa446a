"""Browser-test fixtures: a real server on a loopback port with the UI's flows registered, and
Chromium (the shared `chromium_path`) driven by Playwright, with every page request recorded."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LiveServer:
    """`slipstream serve`'s app on a loopback port, in a thread of the test process."""

    def __init__(
        self, home: Path, token: str | None = None, tokens: dict[str, tuple[str, str]] | None = None
    ) -> None:
        """`token`: an admin token (the client's); `tokens`: more, {name: (token, scope)}."""
        import uvicorn

        from slipstream.config import load_settings
        from slipstream.server.app import create_app
        from slipstream.server.services import open_services

        environ = {"SLIPSTREAM_HOME": str(home), "SLIPSTREAM_RUNNER": "process"}
        settings = load_settings(cwd=str(home), environ=environ)
        self.services = open_services(settings)
        from slipstream.server.auth import AuthConfig
        from slipstream.server.tokens import Token, TokenSet

        given = {**({"admin": (token, "admin")} if token else {}), **(tokens or {})}
        accepted = [
            Token.from_secret(name, scope, secret) for name, (secret, scope) in given.items()
        ]
        app = create_app(self.services, AuthConfig(tokens=TokenSet(None, accepted)))
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.token = token

    def register(self, source: Path) -> dict[str, Any]:
        from slipstream.cli.register import collect, register_entities
        from slipstream.cli.remote import RemoteClient

        root, entities = collect([str(source)])
        with RemoteClient(self.url, token=self.token) as client:
            return register_entities(client, root, entities, "default", "development", None)

    def wait_phase(self, execution_id: str, phases: set[str], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            phase = str(self.services.executions.get(execution_id)["phase"])
            if phase in phases or time.monotonic() > deadline:
                return phase
            time.sleep(0.05)

    def count_executions(self) -> int:
        from slipstream.storage.metadata.server_records import ExecutionFilter

        return len(self.services.executions.list_executions(ExecutionFilter(), 500)["executions"])

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.services.close()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("ui-home")
    source = tmp_path_factory.mktemp("ui-src")
    shutil.copy(HERE / "ui_flows.py", source / "ui_flows.py")
    server = LiveServer(home)
    try:
        server.register(source / "ui_flows.py")
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Recorder:
    """Every URL a page asked for, and the errors its scripts raised."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        self.violations: list[str] = []  # Content-Security-Policy refusals

    def off_loopback(self) -> list[str]:
        return [
            u
            for u in self.urls
            if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urlsplit(u).hostname not in LOOPBACK
        ]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def page(browser: Any, recorder: Recorder, tmp_path: Path) -> Iterator[Any]:
    """A 1280x800 page; afterwards: no request left loopback, no script error, nothing the
    page's Content-Security-Policy refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(15000)
    tab.on("request", lambda request: recorder.urls.append(request.url))
    tab.on("pageerror", lambda error: recorder.errors.append(str(error)))
    tab.on(
        "console",
        lambda m: recorder.violations.append(m.text) if "Content Security Policy" in m.text else 0,
    )
    try:
        yield tab
    finally:
        tab.screenshot(path=str(tmp_path / "last.png"), full_page=True)
        context.close()
    assert recorder.off_loopback() == [], "a page asked for something beyond loopback"
    assert recorder.errors == [], "a page script failed"
    assert recorder.violations == [], "a page needed something its security policy forbids"

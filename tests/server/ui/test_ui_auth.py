"""The UI behind a token: ?token= once, then the cookie; its posts carry the CSRF token."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import HERE, LiveServer  # the fixtures module of this folder

pytestmark = pytest.mark.timeout(120)
TOKEN = "s3cret-ui-token"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    source = tmp_path_factory.mktemp("guarded-src")
    shutil.copy(HERE / "ui_flows.py", source / "ui_flows.py")
    server = LiveServer(tmp_path_factory.mktemp("guarded-home"), token=TOKEN)
    try:
        server.register(source / "ui_flows.py")
        yield server
    finally:
        server.close()


def test_token_once_then_the_cookie_launches_and_follows(page: Any, guarded: LiveServer) -> None:
    assert httpx.get(f"{guarded.url}/workflows").status_code == 401
    page.goto(f"{guarded.url}/workflows/ui_flows.squares/launch?token={TOKEN}")
    assert "token=" not in page.url  # it is kept in an HttpOnly cookie, not in the address
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["slipstream_session"]["httpOnly"] is True
    page.get_by_role("button", name="Launch").click()  # a POST: cookie + CSRF header
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))
    page.wait_for_selector('#graph g.node.phase-SUCCEEDED[data-node="map-square"]')  # via SSE
    assert json.loads(page.locator("pre.outputs").inner_text()) == {"o0": [1, 4, 9]}


def test_a_post_without_the_csrf_token_is_refused(page: Any, guarded: LiveServer) -> None:
    page.goto(f"{guarded.url}/workflows?token={TOKEN}")
    status = page.evaluate(
        """async () => (await fetch("/ui/launch", {method: "POST", body: "{}",
            headers: {"Content-Type": "application/json"}})).status"""
    )
    assert status == 403

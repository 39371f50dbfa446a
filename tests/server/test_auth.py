"""Auth: loopback-only without a token, Bearer or 401, the ?token= cookie flow, CSRF."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from slipstream.cli.main import cli
from slipstream.errors import ConfigError
from slipstream.server.auth import CSRF_COOKIE, SESSION_COOKIE, check_bind
from slipstream.server.tokens import Token, TokenSet


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.org", "::"])
def test_no_token_refuses_a_bind_beyond_loopback(host: str) -> None:
    with pytest.raises(ConfigError, match="slipstream token create") as caught:
        check_bind(host, None)
    assert "SLIPSTREAM_SERVER_TOKEN" in str(caught.value)
    with pytest.raises(ConfigError, match="--tokens-file"):
        check_bind(host, TokenSet(None, []))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.5"])
def test_no_token_is_fine_on_loopback(host: str) -> None:
    check_bind(host, None)
    check_bind("0.0.0.0", TokenSet(None, [Token.from_secret("ops", "admin", "a-token")]))


def test_serve_refuses_to_start_beyond_loopback_without_a_token(home: Any) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "token create" in result.output and "SLIPSTREAM_SERVER_TOKEN" in result.output


def test_every_call_needs_the_bearer_token(start_server: Any) -> None:
    live = start_server(token="s3cret")
    bare = httpx.Client(base_url=live.url)
    assert bare.get("/api/v1/health").status_code == 200  # probes need no token
    for path in ("/api/v1/executions", "/api/v1/workflows", "/api/v1/openapi.json"):
        response = bare.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = bare.get("/api/v1/executions", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert bare.post("/api/v1/executions", json={}).status_code == 401
    assert live.client.get("/api/v1/executions").status_code == 200


def test_token_in_the_address_becomes_an_http_only_cookie(start_server: Any) -> None:
    live = start_server(token="s3cret")
    browser = httpx.Client(base_url=live.url)
    assert browser.get("/?token=wrong", follow_redirects=False).status_code == 401
    response = browser.get("/?token=s3cret&x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?x=1"  # the token leaves the address bar
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session and "SameSite=Strict" in session
    assert "s3cret" not in session  # the cookie holds a derived value, not the token
    # The cookie now opens the API (the UI's own calls).
    assert browser.get("/api/v1/executions").status_code == 200


def test_state_changing_posts_need_the_csrf_token(start_server: Any) -> None:
    live = start_server(token="s3cret")
    browser = httpx.Client(base_url=live.url)
    browser.get("/?token=s3cret", follow_redirects=False)
    csrf = browser.cookies[CSRF_COOKIE]
    body = {"workflow": "nothing.here"}
    refused = browser.post("/api/v1/executions", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    form = browser.post("/api/v1/executions", data={"csrf_token": "forged"})
    assert form.status_code == 403
    allowed = browser.post("/api/v1/executions", json=body, headers={"x-csrf-token": csrf})
    assert allowed.status_code == 404  # through the check: the workflow is not registered
    # A url-encoded form carrying the right field passes the check too.
    form_ok = browser.post("/api/v1/executions", data={"csrf_token": csrf})
    assert form_ok.status_code == 422


def test_without_a_token_a_cross_site_form_post_is_refused(server: Any) -> None:
    bare = httpx.Client(base_url=server.url)
    response = bare.post("/api/v1/executions", data={"workflow": "x"})
    assert response.status_code == 403
    # JSON (which a browser cannot send cross-site without CORS) needs no CSRF token.
    assert bare.post("/api/v1/executions", json={"workflow": "x"}).status_code == 404

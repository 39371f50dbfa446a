"""Named, scoped tokens: the tokens file, `slipstream token`, each scope's rights, launched_by."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from server_helpers import register

from slipstream.cli.main import cli
from slipstream.config import load_settings
from slipstream.errors import ConfigError
from slipstream.server.auth import SESSION_COOKIE
from slipstream.server.tokens import (
    ENV_TOKEN_NAME,
    TokenSet,
    create_token,
    read_tokens,
    server_tokens,
)

TOKENS = {
    "reader": ("r-token-0123456789", "read"),
    "alice": ("a-token-0123456789", "launch"),
    "bob": ("b-token-0123456789", "launch"),
    "root": ("x-token-0123456789", "admin"),
}


def _as(live: Any, name: str) -> httpx.Client:
    secret = TOKENS[name][0]
    return httpx.Client(
        base_url=live.url,
        headers={"authorization": f"Bearer {secret}", "x-slipstream-user": "someone-else"},
        timeout=30,
    )


@pytest.fixture
def scoped(start_server: Any, project: tuple[Path, str]) -> tuple[Any, str]:
    live = start_server(tokens=TOKENS)
    live.client.headers["authorization"] = f"Bearer {TOKENS['root'][0]}"
    root, module = project
    register(live, root)
    return live, module


def test_token_create_prints_the_token_once_and_keeps_only_digests(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    result = CliRunner().invoke(
        cli, ["token", "create", "ci-bot", "--scope", "launch", "--tokens-file", str(path)]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("slp_") and len(secret) > 40
    text = path.read_text()
    assert secret not in text and "ci-bot" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (entry,) = read_tokens(path)
    assert (entry.name, entry.scope) == ("ci-bot", "launch")
    assert TokenSet(path).by_token(secret) == entry
    assert TokenSet(path).by_token(secret[:-1]) is None
    listed = CliRunner().invoke(cli, ["token", "list", "--tokens-file", str(path), "--json"])
    assert json.loads(listed.stdout) == {
        "name": "ci-bot",
        "scope": "launch",
        "created_at": entry.created_at,
    }
    again = CliRunner().invoke(
        cli, ["token", "create", "ci-bot", "--scope", "read", "--tokens-file", str(path)]
    )
    assert again.exit_code == 2 and "exists already" in again.output
    bad = CliRunner().invoke(
        cli, ["token", "create", "x", "--scope", "root", "--tokens-file", str(path)]
    )
    assert bad.exit_code == 2 and "read" in bad.output and "admin" in bad.output
    revoked = CliRunner().invoke(cli, ["token", "revoke", "ci-bot", "--tokens-file", str(path)])
    assert revoked.exit_code == 0 and read_tokens(path) == []


def test_a_broken_tokens_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"tokens": [{"name": "a", "scope": "owner", "sha256": "x"}]}')
    with pytest.raises(ConfigError, match=r"tokens file .*tokens.json is not valid"):
        TokenSet(path)


def test_serve_takes_the_file_and_the_server_token_setting(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    secret = create_token(path, "ops", "read")
    settings = load_settings().with_values(server_token="env-secret")
    tokens = server_tokens(settings, str(path))
    assert [(t.name, t.scope) for t in tokens.tokens()] == [
        ("ops", "read"),
        (ENV_TOKEN_NAME, "admin"),
    ]
    assert tokens.by_token(secret).name == "ops"  # type: ignore[union-attr]
    assert tokens.by_token("env-secret").name == ENV_TOKEN_NAME  # type: ignore[union-attr]
    default = server_tokens(load_settings())
    assert default.path == load_settings().home_path / "server" / "tokens.json"
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "--tokens-file" in help_text and "--token " not in help_text


def test_a_running_server_reads_the_tokens_file_again(start_server: Any, tmp_path: Path) -> None:
    from slipstream.server.tokens import revoke_token

    path = tmp_path / "tokens.json"
    first = create_token(path, "first", "read")
    live = start_server(tokens_file=path)
    bare = httpx.Client(base_url=live.url)

    def status(secret: str) -> int:
        headers = {"authorization": f"Bearer {secret}"}
        return bare.get("/api/v1/executions", headers=headers).status_code

    assert status(first) == 200
    second = create_token(path, "second", "admin")
    assert status(second) == 200  # seen without a restart
    revoke_token(path, "first")
    assert status(first) == 401
    revoke_token(path, "second")  # no token left: a server started with tokens stays closed
    assert bare.get("/api/v1/executions").status_code == 401


def test_each_scope_gets_what_it_may_and_a_403_naming_the_scope_otherwise(
    scoped: tuple[Any, str],
) -> None:
    live, module = scoped
    body = {"workflow": f"{module}.pipeline", "inputs": {"a": 1}}
    reader, alice, bob, root = (_as(live, n) for n in ("reader", "alice", "bob", "root"))

    # read: lists and shows, nothing else.
    assert reader.get("/api/v1/executions").status_code == 200
    assert reader.get(f"/api/v1/workflows/{module}.pipeline").status_code == 200
    refused = reader.post("/api/v1/executions", json=body)
    assert refused.status_code == 403
    assert refused.json()["needed_scope"] == "launch" and "'launch'" in refused.json()["detail"]
    assert "reader" in refused.json()["detail"]
    assert reader.put("/api/v1/bundles/" + "0" * 64, content=b"x").status_code == 403
    assert reader.post("/api/v1/registrations", json={"bundle": "x"}).status_code == 403

    # launch: launches under its own name (not the client's header), aborts its own only.
    created = alice.post("/api/v1/executions", json=body)
    assert created.status_code == 201
    mine = created.json()["execution"]
    live.wait_phase(mine, "SUCCEEDED")
    doc = alice.get(f"/api/v1/executions/{mine}").json()
    assert doc["launched_by"] == "alice"
    assert alice.post(f"/api/v1/executions/{mine}/abort").status_code == 200
    other = bob.post(f"/api/v1/executions/{mine}/abort")
    assert other.status_code == 403 and other.json()["needed_scope"] == "admin"
    assert "someone else" in other.json()["detail"]
    relaunched = bob.post(f"/api/v1/executions/{mine}/relaunch", json={})
    assert relaunched.status_code == 201
    child = relaunched.json()["execution"]
    assert bob.get(f"/api/v1/executions/{child}").json()["launched_by"] == "bob"
    assert bob.post("/api/v1/executions/nope/abort").status_code == 404
    plan = f"{module}.every_second"
    for action in ("activate", "deactivate"):
        beyond = bob.post(f"/api/v1/launch_plans/{plan}/{action}")
        assert beyond.status_code == 403 and beyond.json()["needed_scope"] == "admin"
    assert bob.delete("/api/v1/cache").json()["needed_scope"] == "admin"

    # admin: anyone's execution, schedules, the cache.
    assert root.post(f"/api/v1/executions/{child}/abort").status_code == 200
    assert root.post(f"/api/v1/launch_plans/{plan}/deactivate").status_code == 200
    evicted = root.delete("/api/v1/cache", params={"task": "nothing.here"})
    assert evicted.status_code == 200 and evicted.json() == {"removed": 0}
    live.wait_phase(child, "SUCCEEDED")


def test_the_ui_cookie_carries_the_scope(scoped: tuple[Any, str]) -> None:
    live, module = scoped
    body = {"workflow": f"{module}.fails", "inputs": {"a": 1}}
    failed = _as(live, "root").post("/api/v1/executions", json=body).json()["execution"]
    live.wait_phase(failed, "FAILED")
    browsers = {}
    for name in ("reader", "alice", "root"):
        browser = httpx.Client(base_url=live.url, timeout=30)
        login = browser.get(f"/?token={TOKENS[name][0]}", follow_redirects=False)
        assert login.status_code == 303 and browser.cookies.get(SESSION_COOKIE)
        browsers[name] = browser
    entity = f"/workflows/{module}.pipeline"
    assert "Launch…" not in browsers["reader"].get(entity).text
    assert "Launch…" in browsers["alice"].get(entity).text
    page = browsers["reader"].get(f"/executions/{failed}").text
    assert "Recover" not in page and "Relaunch" not in page
    assert "Recover" in browsers["alice"].get(f"/executions/{failed}").text
    csrf = browsers["reader"].cookies["slipstream_csrf"]
    refused = browsers["reader"].post(
        f"/executions/{failed}/recover", headers={"x-csrf-token": csrf}
    )
    assert refused.status_code == 403 and refused.json()["needed_scope"] == "launch"
    csrf = browsers["alice"].cookies["slipstream_csrf"]
    other = browsers["alice"].post(f"/executions/{failed}/abort", headers={"x-csrf-token": csrf})
    assert other.status_code == 403 and other.json()["needed_scope"] == "admin"
    csrf = browsers["root"].cookies["slipstream_csrf"]
    assert (
        browsers["root"].post(f"/executions/{failed}/abort", headers={"x-csrf-token": csrf})
    ).status_code == 200


def test_a_token_less_loopback_server_trusts_the_cli_user(
    server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    register(server, root)
    body = {"workflow": f"{module}.pipeline", "inputs": {"a": 1}}
    headers = {"x-slipstream-user": "carol"}
    created = server.client.post("/api/v1/executions", json=body, headers=headers).json()
    assert server.wait_phase(created["execution"], "SUCCEEDED")["launched_by"] == "carol"
    assert server.client.delete("/api/v1/cache", headers=headers).status_code == 200

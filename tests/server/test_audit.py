"""The audit trail: every change and every refused call, with who, what, when and where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from server_helpers import register

from slipstream.cli.main import cli
from slipstream.storage.metadata import MetadataStore
from slipstream.storage.metadata.audit_store import audit_events
from slipstream.storage.metadata.engines import normalize_url

TOKENS = {
    "reader": ("r-token-0123456789", "read"),
    "alice": ("a-token-0123456789", "launch"),
    "bob": ("b-token-0123456789", "launch"),
    "root": ("x-token-0123456789", "admin"),
}


def _as(live: Any, name: str) -> httpx.Client:
    headers = {"authorization": f"Bearer {TOKENS[name][0]}", "x-slipstream-user": "forged"}
    return httpx.Client(base_url=live.url, headers=headers, timeout=30)


def test_the_migration_makes_the_audit_table(database_url: str) -> None:
    MetadataStore(database_url).close()
    engine = sa.create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            migrated = {c["name"] for c in sa.inspect(conn).get_columns("audit_events")}
        assert migrated == {c.name for c in audit_events.columns}
    finally:
        engine.dispose()


def _events(root: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = root.get("/api/v1/audit", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_every_change_and_refusal_is_an_event(
    any_db_home: Path,
    start_server: Any,
    project: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live = start_server(tokens=TOKENS)
    live.client.headers["authorization"] = f"Bearer {TOKENS['alice'][0]}"
    root_dir, module = project
    register(live, root_dir)  # as alice: bundle upload + registration
    reader, alice, bob, root = (_as(live, n) for n in ("reader", "alice", "bob", "root"))
    body = {"workflow": f"{module}.pipeline", "inputs": {"a": 1}}
    assert reader.post("/api/v1/executions", json=body).status_code == 403
    assert httpx.get(f"{live.url}/api/v1/executions").status_code == 401
    wrong = {"authorization": "Bearer not-a-token"}
    assert httpx.post(f"{live.url}/api/v1/executions", json=body, headers=wrong).status_code == 401
    mine = alice.post("/api/v1/executions", json=body).json()["execution"]
    live.wait_phase(mine, "SUCCEEDED")
    assert bob.post(f"/api/v1/executions/{mine}/abort").status_code == 403
    child = alice.post(f"/api/v1/executions/{mine}/relaunch", json={}).json()["execution"]
    recovered = alice.post(f"/api/v1/executions/{mine}/recover")
    assert recovered.status_code == 409  # a SUCCEEDED execution cannot be recovered
    plan = f"{module}.every_second"
    assert root.post(f"/api/v1/launch_plans/{plan}/deactivate").status_code == 200
    assert root.delete("/api/v1/cache").status_code == 200
    assert bob.get("/api/v1/audit").status_code == 403  # the trail is for admins
    live.wait_phase(child, "SUCCEEDED")

    events = _events(root)
    seen = [(e["who"], e["action"], e["status"]) for e in reversed(events)]
    assert seen == [
        ("alice", "put_bundle", 201),
        ("alice", "register", 200),
        ("reader", "POST /api/v1/executions", 403),  # refused before routing: method and path
        ("", "GET /api/v1/executions", 401),
        ("", "POST /api/v1/executions", 401),
        ("alice", "launch", 201),
        ("bob", "abort", 403),
        ("alice", "relaunch", 201),
        ("alice", "recover", 409),
        ("root", "deactivate", 200),
        ("root", "evict", 200),
        ("bob", "list_audit", 403),
    ]
    done = {e["action"]: e for e in events if e["status"] < 400}
    assert done["launch"]["target"] == mine
    assert done["launch"]["detail"] == f"workflow {module}.pipeline"
    assert done["relaunch"]["target"] == child
    assert done["relaunch"]["detail"] == f"relaunch of {mine}"
    assert done["deactivate"]["target"] == plan
    (abort,) = [e for e in events if e["action"] == "abort"]
    assert abort["target"] == mine and "someone else" in abort["detail"]
    assert abort["path"] == f"/api/v1/executions/{mine}/abort" and abort["method"] == "POST"
    assert all(e["client"] == "127.0.0.1" and e["at"] > 0 for e in events)
    assert {e["scope"] for e in events if e["who"] == "bob"} == {"launch"}
    assert not any("token-0123456789" in json.dumps(e) for e in events)  # never a secret

    # Filters and cursor pages, as the other lists.
    assert [e["action"] for e in _events(root, who="bob")] == ["list_audit", "abort"]
    assert {e["status"] for e in _events(root, refused=True)} == {401, 403}
    assert _events(root, target=mine)[-1]["action"] == "launch"
    pages, cursor = [], None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = root.get("/api/v1/audit", params=params).json()
        pages.extend(page["events"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [e["id"] for e in pages] == [e["id"] for e in _events(root)][: len(pages)]
    assert len(pages) >= len(events)  # the listing calls above are reads: not events
    assert root.get("/api/v1/audit", params={"cursor": "junk"}).status_code == 400

    # The CLI, remote, as a table and as JSON lines.
    monkeypatch.setenv("SLIPSTREAM_SERVER_URL", live.url)
    monkeypatch.setenv("SLIPSTREAM_SERVER_TOKEN", TOKENS["root"][0])
    table = CliRunner().invoke(cli, ["audit", "--who", "bob"])
    assert table.exit_code == 0, table.output
    assert "abort" in table.output and "someone else" in table.output and "403" in table.output
    lines = CliRunner().invoke(cli, ["audit", "--json", "--refused", "--since", "1h"]).stdout
    refused = [json.loads(line) for line in lines.splitlines()]
    assert refused and {e["status"] for e in refused} == {401, 403}
    monkeypatch.setenv("SLIPSTREAM_SERVER_TOKEN", TOKENS["alice"][0])
    denied = CliRunner().invoke(cli, ["audit"])
    assert denied.exit_code == 1 and "'admin'" in denied.output

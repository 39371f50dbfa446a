"""Abort on the process runner, logs of its attempt, and the API on PostgreSQL as on SQLite."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from server_helpers import register

from slipstream.cli.main import cli


def _wait_running(live: Any, execution_id: str, node: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        doc = live.client.get(f"/api/v1/executions/{execution_id}").json()
        if any(n["id"] == node and n["phase"] == "RUNNING" for n in doc.get("nodes", [])):
            return
        time.sleep(0.05)
    raise AssertionError(f"{node} never ran")


def test_abort_and_logs_from_the_command_line(
    start_server: Any, project: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = start_server(runner="process")
    monkeypatch.setenv("SLIPSTREAM_SERVER_URL", live.url)
    root, module = project
    register(live, root)
    body = {"workflow": f"{module}.sleepy", "inputs": {"seconds": 60}}
    execution_id = live.client.post("/api/v1/executions", json=body).json()["execution"]
    _wait_running(live, execution_id, "nap")
    deadline = time.monotonic() + 20
    text = ""
    while "napping 60" not in text and time.monotonic() < deadline:
        text = CliRunner().invoke(cli, ["executions", "logs", execution_id, "nap"]).output
        time.sleep(0.2)
    assert "napping 60" in text
    result = CliRunner().invoke(cli, ["executions", "abort", execution_id])
    assert result.exit_code == 0, result.output
    doc = live.wait_phase(execution_id, "ABORTED", timeout=20)
    assert {n["id"]: n["phase"] for n in doc["nodes"]} == {"nap": "ABORTED"}


def test_the_api_on_each_metadata_backend(
    any_db_home: Path, start_server: Any, project: tuple[Path, str]
) -> None:
    live = start_server()
    root, module = project
    register(live, root)
    ids = []
    for a in range(3):
        body = {"workflow": f"{module}.pipeline", "inputs": {"a": a}, "labels": {"n": str(a)}}
        ids.append(live.client.post("/api/v1/executions", json=body).json()["execution"])
    for execution_id in ids:
        live.wait_phase(execution_id, "SUCCEEDED")
    first = live.client.get("/api/v1/executions", params={"limit": 2}).json()
    second = live.client.get(
        "/api/v1/executions", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [e["id"] for e in first["executions"] + second["executions"]] == ids[::-1]
    assert second["next_cursor"] is None
    labelled = live.client.get("/api/v1/executions", params={"label": "n=1"}).json()
    assert [e["id"] for e in labelled["executions"]] == [ids[1]]
    counts = live.client.get("/api/v1/executions/counts").json()["counts"]
    assert counts == {"SUCCEEDED": 3}
    weird = live.client.get("/api/v1/executions", params={"launched_by": "a\x00b"})
    assert weird.status_code == 400

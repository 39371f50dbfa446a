"""Launching: inputs checked against the interface (422), runs to the end, one-response detail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server_helpers import register


def test_launch_runs_and_the_detail_holds_every_node(
    server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    register(server, root)
    body = {"workflow": f"{module}.pipeline", "inputs": {"a": 5}, "labels": {"team": "data"}}
    response = server.client.post("/api/v1/executions", json=body)
    assert response.status_code == 201
    execution_id = response.json()["execution"]
    doc = server.wait_phase(execution_id, "SUCCEEDED")
    assert doc["outputs"] == {"o0": 9} and doc["inputs"] == {"a": 5, "b": 3}
    assert doc["labels"] == {"team": "data"} and doc["launched_by"] == "anonymous"
    assert [(n["id"], n["phase"]) for n in doc["nodes"]] == [
        ("add", "SUCCEEDED"),
        ("add-2", "SUCCEEDED"),
    ]
    assert doc["nodes"][0]["attempt_history"][0]["phase"] == "SUCCEEDED"
    data = server.client.get(f"/api/v1/executions/{execution_id}/nodes/add/data").json()
    assert data["outputs"]["o0"] == {"type": "int", "value": 8}


def test_bad_inputs_are_refused_before_anything_is_queued(
    server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    register(server, root)
    cases = [
        ({"a": "five"}, "a", "int"),
        ({}, "a", "missing"),
        ({"a": 1, "zzz": 2}, "zzz", "unknown"),
        ({"a": True}, "a", "int"),
    ]
    for inputs, name, words in cases:
        body = {"workflow": f"{module}.pipeline", "inputs": inputs}
        response = server.client.post("/api/v1/executions", json=body)
        assert response.status_code == 422, inputs
        assert response.json()["input"] == name
        assert words in response.json()["detail"]
    assert server.client.get("/api/v1/executions").json()["executions"] == []


def test_unknown_entity_or_version_is_404(server: Any, project: tuple[Path, str]) -> None:
    root, module = project
    register(server, root)
    missing = server.client.post("/api/v1/executions", json={"workflow": "nope", "inputs": {}})
    assert missing.status_code == 404 and "'nope'" in missing.json()["detail"]
    body = {"workflow": f"{module}.pipeline", "version": "v9", "inputs": {"a": 1}}
    assert server.client.post("/api/v1/executions", json=body).status_code == 404
    assert server.client.get("/api/v1/executions/e-none").status_code == 404

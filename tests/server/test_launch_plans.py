"""Launch plans: registered with their workflow, launched with default and fixed inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server_helpers import register


def test_a_plan_is_registered_with_its_workflow_and_launches(
    server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    result = register(server, root)
    assert ("launch_plan", f"{module}.big_add") in {
        (e["kind"], e["name"]) for e in result["entities"]
    }
    doc = server.client.get(f"/api/v1/launch_plans/{module}.big_add").json()
    assert doc["workflow"] == f"{module}.pipeline" and doc["default_inputs"] == {"b": 100}
    inputs = {v["name"]: v for v in doc["interface"]["inputs"]}
    assert inputs["b"]["default"] == 100 and inputs["a"]["required"]
    assert doc["active"] is False and doc["graph"]["nodes"]

    body = {"launch_plan": f"{module}.big_add", "inputs": {"a": 1}}
    execution_id = server.client.post("/api/v1/executions", json=body).json()["execution"]
    done = server.wait_phase(execution_id, "SUCCEEDED")
    assert done["outputs"] == {"o0": 102} and done["launch_plan"] == f"{module}.big_add"
    listed = server.client.get("/api/v1/executions", params={"launch_plan": f"{module}.big_add"})
    assert [e["id"] for e in listed.json()["executions"]] == [execution_id]


def test_fixed_inputs_cannot_be_given(server: Any, project: tuple[Path, str]) -> None:
    root, module = project
    register(server, root)
    doc = server.client.get(f"/api/v1/launch_plans/{module}.every_second").json()
    assert [v["name"] for v in doc["interface"]["inputs"]] == ["when"]  # note is fixed
    body = {
        "launch_plan": f"{module}.every_second",
        "inputs": {"when": "2026-01-01T00:00:00", "note": "mine"},
    }
    response = server.client.post("/api/v1/executions", json=body)
    assert response.status_code == 422 and response.json()["input"] == "note"
    body["inputs"] = {"when": "2026-01-01T00:00:00"}
    execution_id = server.client.post("/api/v1/executions", json=body).json()["execution"]
    done = server.wait_phase(execution_id, "SUCCEEDED")
    assert done["outputs"] == {"o0": "fixed@2026-01-01T00:00:00"}
    assert done["labels"] == {"origin": "plan"}


def test_a_plan_naming_an_unknown_input_is_refused(server: Any) -> None:
    import hashlib

    data = b"bundle"
    digest = hashlib.sha256(data).hexdigest()
    server.client.put(f"/api/v1/bundles/{digest}", content=data)
    int_type = {"kind": "int"}
    task = {
        "name": "t.one",
        "function": "t:one",
        "interface": {"inputs": [{"name": "x", "type": int_type}], "outputs": []},
    }
    workflow = {
        "name": "t.flow",
        "interface": {"inputs": [{"name": "x", "type": int_type}], "outputs": []},
        "nodes": [
            {
                "id": "one",
                "kind": "task",
                "target": "t.one",
                "inputs": {"x": {"kind": "input", "name": "x"}},
            }
        ],
        "outputs": {},
        "tasks": {"t.one": task},
    }
    plan = {"name": "t.plan", "workflow": "t.flow", "fixed_inputs": {"y": {"value": 1}}}
    body = {"bundle": digest, "tasks": [task], "workflows": [workflow], "launch_plans": [plan]}
    response = server.client.post("/api/v1/registrations", json=body)
    assert response.status_code == 422
    assert "'t.plan'" in response.json()["detail"] and "'y'" in response.json()["detail"]
    assert server.client.get("/api/v1/workflows").json() == {"workflows": []}

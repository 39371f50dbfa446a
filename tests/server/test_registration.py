"""Registration: bundles, all-or-nothing compile checks, no-op re-registration, 409 conflicts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from server_helpers import register


def test_register_lists_entities_with_interface_schema_and_graph(
    server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    result = register(server, root)
    names = {(e["kind"], e["name"]) for e in result["entities"]}
    assert ("workflow", f"{module}.pipeline") in names and ("task", f"{module}.add") in names
    assert all(e["created"] for e in result["entities"])
    assert result["version"] == result["bundle"][:16]

    listed = server.client.get("/api/v1/workflows", params={"name": f"{module}.pipeline"}).json()
    (workflow,) = listed["workflows"]
    inputs = {v["name"]: v for v in workflow["interface"]["inputs"]}
    assert inputs["a"]["schema"] == {"type": "integer"} and inputs["a"]["required"]
    assert inputs["b"]["default"] == 3 and not inputs["b"]["required"]
    assert [n["id"] for n in workflow["graph"]["nodes"]] == ["add", "add-2"]
    assert workflow["graph"]["edges"] == [{"from": "add", "to": "add-2"}]
    assert [v["version"] for v in workflow["versions"]] == [result["version"]]

    again = register(server, root)
    assert not any(e["created"] for e in again["entities"])


def test_other_content_under_a_taken_version_is_a_conflict(
    server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    register(server, root, version="v1")
    path = root / f"{module}.py"
    path.write_text(path.read_text().replace("return a + b", "return a + b + 0"))
    import sys

    from slipstream import LaunchPlan

    del sys.modules[module]  # imported afresh below, with its launch plans
    for name in [n for n in LaunchPlan.CACHE if n.startswith(module + ".")]:
        del LaunchPlan.CACHE[name]
    from slipstream.cli.remote import ServerError

    try:
        register(server, root, version="v1")
    except ServerError as exc:
        assert exc.status == 409
        assert "'v1'" in str(exc) and module in str(exc)
    else:
        raise AssertionError("a changed module under a taken version was accepted")
    assert register(server, root, version="v2")["version"] == "v2"


def test_a_type_error_in_a_workflow_is_refused_and_nothing_is_stored(server: Any) -> None:
    data = b"not really a tarball"
    digest = hashlib.sha256(data).hexdigest()
    assert server.client.put(f"/api/v1/bundles/{digest}", content=data).status_code == 201
    int_type = {"kind": "int"}
    str_type = {"kind": "str"}
    task = {
        "name": "t.upper",
        "function": "t:upper",
        "interface": {"inputs": [{"name": "s", "type": str_type}], "outputs": []},
    }
    workflow = {
        "name": "t.flow",
        "interface": {"inputs": [{"name": "n", "type": int_type}], "outputs": []},
        "nodes": [
            {
                "id": "up",
                "kind": "task",
                "target": "t.upper",
                "inputs": {"s": {"kind": "input", "name": "n"}},
            }
        ],
        "outputs": {},
        "tasks": {"t.upper": task},
    }
    body = {"bundle": digest, "tasks": [task], "workflows": [workflow]}
    response = server.client.post("/api/v1/registrations", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    for part in ("t.flow", "'up'", "'s'", "int", "str"):
        assert part in detail, (part, detail)
    assert server.client.get("/api/v1/tasks").json() == {"tasks": []}


def test_a_bundle_must_match_its_digest(server: Any) -> None:
    wrong = "0" * 64
    response = server.client.put(f"/api/v1/bundles/{wrong}", content=b"abc")
    assert response.status_code == 422 and "sha256" in response.json()["detail"]
    assert server.client.put("/api/v1/bundles/..%2F..%2Fetc", content=b"abc").status_code in (
        404,
        422,
    )
    body = {"bundle": "f" * 64, "workflows": []}
    missing = server.client.post("/api/v1/registrations", json=body)
    assert missing.status_code == 422 and "not uploaded" in json.dumps(missing.json())

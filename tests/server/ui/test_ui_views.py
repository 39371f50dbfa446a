"""What the pages hand to the scripts: the graph of a workflow, the live state, the form spec."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from slipstream.server.ui.forms import form_spec
from slipstream.server.ui.graph_view import live_state, workflow_graph

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Any:
    source = tmp_path_factory.mktemp("flows")
    shutil.copy(HERE / "ui_flows.py", source / "ui_views_flows.py")
    sys.path.insert(0, str(source))
    try:
        import ui_views_flows

        yield ui_views_flows
    finally:
        sys.path.remove(str(source))


def test_sub_workflows_open_into_their_nodes_with_the_engines_ids(flows: Any) -> None:
    graph = workflow_graph(flows.nested.template)
    nodes = {n["id"]: n for n in graph["nodes"]}
    first, second = (f"inner/{n.id}" for n in flows.inner.template.nodes)
    last = flows.nested.template.nodes[1].id
    assert set(nodes) == {"inner", first, second, last}
    assert nodes["inner"]["kind"] == "workflow"
    assert nodes[first]["parent"] == "inner" and nodes[second]["parent"] == "inner"
    assert ["inner", last] in graph["edges"]
    assert [first, second] in graph["edges"]


def _node(node_id: str, phase: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "phase": phase, "kind": "task", "parent": "", "attempts": 0, **extra}


def test_live_state_has_phases_counts_timeline_and_run_time_nodes() -> None:
    retry = [
        {
            "attempt": 1,
            "phase": "FAILED",
            "started_at": 10.0,
            "ended_at": 11.0,
            "error": {"kind": "system", "message": "OOMKilled", "timed_out": False},
            "info": {},
        },
        {
            "attempt": 2,
            "phase": "SUCCEEDED",
            "started_at": 12.0,
            "ended_at": 13.0,
            "error": None,
            "info": {},
        },
    ]
    detail = {
        "id": "e1",
        "phase": "RUNNING",
        "created_at": 9.0,
        "started_at": 10.0,
        "ended_at": None,
        "nodes": [
            _node(
                "a", "SUCCEEDED", attempts=2, started_at=10.0, ended_at=13.0, attempt_history=retry
            ),
            _node("b", "SUCCEEDED", cached=True, started_at=13.0, ended_at=13.0),
            _node(
                "m",
                "RUNNING",
                kind="map",
                started_at=13.0,
                info={"items": 10000, "succeeded": 9000, "failed": 2, "running": 8},
            ),
            _node("dyn/x", "QUEUED", parent="dyn", target="mod.x"),
        ],
    }
    state = live_state(detail, {"a", "b", "m", "dyn"}, 20.0)
    assert state["nodes"]["a"] == {"phase": "SUCCEEDED", "attempts": 2}
    assert state["nodes"]["b"]["cached"] is True
    assert state["nodes"]["m"]["map"] == {
        "items": 10000,
        "succeeded": 9000,
        "failed": 2,
        "running": 8,
        "cached": 0,
    }
    assert state["extra"]["nodes"] == [
        {"id": "dyn/x", "kind": "task", "parent": "dyn", "label": "x"}
    ]
    assert state["counts"] == {"SUCCEEDED": 2, "RUNNING": 1}
    rows = {r["id"]: r for r in state["timeline"]}
    assert [a["reason"] for a in rows["a"]["attempts"]] == ["system error: OOMKilled", ""]
    assert rows["b"]["cached"] is True and rows["b"]["attempts"] == []
    assert rows["m"]["attempts"][0]["end"] is None  # still running: drawn up to now
    assert "dyn/x" not in rows  # not started


def test_form_spec_shows_plan_defaults_and_fixes_fixed_inputs() -> None:
    interface = {
        "inputs": [
            {"name": "n", "type": "int", "schema": {"type": "integer"}, "required": True},
            {
                "name": "s",
                "type": "str",
                "schema": {"type": "string"},
                "required": False,
                "default": "a",
            },
            {"name": "k", "type": "int", "schema": {"type": "integer"}, "required": True},
        ]
    }
    spec = form_spec(interface, plan_defaults={"n": 5}, fixed={"k": 9}, prefill={"s": "b"})
    by_name = {i["name"]: i for i in spec["inputs"]}
    assert by_name["n"]["has_default"] and by_name["n"]["default"] == 5
    assert by_name["s"]["default"] == "a" and "fixed" not in by_name["s"]
    assert by_name["k"]["fixed"] is True and by_name["k"]["default"] == 9
    assert spec["prefill"] == {"s": "b"}

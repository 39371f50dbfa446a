"""The graph and live state the UI draws, from IR and the execution detail; used by pages."""

from __future__ import annotations

from collections import Counter
from typing import Any

from slipstream.compiler.dag import dependencies
from slipstream.ir import WorkflowTemplate

MAP_KEYS = ("items", "succeeded", "failed", "running", "cached")


def node_label(kind: str, node_id: str, target: str) -> str:
    short = target.rsplit(".", 1)[-1] if target else ""
    if kind == "map":
        return f"map {short}" if short else node_id.rsplit("/", 1)[-1]
    return short or node_id.rsplit("/", 1)[-1]


def workflow_graph(template: WorkflowTemplate, prefix: str = "") -> dict[str, list[Any]]:
    """Nodes and edges of a workflow, sub-workflows opened into their own nodes.

    Ids are the engine's: a node inside sub-workflow ``s`` is ``s/n``. Dynamic and branch
    bodies are known only at run time: their nodes come with the live state.
    """
    nodes: list[dict[str, str]] = []
    edges: list[list[str]] = []
    parent = prefix.rstrip("/")
    for node in template.nodes:
        full = prefix + node.id
        target = node.target or str(node.spec.get("task", ""))
        nodes.append(
            {
                "id": full,
                "kind": node.kind,
                "parent": parent,
                "label": node_label(node.kind, full, target),
            }
        )
        edges.extend([prefix + upstream, full] for upstream in sorted(dependencies(node)))
        if node.kind == "workflow" and node.target in template.workflows:
            inner = workflow_graph(template.workflows[node.target], full + "/")
            nodes.extend(inner["nodes"])
            edges.extend(inner["edges"])
    return {"nodes": nodes, "edges": edges}


def _map_summary(info: dict[str, Any]) -> dict[str, int] | None:
    if "items" not in info:
        return None
    return {key: int(info.get(key, 0)) for key in MAP_KEYS}


def attempt_reason(attempt: dict[str, Any]) -> str:
    """Why an attempt ended as it did, in a few words (user error, OOMKilled, timed out...)."""
    info = attempt.get("info") or {}
    if info.get("reason"):
        return str(info["reason"])
    error = attempt.get("error")
    if not error:
        return ""
    if error.get("timed_out"):
        return "timed out"
    if error.get("kind") == "user":
        return f"user error: {error.get('type', '')}"
    return f"system error: {str(error.get('message', ''))[:80]}"


def live_state(
    detail: dict[str, Any],
    known: set[str],
    now: float,
    bodies: dict[str, WorkflowTemplate] | None = None,
) -> dict[str, Any]:
    """Everything the execution page redraws, from the one detail document of the execution.

    ``known`` are the node ids the page's graph already has; nodes beyond them (the bodies of
    dynamic and branch nodes) are sent as extra nodes, with the edges of ``bodies`` (a dynamic
    node's id -> the graph it returned).
    """
    states: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    extra: list[dict[str, str]] = []
    nodes = detail.get("nodes", [])
    for node in nodes:
        node_id = node["id"]
        state: dict[str, Any] = {"phase": node["phase"], "attempts": node.get("attempts", 0)}
        if node.get("cached"):
            state["cached"] = True
        summary = _map_summary(node.get("info") or {})
        if summary is not None:
            state["map"] = summary
        states[node_id] = state
        if node_id not in known:
            extra.append(
                {
                    "id": node_id,
                    "kind": node.get("kind", "task"),
                    "parent": node.get("parent", ""),
                    "label": node_label(node.get("kind", "task"), node_id, node.get("target", "")),
                }
            )
        own = sorted(node.get("attempt_history", []), key=lambda a: a["attempt"])
        start = node.get("started_at")
        if start is None and own:
            start = own[0]["started_at"]
        if start is None:
            continue
        shown = [
            {
                "attempt": a["attempt"],
                "phase": a["phase"],
                "start": a["started_at"],
                "end": a.get("ended_at"),
                "reason": attempt_reason(a),
            }
            for a in own
        ]
        if not shown and not node.get("cached"):
            # a map or a group: one bar over its whole span
            shown = [
                {
                    "attempt": 1,
                    "phase": node["phase"],
                    "start": start,
                    "end": node.get("ended_at"),
                    "reason": "",
                }
            ]
        rows.append(
            {
                "id": node_id,
                "label": node_id,
                "cached": bool(node.get("cached")),
                "start": start,
                "end": node.get("ended_at"),
                "attempts": shown,
            }
        )
    counts = Counter(node["phase"] for node in nodes if not node.get("parent"))
    return {
        "execution": {
            key: detail.get(key) for key in ("id", "phase", "created_at", "started_at", "ended_at")
        },
        "nodes": states,
        "extra": {"nodes": extra, "edges": _body_edges(bodies or {}) if extra else []},
        "timeline": rows,
        "counts": dict(counts),
        "now": now,
    }


def _body_edges(bodies: dict[str, WorkflowTemplate]) -> list[list[str]]:
    edges: list[list[str]] = []
    for node_id, body in bodies.items():
        edges.extend(workflow_graph(body, node_id + "/")["edges"])
    return edges

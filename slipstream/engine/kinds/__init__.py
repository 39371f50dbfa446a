"""The engine's built-in node kinds beyond tasks and sub-workflows; registered on every Engine."""

from __future__ import annotations

from typing import Any

import slipstream.compiler.kinds  # noqa: F401 - dynamic graphs are checked with these kinds
from slipstream.engine.kinds.branch import run_branch, taken_case
from slipstream.engine.kinds.dynamic import returned_workflow
from slipstream.engine.kinds.map import run_map


def register_kinds(engine: Any) -> None:
    """Add map, branch and dynamic handling to an Engine's extension dicts."""
    engine.node_kinds.setdefault("map", run_map)
    engine.node_kinds.setdefault("branch", run_branch)
    engine.child_templates.setdefault("branch", taken_case)
    # A dynamic is a task whose attempt returned a graph: at top level its node is a "task".
    engine.child_templates.setdefault("dynamic", returned_workflow)
    engine.child_templates.setdefault("task", returned_workflow)

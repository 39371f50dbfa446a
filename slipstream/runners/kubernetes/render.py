"""The objects the first attempt of every task node would create; for `slipstream k8s render`."""

from __future__ import annotations

from typing import Any

import msgspec

from slipstream.config import Settings
from slipstream.ir import LiteralMap, Node, TaskTemplate, WorkflowTemplate
from slipstream.runners.base import AttemptSpec
from slipstream.runners.kubernetes.pods import attempt_objects


def _effective(task: TaskTemplate, node: Node) -> TaskTemplate:
    """The task as this node runs it (with_overrides applied), as the engine does."""
    overrides = node.overrides
    if overrides is None:
        return task
    changes = {
        name: getattr(overrides, name)
        for name in ("requests", "limits", "retries", "timeout_seconds")
        if getattr(overrides, name, None) is not None
    }
    return msgspec.structs.replace(task, **changes) if changes else task


def task_nodes(workflow: WorkflowTemplate, prefix: str = "") -> list[tuple[str, TaskTemplate]]:
    """(node id, task) of every node that runs a task attempt, sub-workflows included."""
    found: list[tuple[str, TaskTemplate]] = []
    for node in workflow.nodes:
        node_id = prefix + node.id
        if node.target in workflow.tasks:
            found.append((node_id, _effective(workflow.tasks[node.target], node)))
        elif node.kind == "workflow" and node.target in workflow.workflows:
            found.extend(task_nodes(workflow.workflows[node.target], node_id + "/"))
    return found


def render_attempts(
    workflow: WorkflowTemplate,
    inputs: LiteralMap,
    settings: Settings,
    plugins: Any,
    blobs: Any,
    *,
    execution_id: str,
    bundle_uri: str = "",
    source_root: str = "",
) -> list[dict[str, Any]]:
    """Every object the first attempt of each task node would create, in node order.

    Inner nodes get no inputs here (they come from upstream outputs at run time); the
    objects do not contain input values anyway, only where inputs.json would be.
    """
    objects: list[dict[str, Any]] = []
    for node_id, task in task_nodes(workflow):
        spec = AttemptSpec(
            execution_id=execution_id,
            node_id=node_id,
            attempt=1,
            task=task,
            inputs=inputs if len(workflow.nodes) == 1 else {},
            output_prefix=blobs.attempt_prefix(execution_id, node_id, 1),
            source_root=source_root,
            bundle_uri=bundle_uri,
        )
        objects.extend(
            attempt_objects(
                spec,
                settings,
                plugins,
                blob_url=str(blobs.root),
                offload_threshold=settings.offload_threshold,
            )
        )
    return objects

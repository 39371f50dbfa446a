"""A @dynamic's returned graph: checked, kept with the attempt, run as the node's children.

Used by the task kind (a "dynamic" node is a task whose attempt returns a graph).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import slipstream.compiler.kinds  # noqa: F401 - dynamic graphs are checked with these kinds
from slipstream.compiler.dag import check_workflow
from slipstream.engine.nodes.base import RunContext
from slipstream.errors import CompileError
from slipstream.ir import TypedInterface, WorkflowTemplate, failures
from slipstream.runners.base import AttemptResult, AttemptSpec
from slipstream.runners.contract import DYNAMIC
from slipstream.sdk.dynamic import DynamicCompileError

if TYPE_CHECKING:
    from slipstream.engine.state import NodeState

INFO_KEY = "dynamic"  # node info: {"template": uri of the graph, "nodes": how many}


def expand_returned_graph(
    ctx: RunContext, state: NodeState, spec: AttemptSpec, result: AttemptResult
) -> None:
    """A dynamic attempt succeeded with a graph: expand it under the node."""
    template = result.workflow
    assert template is not None and state.task is not None
    problem = _problem(template, state.task.name, state.task.interface, result.entities is None)
    if problem:
        ctx.fail(state, failures.user_failure(problem, DynamicCompileError))
        return
    uri = f"{spec.output_prefix}/{DYNAMIC}"
    if not ctx.blobs.exists(uri):  # out-of-process attempts wrote it already
        ctx.blobs.write_document(uri, template)
    state.record.info[INFO_KEY] = {"template": uri, "nodes": len(template.nodes)}
    if result.entities:
        ctx.services.remember(result.entities)
    ctx.recorder.event(
        state.id, spec.attempt, "EXPANDED", f"the dynamic body built {len(template.nodes)} node(s)"
    )
    ctx.recorder.node(state.record)
    ctx.expand(state, template, spec.inputs, spec.input_values)


def _problem(template: WorkflowTemplate, name: str, interface: TypedInterface, check: bool) -> str:
    if check:  # a graph from another process is checked again before anything runs
        try:
            check_workflow(template)
        except CompileError as exc:
            return f"the graph returned by @dynamic {name!r} is not valid: {exc}"
    declared = {v.name: v.type for v in interface.outputs}
    returned = {v.name: v.type for v in template.interface.outputs}
    if declared != returned:
        return (
            f"@dynamic {name!r} declares outputs "
            f"{ {k: str(v) for k, v in declared.items()} } but its graph returns "
            f"{ {k: str(v) for k, v in returned.items()} }"
        )
    return ""


def returned_graph(ctx: RunContext, state: NodeState) -> WorkflowTemplate | None:
    """On resume: the graph a dynamic node had expanded, read back from the attempt folder."""
    info = state.record.info.get(INFO_KEY)
    if not isinstance(info, dict) or not info.get("template"):
        return None
    return ctx.blobs.read_document(info["template"], WorkflowTemplate)

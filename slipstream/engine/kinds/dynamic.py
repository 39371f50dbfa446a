"""A @dynamic's returned graph: checked, kept with the attempt, run as the node's children."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slipstream.compiler.dag import check_workflow
from slipstream.errors import CompileError
from slipstream.ir import WorkflowTemplate, failures
from slipstream.runners.base import AttemptResult, AttemptSpec
from slipstream.sdk.dynamic import DynamicCompileError

if TYPE_CHECKING:
    from slipstream.engine.run import ExecutionRun
    from slipstream.engine.state import NodeState

INFO_KEY = "dynamic"  # node info: {"template": uri of the graph, "nodes": how many}
GRAPH_DOCUMENT = "dynamic.json"


def run_returned_workflow(
    run: ExecutionRun, state: NodeState, spec: AttemptSpec, result: AttemptResult
) -> None:
    """Called when a dynamic attempt succeeded: expand its graph under the node."""
    template = result.workflow
    assert template is not None and state.task is not None
    problem = _problem(template, state.task.name, state.task.interface, result.entities is None)
    if problem:
        run._fail(state, failures.user_failure(problem, DynamicCompileError))
        return
    blobs = run.engine.blobs
    uri = f"{spec.output_prefix}/{GRAPH_DOCUMENT}"
    if not blobs.exists(uri):  # out-of-process attempts wrote it already
        blobs.write_document(uri, template)
    state.record.info[INFO_KEY] = {"template": uri, "nodes": len(template.nodes)}
    if result.entities:
        run.engine.entities.update(result.entities)
    run._event(
        state, "EXPANDED", spec.attempt, f"the dynamic body built {len(template.nodes)} node(s)"
    )
    run.batch.nodes.append(state.record)
    run.expand(state, template, spec.inputs, spec.input_values or {})


def _problem(template: WorkflowTemplate, name: str, interface: object, check: bool) -> str:
    if check:  # a graph from another process is checked again before anything runs
        try:
            check_workflow(template)
        except CompileError as exc:
            return f"the graph returned by @dynamic {name!r} is not valid: {exc}"
    declared = {v.name: v.type for v in getattr(interface, "outputs", ())}
    returned = {v.name: v.type for v in template.interface.outputs}
    if declared != returned:
        return (
            f"@dynamic {name!r} declares outputs "
            f"{ {k: str(v) for k, v in declared.items()} } but its graph returns "
            f"{ {k: str(v) for k, v in returned.items()} }"
        )
    return ""


def returned_workflow(run: ExecutionRun, state: NodeState) -> WorkflowTemplate | None:
    """On resume: the graph a dynamic node had expanded, read back from the attempt folder."""
    info = state.record.info.get(INFO_KEY)
    if not isinstance(info, dict) or not info.get("template"):
        return None
    return run.engine.blobs.read_document(info["template"], WorkflowTemplate)

"""Failure handling of workflows (Flyte's on_failure and failure_policy); read by @workflow.

`@workflow(on_failure=handler)`: when the workflow fails, `handler` (a task or workflow taking
the workflow's inputs, plus optionally `err: Optional[FailureInfo]`) runs as the node
`failure_node.id`; the workflow still fails with its own error. `failure_policy` says whether
a failure stops the rest at once (the default) or lets every node that can still run finish.
"""

from __future__ import annotations

import enum
import typing
from dataclasses import dataclass
from typing import Any

from slipstream.compiler.compat import is_assignable
from slipstream.compiler.registry import TransformContext
from slipstream.errors import CompileError, DefinitionError
from slipstream.ir import Binding, Literal, LiteralType, Node

ERROR_INPUT = "err"
POLICIES = {"FAIL_IMMEDIATELY": "", "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE": "after_executable"}


@dataclass(frozen=True)
class FailureInfo:
    """What a failure handler is told: the error's message and the node that failed."""

    message: str
    failed_node_id: str


class WorkflowFailurePolicy(enum.Enum):
    FAIL_IMMEDIATELY = "FAIL_IMMEDIATELY"
    FAIL_AFTER_EXECUTABLE_NODES_COMPLETE = "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"


def policy_value(policy: Any, where: str) -> str:
    """The IR form of a failure_policy: "" (fail immediately) or "after_executable"."""
    if policy is None:
        return ""
    if not isinstance(policy, WorkflowFailurePolicy):
        raise DefinitionError(
            f"{where}: failure_policy={policy!r} must be WorkflowFailurePolicy.FAIL_IMMEDIATELY "
            "or WorkflowFailurePolicy.FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"
        )
    return POLICIES[policy.value]


_ERROR_TYPES = (FailureInfo, FailureInfo | None)


def _is_optional(py_type: Any) -> bool:
    return type(None) in typing.get_args(py_type)


def failure_node(handler: Any, workflow_interface: Any, where: str, taken: set[str]) -> Node:
    """The handler's node: the workflow's inputs passed through, `err` filled in at run time."""
    kind = getattr(handler, "kind", None)
    if kind not in ("task", "workflow"):
        raise DefinitionError(f"{where}: on_failure={handler!r} must be a @task or a @workflow")
    interface = handler.interface
    declared = {variable.name: variable for variable in interface.ir.inputs}
    inputs: dict[str, Binding] = {}
    for variable in workflow_interface.ir.inputs:
        theirs = declared.get(variable.name)
        if theirs is None:
            raise CompileError(
                f"{where}: on_failure handler {handler.name!r} must take every input of the "
                f"workflow; it has no input {variable.name!r} ({variable.type})"
            )
        if not is_assignable(variable.type, theirs.type):
            raise CompileError(
                f"{where}: on_failure handler {handler.name!r} input {variable.name!r} expects "
                f"{theirs.type} but the workflow's input is {variable.type}"
            )
        inputs[variable.name] = Binding(kind="input", name=variable.name)
    spec: dict[str, Any] = {}
    for name, variable in declared.items():
        if name in inputs:
            continue
        if name == ERROR_INPUT and interface.inputs[name] in _ERROR_TYPES:
            spec["error_input"] = name
            continue
        if variable.has_default:
            continue
        if not _is_optional(interface.inputs[name]):
            raise CompileError(
                f"{where}: on_failure handler {handler.name!r} input {name!r} is not a workflow "
                f"input; it must be optional (only `{ERROR_INPUT}: Optional[FailureInfo]` is "
                "filled in)"
            )
        none = handler.registry.to_literal(None, interface.inputs[name], TransformContext())
        inputs[name] = Binding(kind="literal", literal=none)
    short = handler.name.rsplit(".", 1)[-1].replace("_", "-").strip("-") or "on-failure"
    node_id, count = short, 1
    while node_id in taken:
        count += 1
        node_id = f"{short}-{count}"
    return Node(id=node_id, kind=kind, target=handler.name, inputs=inputs, spec=spec)


def failure_literal(literal_type: LiteralType, message: str, failed_node_id: str) -> Literal:
    """The literal of a FailureInfo for an input of `literal_type` (FailureInfo or Optional)."""
    value = {"message": message, "failed_node_id": failed_node_id}
    if literal_type.kind == "union":
        for index, variant in enumerate(literal_type.variants):
            if variant.kind == "struct":
                return Literal(value=value, variant=index)
    return Literal(value=value)

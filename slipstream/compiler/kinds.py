"""Compile-time interfaces of the map, branch and dynamic node kinds, for dag.NODE_INTERFACES."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from slipstream.compiler.dag import NODE_INTERFACES, task_interface
from slipstream.errors import CompileError
from slipstream.ir import LiteralType, Node, TypedInterface, Variable, WorkflowTemplate

NONE_TYPE = LiteralType("none")


def list_of(item: LiteralType) -> LiteralType:
    return LiteralType("list", item=item)


def optional(literal_type: LiteralType) -> LiteralType:
    """``Optional[T]`` as the registry spells it: a union whose members end with ``none``."""
    if literal_type.kind == "none":
        return literal_type
    if literal_type.kind == "union":
        if NONE_TYPE in literal_type.variants:
            return literal_type
        return LiteralType("union", variants=(*literal_type.variants, NONE_TYPE))
    return LiteralType("union", variants=(literal_type, NONE_TYPE))


def map_interface(
    task: TypedInterface, mapped: Iterable[str], optional_outputs: bool
) -> TypedInterface:
    """A mapped task's interface: mapped inputs and every output become lists.

    Inputs not mapped (bound with functools.partial) keep their own type and are passed to
    every item. With ``optional_outputs`` (min_success_ratio < 1) the output elements are
    Optional: a failed item's output is None.
    """
    names = set(mapped)
    inputs = tuple(
        Variable(v.name, list_of(v.type), has_default=v.has_default, description=v.description)
        if v.name in names
        else v
        for v in task.inputs
    )
    outputs = tuple(
        Variable(v.name, list_of(optional(v.type) if optional_outputs else v.type))
        for v in task.outputs
    )
    return TypedInterface(inputs=inputs, outputs=outputs)


def _map_node_interface(template: WorkflowTemplate, node: Node) -> TypedInterface:
    task = task_interface(template, node)
    mapped = node.spec.get("mapped")
    where = f"workflow {template.name!r}: map node {node.id!r} ({node.target})"
    if not isinstance(mapped, list) or not mapped:
        raise CompileError(f"{where} maps over no input (spec 'mapped' is {mapped!r})")
    unknown = [name for name in mapped if task.input(name) is None]
    if unknown:
        raise CompileError(
            f"{where} maps over unknown input(s) {unknown}; the task's inputs are: "
            f"{', '.join(v.name for v in task.inputs) or 'none'}"
        )
    ratio = node.spec.get("min_success_ratio", 1.0)
    return map_interface(task, mapped, optional_outputs=ratio < 1.0)


def _branch_node_interface(template: WorkflowTemplate, node: Node) -> TypedInterface:
    where = f"workflow {template.name!r}: conditional {node.id!r}"
    spec = node.spec
    if spec.get("open"):
        raise CompileError(
            f"{where} is unfinished: its last if_()/elif_()/else_() has no .then(...) or .fail(...)"
        )
    cases = spec.get("cases") or []
    if not cases:
        raise CompileError(f"{where} has no cases; start it with .if_(condition)")
    for case in cases:
        name = case.get("workflow", "")
        if name and name not in template.workflows:
            raise CompileError(f"{where} runs unknown branch body {name!r}")
    try:
        return msgspec.convert(spec.get("interface", {}), TypedInterface)
    except msgspec.ValidationError as exc:
        raise CompileError(f"{where} has a malformed interface: {exc}") from None


NODE_INTERFACES.setdefault("map", _map_node_interface)
NODE_INTERFACES.setdefault("branch", _branch_node_interface)
NODE_INTERFACES.setdefault("dynamic", task_interface)

"""Workflow tracing: records the nodes a workflow body calls and type-checks their bindings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from slipstream.compiler.compat import is_assignable
from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import CompileError, TypeTransformError
from slipstream.ir import Binding, LiteralType, TaskTemplate, WorkflowTemplate
from slipstream.sdk.interface import PythonInterface
from slipstream.sdk.promise import NodeBuilder, Promise, VoidPromise, node_of, outputs_tuple


@dataclass
class TracingContext:
    """The state of one workflow (or dynamic) body being traced."""

    name: str
    registry: TypeRegistry
    nodes: list[NodeBuilder] = field(default_factory=list)
    tasks: dict[str, TaskTemplate] = field(default_factory=dict)
    workflows: dict[str, WorkflowTemplate] = field(default_factory=dict)
    entities: dict[str, Any] = field(default_factory=dict)  # template name -> Python object
    _ids: dict[str, int] = field(default_factory=dict)
    label: str = "workflow"  # how messages name what is traced ("dynamic" bodies at run time)
    transform: TransformContext | None = None  # blobs for large constants (dynamic bodies)

    def new_node_id(self, base: str) -> str:
        short = base.rsplit(".", 1)[-1].replace("_", "-").strip("-") or "node"
        count = self._ids.get(short, 0) + 1
        self._ids[short] = count
        return short if count == 1 else f"{short}-{count}"

    def add_entity(self, name: str, entity: Any, template: Any, kind: str) -> None:
        known = self.entities.get(name)
        if known is not None and known is not entity:
            raise CompileError(
                f"{self.label} {self.name!r}: two different entities are both named {name!r}"
            )
        self.entities[name] = entity
        if kind == "task":
            self.tasks[name] = template
        else:
            self.workflows[name] = template

    def call(
        self,
        *,
        kind: str,
        target: str,
        interface: PythonInterface,
        kwargs: dict[str, Any],
        spec: dict[str, Any] | None = None,
        base: str = "",
    ) -> Any:
        """Add a node calling `target` with kwargs; return its promise(s)."""
        node = NodeBuilder(
            id=self.new_node_id(base or target),
            kind=kind,
            target=target,
            label=target,
            spec=spec or {},
        )
        for name in kwargs:
            if name not in interface.inputs:
                raise CompileError(
                    f"{self.label} {self.name!r}: node {node.id!r} ({target}) has no input "
                    f"{name!r}; its inputs are: {', '.join(interface.inputs) or 'none'}"
                )
        for variable in interface.ir.inputs:
            if variable.name in kwargs:
                node.inputs[variable.name] = self.bind(
                    kwargs[variable.name],
                    interface.inputs[variable.name],
                    variable.type,
                    where=f"node {node.id!r} ({target}) input {variable.name!r}",
                )
            elif not variable.has_default:
                raise CompileError(
                    f"{self.label} {self.name!r}: node {node.id!r} ({target}) is missing its "
                    f"required input {variable.name!r} ({variable.type})"
                )
        self.nodes.append(node)
        return node_outputs(node, interface)

    def bind(self, value: Any, py_type: Any, expected: LiteralType, where: str) -> Binding:
        """A binding for value flowing into something of type `expected`."""
        if isinstance(value, Promise):
            if not is_assignable(value.literal_type, expected):
                raise CompileError(
                    f"{self.label} {self.name!r}: {where} expects {expected} but gets "
                    f"{value.literal_type} from {value.describe()}"
                )
            node = node_of(value)
            if node is None:
                return Binding(kind="input", name=value.input_name, path=value.path)
            return Binding(kind="promise", node=node.id, name=value.output, path=value.path)
        if isinstance(value, VoidPromise):
            raise CompileError(
                f"{self.label} {self.name!r}: {where} gets the result of a task that returns "
                "nothing; use `a >> b` to order such calls"
            )
        if _holds_promise(value):
            return self._bind_collection(value, py_type, expected, where)
        try:
            literal = self.registry.to_literal(value, py_type, self.transform or TransformContext())
        except TypeTransformError as exc:
            raise CompileError(f"{self.label} {self.name!r}: {where}: {exc}") from None
        return Binding(kind="literal", literal=literal)

    def _bind_collection(
        self, value: Any, py_type: Any, expected: LiteralType, where: str
    ) -> Binding:
        import typing

        args = typing.get_args(py_type)
        if isinstance(value, list | tuple) and expected.kind == "list" and expected.item:
            item_type = args[0] if args else Any
            return Binding(
                kind="list",
                items=tuple(
                    self.bind(item, item_type, expected.item, f"{where}[{i}]")
                    for i, item in enumerate(value)
                ),
            )
        if isinstance(value, dict) and expected.kind == "dict" and expected.item:
            item_type = args[1] if len(args) == 2 else Any
            return Binding(
                kind="dict",
                entries={
                    str(k): self.bind(v, item_type, expected.item, f"{where}[{k!r}]")
                    for k, v in value.items()
                },
            )
        raise CompileError(
            f"{self.label} {self.name!r}: {where} expects {expected} but gets a "
            f"{type(value).__name__} holding promises"
        )


def _holds_promise(value: Any) -> bool:
    if isinstance(value, Promise | VoidPromise):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_promise(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_promise(v) for v in value.values())
    return False


def node_outputs(node: NodeBuilder, interface: PythonInterface) -> Any:
    """What a call returns while tracing: a Promise, a NamedTuple of them, or a VoidPromise."""
    variables = {v.name: v for v in interface.ir.outputs}
    if not variables:
        return VoidPromise(node)
    promises = {
        name: Promise(node, name, variables[name].type, py_type)
        for name, py_type in interface.outputs.items()
    }
    if interface.output_tuple is not None:
        return outputs_tuple(interface.output_tuple, node, promises)
    return next(iter(promises.values()))


_local = threading.local()


def current_tracing() -> TracingContext | None:
    stack: list[TracingContext] = getattr(_local, "stack", [])
    return stack[-1] if stack else None


@contextmanager
def tracing(context: TracingContext) -> Iterator[TracingContext]:
    stack: list[TracingContext] = getattr(_local, "stack", None) or []
    _local.stack = stack
    stack.append(context)
    try:
        yield context
    finally:
        # Also drops contexts a body left open above its own (an unfinished conditional).
        if any(entry is context for entry in stack):
            while stack.pop() is not context:
                pass

"""Workflow DAG checks (references, inputs, types, cycles) and ordering; for the SDK and engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from slipstream.compiler.compat import is_assignable
from slipstream.errors import CompileError
from slipstream.ir import Binding, LiteralType, Node, TypedInterface, WorkflowTemplate

InterfaceResolver = Callable[[WorkflowTemplate, Node], TypedInterface]


def task_interface(template: WorkflowTemplate, node: Node) -> TypedInterface:
    task = template.tasks.get(node.target)
    if task is None:
        raise CompileError(
            f"workflow {template.name!r}: node {node.id!r} calls unknown task {node.target!r}"
        )
    return task.interface


def _workflow_interface(template: WorkflowTemplate, node: Node) -> TypedInterface:
    sub = template.workflows.get(node.target)
    if sub is None:
        raise CompileError(
            f"workflow {template.name!r}: node {node.id!r} calls unknown workflow {node.target!r}"
        )
    return sub.interface


NODE_INTERFACES: dict[str, InterfaceResolver] = {
    "task": task_interface,
    "workflow": _workflow_interface,
}


def node_interface(template: WorkflowTemplate, node: Node) -> TypedInterface:
    resolver = NODE_INTERFACES.get(node.kind)
    if resolver is None:
        raise CompileError(
            f"workflow {template.name!r}: node {node.id!r} has unknown kind {node.kind!r}"
        )
    return resolver(template, node)


def binding_nodes(binding: Binding) -> Iterator[str]:
    """The upstream node ids a binding reads from."""
    if binding.kind == "promise":
        yield binding.node
    for item in binding.items:
        yield from binding_nodes(item)
    for entry in (binding.entries or {}).values():
        yield from binding_nodes(entry)


def dependencies(node: Node) -> set[str]:
    found = set(node.upstream)
    for binding in node.inputs.values():
        found.update(binding_nodes(binding))
    return found


def check_workflow(template: WorkflowTemplate) -> None:
    """Raise CompileError naming workflow, node, input and types if the DAG is not sound."""
    nodes: dict[str, Node] = {}
    for node in template.nodes:
        if node.id in nodes:
            raise CompileError(f"workflow {template.name!r}: two nodes are named {node.id!r}")
        nodes[node.id] = node
    interfaces = {node.id: node_interface(template, node) for node in template.nodes}
    for node in template.nodes:
        interface = interfaces[node.id]
        where = f"workflow {template.name!r}: node {node.id!r} ({node.target or node.kind})"
        declared = {variable.name: variable for variable in interface.inputs}
        for name in node.inputs:
            if name not in declared:
                raise CompileError(
                    f"{where} has no input {name!r}; its inputs are: "
                    f"{', '.join(declared) or 'none'}"
                )
        for variable in interface.inputs:
            binding = node.inputs.get(variable.name)
            if binding is None:
                if not variable.has_default:
                    raise CompileError(
                        f"{where} is missing its required input {variable.name!r} ({variable.type})"
                    )
                continue
            _check_binding(
                template,
                nodes,
                interfaces,
                binding,
                variable.type,
                f"{where} input {variable.name!r}",
            )
        for upstream in node.upstream:
            if upstream not in nodes:
                raise CompileError(f"{where} is ordered after unknown node {upstream!r}")
    outputs = {variable.name: variable for variable in template.interface.outputs}
    for name, binding in template.outputs.items():
        if name not in outputs:
            raise CompileError(f"workflow {template.name!r} binds undeclared output {name!r}")
        _check_binding(
            template,
            nodes,
            interfaces,
            binding,
            outputs[name].type,
            f"workflow {template.name!r}: output {name!r}",
        )
    for name in outputs:
        if name not in template.outputs:
            raise CompileError(f"workflow {template.name!r}: output {name!r} is never bound")
    if template.failure_node is not None:
        handler = template.failure_node
        if handler.id in nodes:
            raise CompileError(
                f"workflow {template.name!r}: the on_failure node {handler.id!r} has the id of "
                "another node"
            )
        node_interface(template, handler)  # its task or workflow must be known
    topological_order(template)


def _check_binding(
    template: WorkflowTemplate,
    nodes: dict[str, Node],
    interfaces: dict[str, TypedInterface],
    binding: Binding,
    expected: LiteralType,
    where: str,
) -> None:
    source = binding_type(template, nodes, interfaces, binding, where)
    if source is not None and not is_assignable(source, expected):
        origin = (
            f"node {binding.node!r} output {binding.name!r}"
            if binding.kind == "promise"
            else f"workflow input {binding.name!r}"
        )
        raise CompileError(f"{where} expects {expected} but gets {source} from {origin}")
    if binding.kind in ("list", "dict"):
        if expected.kind != binding.kind or expected.item is None:
            raise CompileError(f"{where} expects {expected} but gets a {binding.kind} of bindings")
        children = (
            binding.items if binding.kind == "list" else tuple((binding.entries or {}).values())
        )
        for i, child in enumerate(children):
            _check_binding(template, nodes, interfaces, child, expected.item, f"{where}[{i}]")


def binding_type(
    template: WorkflowTemplate,
    nodes: dict[str, Node],
    interfaces: dict[str, TypedInterface],
    binding: Binding,
    where: str,
) -> LiteralType | None:
    """The type of what a binding delivers; None where it is checked elsewhere (constants)."""
    if binding.kind == "input":
        variable = template.interface.input(binding.name)
        if variable is None:
            raise CompileError(f"{where} reads unknown workflow input {binding.name!r}")
        return _along(variable.type, binding.path)
    if binding.kind == "promise":
        if binding.node not in nodes:
            raise CompileError(f"{where} reads from unknown node {binding.node!r}")
        output = interfaces[binding.node].output(binding.name)
        if output is None:
            raise CompileError(
                f"{where} reads unknown output {binding.name!r} of node {binding.node!r}"
            )
        if binding.index >= 0:
            if output.type.kind != "list" or output.type.item is None:
                raise CompileError(f"{where} indexes output {binding.name!r}, not a list")
            return output.type.item
        return _along(output.type, binding.path)
    return None


def _along(literal_type: LiteralType, path: tuple[str | int, ...]) -> LiteralType | None:
    """The type at `path` inside a value; None past a struct field (checked when traced)."""
    current: LiteralType | None = literal_type
    for _ in path:
        if current is None or current.kind not in ("list", "dict"):
            return None
        current = current.item
    return current


def topological_order(template: WorkflowTemplate) -> list[str]:
    """Node ids, each after everything it depends on; CompileError naming a cycle if any."""
    deps = {node.id: dependencies(node) for node in template.nodes}
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    for start in deps:
        if state.get(start) == 2:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(deps[start])))]
        state[start] = 1
        while stack:
            current, children = stack[-1]
            advanced = False
            for child in children:
                if child not in deps:
                    continue
                if state.get(child) == 1:
                    cycle = [name for name, _ in stack]
                    cycle = [*cycle[cycle.index(child) :], child]
                    raise CompileError(
                        f"workflow {template.name!r} has a cycle: {' -> '.join(reversed(cycle))}"
                    )
                if state.get(child) != 2:
                    state[child] = 1
                    stack.append((child, iter(sorted(deps[child]))))
                    advanced = True
                    break
            if not advanced:
                state[current] = 2
                order.append(current)
                stack.pop()
    return order


def downstream(template: WorkflowTemplate, node_id: str) -> set[str]:
    """Every node that depends on `node_id`, directly or not (data or `>>`)."""
    dependents: dict[str, set[str]] = {}
    for node in template.nodes:
        for dep in dependencies(node):
            dependents.setdefault(dep, set()).add(node.id)
    found: set[str] = set()
    todo = [node_id]
    while todo:
        for child in dependents.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found

"""@workflow: traces the body once on promises and builds a type-checked WorkflowTemplate."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from slipstream.compiler.dag import check_workflow
from slipstream.compiler.registry import TypeRegistry
from slipstream.compiler.types import default_registry
from slipstream.errors import CompileError, DefinitionError
from slipstream.ir import Binding, WorkflowTemplate
from slipstream.sdk.calls import run_locally
from slipstream.sdk.entity import default_name, function_reference
from slipstream.sdk.failure import WorkflowFailurePolicy, failure_node, policy_value
from slipstream.sdk.interface import SINGLE_OUTPUT, PythonInterface, build_interface
from slipstream.sdk.promise import Promise
from slipstream.sdk.tracing import TracingContext, current_tracing, tracing


class WorkflowDefinition:
    """A traced workflow: its Python interface, its template and the entities it calls."""

    kind = "workflow"

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        registry: TypeRegistry | None = None,
        on_failure: Any = None,
        failure_policy: WorkflowFailurePolicy | None = None,
    ) -> None:
        self.function = fn
        self.name = name or default_name(fn)
        self.registry = registry or default_registry()
        self.interface: PythonInterface = build_interface(
            fn, f"workflow {self.name!r}", self.registry
        )
        _, self.source_root, source_file = function_reference(fn)
        context = TracingContext(self.name, self.registry)
        inputs = {
            variable.name: Promise(
                None, "", variable.type, self.interface.inputs[variable.name], variable.name
            )
            for variable in self.interface.ir.inputs
        }
        with tracing(context):
            result = fn(**inputs)
        outputs = bind_outputs(context, self.interface, result, self.name)
        where = f"workflow {self.name!r}"
        handler = None
        if on_failure is not None:
            taken = {node.id for node in context.nodes}
            handler = failure_node(on_failure, self.interface, where, taken)
            kind = "task" if on_failure.kind == "task" else "workflow"
            context.add_entity(on_failure.name, on_failure, on_failure.template, kind)
            for entity_name, entity in getattr(on_failure, "entities", {}).items():
                context.add_entity(entity_name, entity, entity.template, entity.kind)
        self.template = WorkflowTemplate(
            name=self.name,
            interface=self.interface.ir,
            nodes=tuple(node.build() for node in context.nodes),
            outputs=outputs,
            tasks=context.tasks,
            workflows=context.workflows,
            source_file=source_file,
            failure_node=handler,
            failure_policy=policy_value(failure_policy, where),
        )
        check_workflow(self.template)
        self.entities: dict[str, Any] = dict(context.entities)
        for entity in list(context.entities.values()):
            self.entities.update(getattr(entity, "entities", {}))
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(
                f"workflow {self.name!r} was called with {len(args)} positional argument(s); "
                "call workflows with keyword arguments"
            )
        context = current_tracing()
        if context is not None:
            return self.call_in(context, kwargs)
        return run_locally(self, kwargs)

    def call_in(
        self, context: TracingContext, kwargs: dict[str, Any], *, spec: Any = None, base: str = ""
    ) -> Any:
        """Add a node calling this workflow to the body being traced; its promise(s)."""
        context.add_entity(self.name, self, self.template, "workflow")
        for name, entity in self.entities.items():
            template = getattr(entity, "template", None)
            context.add_entity(name, entity, template, entity.kind)
        return context.call(
            kind="workflow",
            target=self.name,
            interface=self.interface,
            kwargs=kwargs,
            spec=spec,
            base=base,
        )

    def __repr__(self) -> str:
        return f"<workflow {self.name} ({len(self.template.nodes)} nodes)>"


def bind_outputs(
    context: TracingContext, interface: PythonInterface, result: Any, name: str
) -> dict[str, Binding]:
    declared = {v.name: v for v in interface.ir.outputs}
    if not declared:
        if result is not None and not _is_void(result):
            raise DefinitionError(
                f"workflow {name!r} returns a value but declares no output; add a return type hint"
            )
        return {}
    if interface.output_tuple is not None and len(declared) == 1 and not isinstance(result, tuple):
        values = {next(iter(declared)): result}  # a one-field NamedTuple, returned bare
    elif interface.output_tuple is not None:
        if not isinstance(result, tuple) or len(result) != len(declared):
            raise CompileError(
                f"workflow {name!r} must return {len(declared)} values "
                f"({', '.join(declared)}), got {result!r}"
            )
        values = dict(zip(declared, result, strict=True))
    else:
        values = {SINGLE_OUTPUT: result}
    return {
        output: context.bind(
            value,
            interface.outputs[output],
            declared[output].type,
            where=f"output {output!r}",
        )
        for output, value in values.items()
    }


def _is_void(result: Any) -> bool:
    from slipstream.sdk.promise import VoidPromise

    return isinstance(result, VoidPromise)


def workflow(
    fn: Any = None,
    *,
    name: str | None = None,
    on_failure: Any = None,
    failure_policy: WorkflowFailurePolicy | None = None,
) -> Any:
    """Declare a workflow: `@workflow` or `@workflow(name=, on_failure=, failure_policy=)`."""
    options = {"name": name, "on_failure": on_failure, "failure_policy": failure_policy}
    if fn is not None:
        return WorkflowDefinition(fn, **options)

    def decorate(function: Callable[..., Any]) -> WorkflowDefinition:
        return WorkflowDefinition(function, **options)

    return decorate

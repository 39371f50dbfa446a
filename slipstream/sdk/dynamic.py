"""@dynamic: a task whose body runs at execution time and returns the sub-workflow to run next.

The runners call `DynamicDefinition.trace_body` instead of the function itself; the engine
then runs the returned WorkflowTemplate as the dynamic node's children.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import slipstream.compiler.kinds  # noqa: F401 - registers the "dynamic" node kind
from slipstream.compiler.dag import check_workflow
from slipstream.compiler.registry import TransformContext
from slipstream.errors import CompileError, DefinitionError, NonRecoverableError
from slipstream.ir import WorkflowTemplate
from slipstream.sdk.calls import run_locally
from slipstream.sdk.task import TaskDefinition
from slipstream.sdk.tracing import TracingContext, current_tracing, tracing
from slipstream.sdk.workflow import bind_outputs

F = TypeVar("F", bound=Callable[..., Any])


class DynamicCompileError(CompileError, NonRecoverableError):
    """The graph a @dynamic body built does not type-check; retrying cannot help."""


@dataclass(frozen=True)
class DynamicWorkflow:
    """What a dynamic attempt produces instead of outputs."""

    template: WorkflowTemplate
    entities: dict[str, Any] = field(default_factory=dict)  # name -> task/workflow object


class DynamicDefinition(TaskDefinition):
    """A @dynamic: called like a task; its attempt traces the body on real input values."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(
                f"dynamic {self.name!r} was called with {len(args)} positional argument(s); "
                f"call it with keyword arguments, e.g. "
                f"{self.function.__name__}({', '.join(f'{n}=...' for n in self.interface.inputs)})"
            )
        context = current_tracing()
        if context is not None:
            context.add_entity(self.name, self, self.template, "task")
            return context.call(
                kind="dynamic", target=self.name, interface=self.interface, kwargs=kwargs
            )
        return run_locally(self, kwargs)

    def trace_body(
        self, values: dict[str, Any], transform: TransformContext | None = None
    ) -> DynamicWorkflow:
        """Run the body on `values` (constants while tracing); check and return its graph."""
        context = TracingContext(self.name, self.registry, label="dynamic", transform=transform)
        with tracing(context):
            result = self.function(**values)
        try:
            outputs = bind_outputs(context, self.interface, result, self.name)
            template = WorkflowTemplate(
                name=self.name,
                interface=self.interface.ir,
                nodes=tuple(node.build() for node in context.nodes),
                outputs=outputs,
                tasks=context.tasks,
                workflows=context.workflows,
                source_file=self.template.source_file,
            )
            check_workflow(template)
        except (CompileError, DefinitionError) as exc:
            raise DynamicCompileError(
                f"the graph returned by @dynamic {self.name!r} is not valid: {exc}"
            ) from None
        entities = dict(context.entities)
        for entity in list(context.entities.values()):
            entities.update(getattr(entity, "entities", {}))
        return DynamicWorkflow(template, entities)

    def __repr__(self) -> str:
        return f"<dynamic {self.name}>"


def dynamic(fn: Any = None, **options: Any) -> Any:
    """Declare a dynamic workflow: `@dynamic` or `@dynamic(cache=True, retries=2, ...)`.

    Takes the same options as @task. The body runs when the node runs, with real input
    values, calls tasks and workflows with keyword arguments and returns their promises.
    """
    if fn is not None:
        return DynamicDefinition(fn, **options)

    def decorate(function: Callable[..., Any]) -> DynamicDefinition:
        return DynamicDefinition(function, **options)

    return decorate

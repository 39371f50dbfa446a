"""map_task(): one "map" node running a task once per element of its list inputs; for workflows."""

from __future__ import annotations

import functools
import typing
from typing import Any

import msgspec

from slipstream.compiler.dag import check_workflow
from slipstream.compiler.kinds import map_interface
from slipstream.compiler.registry import TransformContext
from slipstream.errors import DefinitionError, TypeTransformError
from slipstream.ir import Binding, Node, WorkflowTemplate
from slipstream.sdk.calls import run_locally
from slipstream.sdk.dynamic import DynamicDefinition
from slipstream.sdk.interface import PythonInterface
from slipstream.sdk.task import TaskDefinition
from slipstream.sdk.tracing import current_tracing


class MapTaskDefinition:
    """A task mapped over lists: in a workflow it is one node; called directly it runs locally."""

    kind = "workflow"  # a direct call runs as a one-node workflow

    def __init__(
        self, target: Any, concurrency: int | None = None, min_success_ratio: float = 1.0
    ) -> None:
        task, bound = _unwrap(target)
        self.task: TaskDefinition = task
        self.bound: dict[str, Any] = bound
        where = f"map_task({task.name})"
        if concurrency is not None and (
            not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
        ):
            raise DefinitionError(
                f"{where}: concurrency={concurrency!r} must be None (no limit) or an int >= 1"
            )
        if (
            not isinstance(min_success_ratio, int | float)
            or isinstance(min_success_ratio, bool)
            or not 0.0 <= min_success_ratio <= 1.0
        ):
            raise DefinitionError(
                f"{where}: min_success_ratio={min_success_ratio!r} must be a number from 0 to 1"
            )
        self.concurrency = concurrency
        self.min_success_ratio = float(min_success_ratio)
        self.mapped = [name for name in task.interface.inputs if name not in bound]
        if not self.mapped:
            raise DefinitionError(
                f"{where}: every input is bound with functools.partial; leave at least one "
                "input to map over"
            )
        self.name = f"{task.name}.map"
        self.function = task.function  # its docstring describes the map too
        self.registry = task.registry
        self.source_root = task.source_root
        self.entities: dict[str, Any] = {task.name: task}
        self.interface = self._python_interface()

    def _python_interface(self) -> PythonInterface:
        task_interface = self.task.interface
        optional = self.min_success_ratio < 1.0
        inputs = {
            name: list[py_type] if name in self.mapped else py_type  # type: ignore[valid-type]
            for name, py_type in task_interface.inputs.items()
        }
        outputs = {
            name: list[_optional(py_type) if optional else py_type]  # type: ignore[misc]
            for name, py_type in task_interface.outputs.items()
        }
        ir = map_interface(task_interface.ir, self.mapped, optional_outputs=optional)
        defaults = {**task_interface.defaults, **self.bound}  # bound inputs need no value
        return PythonInterface(inputs, defaults, outputs, task_interface.output_tuple, ir)

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "mapped": list(self.mapped),
            "min_success_ratio": self.min_success_ratio,
        }
        if self.concurrency is not None:
            spec["concurrency"] = self.concurrency
        return spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(
                f"map_task({self.task.name}) was called with {len(args)} positional "
                f"argument(s); call it with keyword arguments, e.g. "
                f"({', '.join(f'{n}=[...]' for n in self.mapped)})"
            )
        again = sorted(set(kwargs) & set(self.bound))
        if again:
            raise TypeError(
                f"map_task({self.task.name}): input(s) {again} are already bound with "
                "functools.partial"
            )
        merged = {**self.bound, **kwargs}
        context = current_tracing()
        if context is not None:
            context.add_entity(self.task.name, self.task, self.task.template, "task")
            short = self.task.name.rsplit(".", 1)[-1]
            return context.call(
                kind="map",
                target=self.task.name,
                interface=self.interface,
                kwargs=merged,
                spec=self.spec,
                base=f"map_{short}",
            )
        return run_locally(_LocalMap(self, list(merged)), merged)

    def workflow(self, names: list[str]) -> WorkflowTemplate:
        """A one-node workflow running this map with the inputs `names` bound."""
        node_id = "map-" + self.task.name.rsplit(".", 1)[-1].replace("_", "-")
        node = Node(
            id=node_id,
            kind="map",
            target=self.task.name,
            inputs={name: Binding(kind="input", name=name) for name in names},
            spec=self.spec,
        )
        template = WorkflowTemplate(
            name=self.name,
            interface=self.interface.ir,
            nodes=(node,),
            outputs={
                v.name: Binding(kind="promise", node=node_id, name=v.name)
                for v in self.interface.ir.outputs
            },
            tasks={self.task.name: self.task.template},
            source_file=self.task.template.source_file,
        )
        check_workflow(template)
        return template

    @property
    def template(self) -> WorkflowTemplate:
        """The map as a workflow of its own (`slipstream run`): bound inputs are defaults."""
        names = [
            v.name for v in self.interface.ir.inputs if not v.has_default or v.name in self.bound
        ]
        template = self.workflow(names)
        ctx = TransformContext()
        inputs = []
        for variable in template.interface.inputs:
            if variable.name in self.bound:
                py_type = self.interface.inputs[variable.name]
                try:
                    default = self.registry.to_literal(self.bound[variable.name], py_type, ctx)
                except TypeTransformError as exc:
                    raise DefinitionError(
                        f"{self!r}: the value bound to {variable.name!r} cannot be stored as "
                        f"a default: {exc}"
                    ) from None
                variable = msgspec.structs.replace(variable, default=default, has_default=True)
            inputs.append(variable)
        interface = msgspec.structs.replace(template.interface, inputs=tuple(inputs))
        return msgspec.structs.replace(template, interface=interface)

    def __repr__(self) -> str:
        return f"<map_task {self.task.name}>"


def _optional(py_type: Any) -> Any:
    return typing.Optional[py_type]  # noqa: UP045 - py_type is a runtime value


class _LocalMap:
    """What a direct call of a map task hands to the local executor."""

    kind = "workflow"

    def __init__(self, mapped: MapTaskDefinition, names: list[str]) -> None:
        self.name = mapped.name
        self.interface = mapped.interface
        self.registry = mapped.registry
        self.source_root = mapped.source_root
        self.entities = mapped.entities
        self.template = mapped.workflow(names)


def _unwrap(target: Any) -> tuple[TaskDefinition, dict[str, Any]]:
    bound: dict[str, Any] = {}
    if isinstance(target, functools.partial):
        if target.args:
            raise DefinitionError(
                f"map_task(functools.partial({target.func!r}, ...)): bind inputs by keyword, "
                f"not by position ({len(target.args)} positional argument(s) given)"
            )
        bound = dict(target.keywords)
        target = target.func
    if isinstance(target, DynamicDefinition) or not isinstance(target, TaskDefinition):
        raise DefinitionError(
            f"map_task() maps a @task (optionally wrapped in functools.partial), got {target!r}"
        )
    unknown = [name for name in bound if name not in target.interface.inputs]
    if unknown:
        raise DefinitionError(
            f"map_task({target.name}): functools.partial binds unknown input(s) {unknown}; "
            f"the task's inputs are: {', '.join(target.interface.inputs) or 'none'}"
        )
    return target, bound


def map_task(
    target: Any, concurrency: int | None = None, min_success_ratio: float = 1.0
) -> MapTaskDefinition:
    """Map a task over list inputs: `map_task(t)(x=[1, 2, 3])` runs t(x=1), t(x=2), t(x=3).

    Several list inputs are zipped (they must have the same length); inputs bound with
    `functools.partial(t, y=...)` go to every item unchanged. Outputs are lists in input
    order. `concurrency` caps how many items run at once; with `min_success_ratio` < 1 the
    map succeeds when at least that share of items succeed, and failed items are None.
    """
    return MapTaskDefinition(target, concurrency=concurrency, min_success_ratio=min_success_ratio)

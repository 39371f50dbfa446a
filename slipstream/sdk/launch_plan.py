"""LaunchPlan: a workflow with saved inputs, a schedule and labels; callable like the workflow."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from slipstream.compiler.registry import TransformContext
from slipstream.errors import CompileError, DefinitionError, TypeTransformError
from slipstream.ir import LaunchPlanTemplate, Literal
from slipstream.sdk.schedule import CronSchedule, FixedRate
from slipstream.sdk.tracing import current_tracing
from slipstream.sdk.workflow import WorkflowDefinition


class LaunchPlan:
    """A named way to launch a workflow (Flyte's LaunchPlan).

    Called as a function it runs the workflow with its saved inputs; called inside a workflow
    it is a node (a sub-workflow call with those inputs bound). Fixed inputs cannot be
    overridden by a caller.
    """

    kind = "launch_plan"
    CACHE: ClassVar[dict[str, LaunchPlan]] = {}

    def __init__(
        self,
        name: str,
        workflow: WorkflowDefinition,
        default_inputs: Mapping[str, Any] | None = None,
        fixed_inputs: Mapping[str, Any] | None = None,
        schedule: CronSchedule | FixedRate | None = None,
        labels: Any = None,
    ) -> None:
        if not isinstance(workflow, WorkflowDefinition):
            raise DefinitionError(
                f"launch plan {name!r}: workflow={workflow!r} must be a @workflow"
            )
        self.name = name
        self.workflow = workflow
        self.default_inputs = dict(default_inputs or {})
        self.fixed_inputs = dict(fixed_inputs or {})
        self.schedule = schedule
        self.labels = _labels(labels, name)
        where = f"launch plan {name!r}"
        if schedule is not None and not isinstance(schedule, CronSchedule | FixedRate):
            raise DefinitionError(
                f"{where}: schedule={schedule!r} must be a CronSchedule(...) or a FixedRate(...)"
            )
        self.template = LaunchPlanTemplate(
            name=name,
            workflow=workflow.name,
            default_inputs=self._literals(self.default_inputs, "default_inputs"),
            fixed_inputs=self._literals(self.fixed_inputs, "fixed_inputs"),
            schedule=schedule.to_spec() if schedule is not None else None,
            labels=self.labels,
        )
        self._check_schedule(where)

    # -- Flyte's constructors ------------------------------------------------------------------

    @classmethod
    def get_or_create(
        cls,
        workflow: WorkflowDefinition,
        name: str | None = None,
        default_inputs: Mapping[str, Any] | None = None,
        fixed_inputs: Mapping[str, Any] | None = None,
        schedule: CronSchedule | FixedRate | None = None,
        labels: Any = None,
    ) -> LaunchPlan:
        """The launch plan called `name` (the workflow's default one when name is None).

        Asking again for the same name with the same settings returns the same plan; with
        other settings it is an error naming the setting that differs.
        """
        wf_name = getattr(workflow, "name", repr(workflow))
        if name is None:
            if any(v is not None for v in (default_inputs, fixed_inputs, schedule, labels)):
                raise DefinitionError(
                    f"the default launch plan of workflow {wf_name!r} takes no inputs, schedule "
                    "or labels; give the launch plan a name to set them"
                )
            name = wf_name
        plan = cls(name, workflow, default_inputs, fixed_inputs, schedule, labels)
        known = cls.CACHE.get(name)
        if known is not None and known.template == plan.template:
            if known.workflow is workflow:
                return known
            if known.workflow.template == workflow.template:  # the same module imported again
                cls.CACHE[name] = plan
                return plan
        if known is not None:
            differs = _first_difference(known.template, plan.template)
            raise DefinitionError(
                f"two launch plans are both named {name!r} but differ in {differs}; "
                "give them different names"
            )
        cls.CACHE[name] = plan
        return plan

    @classmethod
    def create(
        cls,
        name: str,
        workflow: WorkflowDefinition,
        default_inputs: Mapping[str, Any] | None = None,
        fixed_inputs: Mapping[str, Any] | None = None,
        schedule: CronSchedule | FixedRate | None = None,
        labels: Any = None,
    ) -> LaunchPlan:
        """A new launch plan; a name already taken in this process is an error."""
        if name in cls.CACHE:
            raise DefinitionError(f"a launch plan named {name!r} was already created")
        plan = cls(name, workflow, default_inputs, fixed_inputs, schedule, labels)
        cls.CACHE[name] = plan
        return plan

    # -- calling -------------------------------------------------------------------------------

    @property
    def saved_inputs(self) -> dict[str, Any]:
        """Default and fixed inputs as Python values (fixed ones win)."""
        return {**self.default_inputs, **self.fixed_inputs}

    @property
    def interface(self) -> Any:
        return self.workflow.interface

    @property
    def registry(self) -> Any:
        return self.workflow.registry

    @property
    def source_root(self) -> str:
        return self.workflow.source_root

    @property
    def entities(self) -> dict[str, Any]:
        return {**self.workflow.entities, self.workflow.name: self.workflow}

    def inputs_for(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The workflow inputs of a call: saved inputs under the caller's; fixed ones checked."""
        overridden = sorted(name for name in kwargs if name in self.fixed_inputs)
        if overridden:
            raise DefinitionError(
                f"launch plan {self.name!r}: input(s) {', '.join(map(repr, overridden))} are "
                f"fixed (to {', '.join(repr(self.fixed_inputs[n]) for n in overridden)}) "
                "and cannot be overridden"
            )
        return {**self.default_inputs, **kwargs, **self.fixed_inputs}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(
                f"launch plan {self.name!r} was called with {len(args)} positional "
                "argument(s); call launch plans with keyword arguments"
            )
        context = current_tracing()
        if context is None:
            return self.workflow(**self.inputs_for(kwargs))
        try:
            inputs = self.inputs_for(kwargs)
        except DefinitionError as exc:
            raise CompileError(f"{context.label} {context.name!r}: {exc}") from None
        return self.workflow.call_in(
            context, inputs, spec={"launch_plan": self.name}, base=self.name
        )

    def __repr__(self) -> str:
        return f"<launch plan {self.name} of workflow {self.workflow.name}>"

    # -- checks --------------------------------------------------------------------------------

    def _literals(self, values: dict[str, Any], option: str) -> dict[str, Literal]:
        interface = self.workflow.interface
        unknown = [name for name in values if name not in interface.inputs]
        if unknown:
            raise DefinitionError(
                f"launch plan {self.name!r}: {option} names unknown input(s) "
                f"{', '.join(map(repr, unknown))}; workflow {self.workflow.name!r} has: "
                f"{', '.join(interface.inputs) or 'none'}"
            )
        literals: dict[str, Literal] = {}
        for name, value in values.items():
            try:
                literals[name] = self.workflow.registry.to_literal(
                    value, interface.inputs[name], TransformContext()
                )
            except TypeTransformError as exc:
                raise DefinitionError(
                    f"launch plan {self.name!r}: {option}[{name!r}]: {exc}"
                ) from None
        return literals

    def _check_schedule(self, where: str) -> None:
        if self.schedule is None:
            return
        interface = self.workflow.interface
        kickoff = self.schedule.kickoff_time_input_arg
        if kickoff is not None:
            if kickoff not in interface.inputs:
                raise DefinitionError(
                    f"{where}: kickoff_time_input_arg={kickoff!r} is not an input of workflow "
                    f"{self.workflow.name!r}; its inputs are: {', '.join(interface.inputs)}"
                )
            if interface.inputs[kickoff] is not datetime:
                raise DefinitionError(
                    f"{where}: kickoff_time_input_arg={kickoff!r} must be a datetime input, "
                    f"not {interface.inputs[kickoff]!r}"
                )
        missing = [
            name
            for name in interface.inputs
            if name not in interface.defaults
            and name not in self.default_inputs
            and name not in self.fixed_inputs
            and name != kickoff
        ]
        if missing:
            raise DefinitionError(
                f"{where}: a scheduled launch plan must give every required input; "
                f"missing: {', '.join(map(repr, missing))}"
            )


def _labels(labels: Any, name: str) -> dict[str, str]:
    values = labels if isinstance(labels, Mapping) else getattr(labels, "values", labels)
    if values is None:
        return {}
    if not isinstance(values, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in values.items()
    ):
        raise DefinitionError(f"launch plan {name!r}: labels={labels!r} must map str to str")
    return dict(values)


def _first_difference(a: LaunchPlanTemplate, b: LaunchPlanTemplate) -> str:
    for field in ("workflow", "default_inputs", "fixed_inputs", "schedule", "labels"):
        if getattr(a, field) != getattr(b, field):
            return field
    return "workflow (another object with the same name)"

"""Launch plans on the server: checking them at registration, their documents, their inputs.

A launch of a plan takes the workflow's defaults, then the plan's default inputs, then the
inputs given, then the plan's fixed inputs (which a launch may not set).
"""

from __future__ import annotations

from typing import Any

import msgspec

from slipstream.compiler.launch_plans import check_launch_plan
from slipstream.errors import CompileError
from slipstream.ir import LaunchPlanTemplate, LiteralMap, TypedInterface, Variable, WorkflowTemplate
from slipstream.server.inputs import InputError, encode_inputs
from slipstream.server.references import References


class PlanError(ValueError):
    """A launch plan that does not fit its workflow; raised at registration."""


def decode_plan(raw: Any) -> LaunchPlanTemplate:
    try:
        return msgspec.convert(raw, LaunchPlanTemplate)
    except msgspec.ValidationError as exc:
        raise PlanError(f"launch plan is not valid IR: {exc}") from None


def check_plan(plan: LaunchPlanTemplate, workflow: WorkflowTemplate) -> None:
    """The plan's inputs and kickoff argument name inputs of the workflow, with its types."""
    where = f"launch plan {plan.name!r} of workflow {workflow.name!r}"
    try:
        check_launch_plan(plan, workflow)
    except CompileError as exc:
        raise PlanError(str(exc)) from None
    schedule = plan.schedule
    if schedule is not None:
        if not schedule.cron and not schedule.rate_seconds > 0:
            raise PlanError(f"{where}: its schedule has neither a cron expression nor a rate")
        if schedule.cron:
            from slipstream.server.services.cron import Cron, CronError

            try:
                Cron.parse(schedule.cron)
            except CronError as exc:
                raise PlanError(f"{where}: {exc}") from None
    missing = [
        v.name
        for v in workflow.interface.inputs
        if not v.has_default
        and v.name not in plan.default_inputs
        and v.name not in plan.fixed_inputs
        and (schedule is None or v.name != schedule.kickoff_time_input_arg)
    ]
    if missing and schedule is not None:
        raise PlanError(
            f"{where}: a scheduled plan must give every required input; missing: "
            f"{', '.join(missing)}"
        )


def plan_interface(plan: LaunchPlanTemplate, workflow: WorkflowTemplate) -> TypedInterface:
    """What a launch of the plan takes: the workflow's inputs but the fixed ones, with the
    plan's defaults."""
    inputs = []
    for variable in workflow.interface.inputs:
        if variable.name in plan.fixed_inputs:
            continue
        default = plan.default_inputs.get(variable.name)
        if default is not None:
            variable = Variable(
                name=variable.name,
                type=variable.type,
                default=default,
                has_default=True,
                description=variable.description,
            )
        inputs.append(variable)
    return TypedInterface(inputs=tuple(inputs), outputs=workflow.interface.outputs)


def plan_inputs(
    plan: LaunchPlanTemplate, workflow: WorkflowTemplate, given: dict[str, Any], refs: References
) -> LiteralMap:
    """The literals a launch of the plan runs with; InputError names a bad or fixed input."""
    for name in given:
        if name in plan.fixed_inputs:
            raise InputError(name, f"input {name!r} is fixed by launch plan {plan.name!r}")
    literals = encode_inputs(plan_interface(plan, workflow), given, refs)
    literals.update(plan.fixed_inputs)
    return literals


def plan_document(plan: LaunchPlanTemplate) -> dict[str, Any]:
    from slipstream.compiler.values import literal_to_display
    from slipstream.ir import LiteralType

    any_type = LiteralType("any")
    schedule = plan.schedule
    return {
        "workflow": plan.workflow,
        "default_inputs": {
            k: literal_to_display(v, any_type) for k, v in plan.default_inputs.items()
        },
        "fixed_inputs": {k: literal_to_display(v, any_type) for k, v in plan.fixed_inputs.items()},
        "schedule": None
        if schedule is None
        else {
            "cron": schedule.cron or None,
            "rate_seconds": schedule.rate_seconds or None,
            "kickoff_time_input_arg": schedule.kickoff_time_input_arg or None,
        },
        "labels": dict(plan.labels),
    }

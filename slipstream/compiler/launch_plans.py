"""Launch plans on the IR: check one against its workflow, and the inputs a launch gets."""

from __future__ import annotations

from slipstream.errors import CompileError
from slipstream.ir import LaunchPlanTemplate, Literal, LiteralMap, WorkflowTemplate


def check_launch_plan(plan: LaunchPlanTemplate, workflow: WorkflowTemplate) -> None:
    """CompileError naming the plan and input if its saved inputs do not fit the workflow."""
    where = f"launch plan {plan.name!r}"
    if plan.workflow != workflow.name:
        raise CompileError(f"{where} launches workflow {plan.workflow!r}, not {workflow.name!r}")
    declared = {variable.name for variable in workflow.interface.inputs}
    for option, literals in (
        ("default_inputs", plan.default_inputs),
        ("fixed_inputs", plan.fixed_inputs),
    ):
        unknown = sorted(set(literals) - declared)
        if unknown:
            raise CompileError(
                f"{where}: {option} names unknown input(s) {', '.join(map(repr, unknown))} "
                f"of workflow {workflow.name!r}; its inputs are: {', '.join(sorted(declared))}"
            )
    kickoff = plan.schedule.kickoff_time_input_arg if plan.schedule else ""
    if kickoff:
        variable = workflow.interface.input(kickoff)
        if variable is None or variable.type.kind != "datetime":
            raise CompileError(
                f"{where}: kickoff_time_input_arg {kickoff!r} must be a datetime input of "
                f"workflow {workflow.name!r}"
            )


def launch_inputs(
    plan: LaunchPlanTemplate, workflow: WorkflowTemplate, given: LiteralMap
) -> LiteralMap:
    """The workflow inputs of one launch: defaults, then the plan's, then `given`, then fixed.

    Giving a fixed input is a CompileError naming it; a required input nobody gives is one too.
    """
    overridden = sorted(name for name in given if name in plan.fixed_inputs)
    if overridden:
        raise CompileError(
            f"launch plan {plan.name!r}: input(s) {', '.join(map(repr, overridden))} are fixed "
            "and cannot be overridden"
        )
    inputs: dict[str, Literal] = {
        variable.name: variable.default
        for variable in workflow.interface.inputs
        if variable.has_default and variable.default is not None
    }
    inputs.update(plan.default_inputs)
    inputs.update(given)
    inputs.update(plan.fixed_inputs)
    missing = [v.name for v in workflow.interface.inputs if v.name not in inputs]
    if missing:
        raise CompileError(
            f"launch plan {plan.name!r}: no value for required input(s) "
            f"{', '.join(map(repr, missing))} of workflow {workflow.name!r}"
        )
    return inputs

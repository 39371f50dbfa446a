"""The "branch" node kind: evaluates a conditional's cases, runs the chosen one, skips the rest."""

from __future__ import annotations

import datetime as dt
import operator
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from slipstream.engine.nodes.base import BaseNodeKind, RunContext
from slipstream.ir import Literal, LiteralMap, LiteralType, WorkflowTemplate, failures
from slipstream.storage.records import NodeRecord
from slipstream.types import NodePhase

if TYPE_CHECKING:
    from slipstream.engine.state import NodeState

INFO_KEY = "case"  # node info: the index of the case taken

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class ConditionError(Exception):
    """A condition cannot be evaluated on the values it got."""


class BranchKind(BaseNodeKind):
    """Takes the first case whose condition holds (else_ always does); fails if none does."""

    name = "branch"

    def start(
        self, ctx: RunContext, state: NodeState, inputs: LiteralMap, values: dict[str, Any] | None
    ) -> None:
        spec = state.node.spec
        name = spec.get("name", state.node.id)
        cases: list[dict[str, Any]] = spec.get("cases", [])
        chosen: int | None = None
        try:
            for index, case in enumerate(cases):
                when = case.get("when")
                if when is None or evaluate(when, inputs):
                    chosen = index
                    break
        except ConditionError as exc:
            ctx.fail(state, failures.user_failure(f"conditional {name!r}: {exc}"))
            return
        _skip_untaken(ctx, state, cases, chosen, name)
        if chosen is None:
            shown = ", ".join(
                f"{key}={value!r}" for key, value in _condition_values(cases, inputs).items()
            )
            message = f"conditional {name!r}: no case matched and there is no else_() ({shown})"
            ctx.fail(state, failures.user_failure(message))
            return
        state.record.info[INFO_KEY] = chosen
        ctx.recorder.node(state.record)
        case = cases[chosen]
        ctx.recorder.event(state.id, 0, "BRANCH", f"case {chosen} of conditional {name!r} taken")
        if "fail" in case:
            ctx.fail(state, failures.user_failure(f"conditional {name!r}: {case['fail']}"))
            return
        template = state.scope.template.workflows[case["workflow"]]
        ctx.expand(state, template, inputs, values)

    def children(self, ctx: RunContext, state: NodeState) -> WorkflowTemplate | None:
        """On resume: the body of the case a branch node had taken."""
        index = state.record.info.get(INFO_KEY)
        if not isinstance(index, int):
            return None
        workflow = state.node.spec["cases"][index].get("workflow")
        return state.scope.template.workflows[workflow] if workflow else None


def _skip_untaken(
    ctx: RunContext, state: NodeState, cases: list[dict[str, Any]], chosen: int | None, name: str
) -> None:
    now = time.time()
    for index, case in enumerate(cases):
        if index == chosen or not case.get("workflow"):
            continue
        for node in state.scope.template.workflows[case["workflow"]].nodes:
            node_id = f"{state.id}/{node.id}"
            ctx.recorder.node(
                NodeRecord(
                    execution_id=ctx.execution.id,
                    node_id=node_id,
                    parent_id=state.id,
                    kind=node.kind,
                    target=node.target,
                    phase=NodePhase.SKIPPED.value,
                    ended_at=now,
                )
            )
            ctx.recorder.event(
                node_id,
                0,
                NodePhase.SKIPPED.value,
                f"case {index} of conditional {name!r} was not taken",
            )


# -- conditions ----------------------------------------------------------------------------------
def evaluate(expression: dict[str, Any], inputs: LiteralMap) -> bool:
    """The truth of a compiled condition (see slipstream.sdk.conditional) on the node's inputs."""
    if "and" in expression:
        return all(evaluate(part, inputs) for part in expression["and"])
    if "or" in expression:
        return any(evaluate(part, inputs) for part in expression["or"])
    left = operand_value(expression["left"], inputs)
    right = operand_value(expression["right"], inputs)
    op = expression["cmp"]
    try:
        return bool(_OPERATORS[op](left, right))
    except TypeError:
        raise ConditionError(f"cannot evaluate {left!r} {op} {right!r}") from None


def operand_value(operand: dict[str, Any], inputs: LiteralMap) -> Any:
    literal_type = msgspec.convert(operand["type"], LiteralType)
    if "input" in operand:
        literal = inputs.get(operand["input"])
        if literal is None:
            raise ConditionError(f"{operand['input']!r} has no value")
    else:
        literal = msgspec.convert(operand["literal"], Literal)
    return scalar(literal, literal_type)


def scalar(literal: Literal, literal_type: LiteralType) -> Any:
    """The Python value of a scalar literal (what conditions compare)."""
    if literal.uri or literal.items is not None or literal.entries is not None:
        raise ConditionError(f"a stored {literal_type} value cannot be compared")
    if literal_type.kind == "union":
        if 0 <= literal.variant < len(literal_type.variants):
            literal_type = literal_type.variants[literal.variant]
        elif literal.value is None:
            return None
        else:
            literal_type = next(v for v in literal_type.variants if v.kind != "none")
    value = literal.value
    if value is None or literal_type.kind == "none":
        return None
    if literal_type.kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if literal_type.kind == "timedelta":
        return dt.timedelta(seconds=value)
    return value


def _operands(expression: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("and", "or"):
        for part in expression.get(key, ()):
            yield from _operands(part)
    for side in ("left", "right"):
        if side in expression:
            yield expression[side]


def _condition_values(cases: list[dict[str, Any]], inputs: LiteralMap) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for case in cases:
        for operand in _operands(case.get("when") or {}):
            if "input" in operand and operand["input"] not in shown:
                try:
                    shown[operand["input"]] = operand_value(operand, inputs)
                except ConditionError:
                    shown[operand["input"]] = "?"
    return shown

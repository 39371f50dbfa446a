"""conditional(): if_/elif_/else_ cases, each traced into a sub-workflow of one "branch" node.

The cases' bodies are traced in child contexts: whatever a case reads from outside (workflow
inputs, earlier nodes' outputs) becomes an input of the branch node, so the engine can run
the chosen case like a sub-workflow and record the others as SKIPPED.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import msgspec

import slipstream.compiler.kinds  # noqa: F401 - registers the "branch" node kind
from slipstream.compiler.compat import is_assignable
from slipstream.compiler.dag import check_workflow
from slipstream.compiler.paths import describe_path
from slipstream.compiler.registry import TransformContext
from slipstream.errors import CompileError, TypeTransformError
from slipstream.ir import Binding, LiteralType, TypedInterface, Variable, WorkflowTemplate
from slipstream.sdk.expressions import Comparison, Expression, Junction, as_expression, is_promise
from slipstream.sdk.promise import (
    NodeBuilder,
    NodeOps,
    Promise,
    VoidPromise,
    node_of,
    outputs_tuple,
)
from slipstream.sdk.tracing import TracingContext, current_tracing, tracing

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_SCALARS = frozenset({"int", "float", "str", "bool", "datetime", "timedelta", "none", "enum"})
_CONSTANT_TYPES = (bool, int, float, str, dt.datetime, dt.timedelta, enum.Enum, type(None))


@dataclass
class _CaseContext(TracingContext):
    """Traces one case's body; reads from outside become inputs of the branch node."""

    section: ConditionalSection | None = None
    external: dict[str, Variable] = field(default_factory=dict)

    def bind(self, value: Any, py_type: Any, expected: LiteralType, where: str) -> Binding:
        if isinstance(value, Promise) and not any(n is node_of(value) for n in self.nodes):
            if not is_assignable(value.literal_type, expected):
                raise CompileError(
                    f"{self.label} {self.name!r}: {where} expects {expected} but gets "
                    f"{value.literal_type} from {value.describe()}"
                )
            assert self.section is not None
            name = self.section.external(value)
            self.external[name] = Variable(name, value.literal_type)
            return Binding(kind="input", name=name)
        return super().bind(value, py_type, expected, where)

    def add_entity(self, name: str, entity: Any, template: Any, kind: str) -> None:
        super().add_entity(name, entity, template, kind)
        assert self.section is not None
        self.section.context.add_entity(name, entity, template, kind)


@dataclass
class _Case:
    index: int
    condition: dict[str, Any] | None  # the compiled expression; None for else_()
    context: _CaseContext
    scope: AbstractContextManager[TracingContext]
    section: ConditionalSection

    def then(self, result: Any) -> Any:
        """The case's result: a promise, a NamedTuple of promises, or nothing (a void call)."""
        return self.section.close_case(self, result)

    def fail(self, message: str) -> Any:
        """Taking this case fails the node with `message`."""
        return self.section.close_failing(self, message)


class ConditionalSection(NodeOps):
    """The node under construction; `>>` orders it like any call."""

    def __init__(self, name: str) -> None:
        context = current_tracing()
        if context is None:
            raise CompileError(
                f"conditional({name!r}) is only for use inside a @workflow or @dynamic body"
            )
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise CompileError(
                f"conditional({name!r}): the name must be letters, digits, '-' or '_'"
            )
        self.name = name
        self.context = context
        self._node: NodeBuilder | None = NodeBuilder(
            id=context.new_node_id(name), kind="branch", target="", label=f"conditional {name}"
        )
        self.where = f"{context.label} {context.name!r}: conditional {name!r}"
        context.nodes.append(self._node)
        self._ids: dict[str, int] = {}
        self._cases: list[dict[str, Any]] = []
        self._inputs: dict[str, Variable] = {}
        self._outputs: tuple[Variable, ...] | None = None
        self._output_py: dict[str, Any] = {}
        self._output_tuple: type | None = None
        self._first_with_outputs = -1
        self._open: _Case | None = None
        self._done = False
        self._update_spec()

    # -- the chain -------------------------------------------------------------------------------
    def if_(self, condition: Any) -> _Case:
        if self._cases or self._open is not None:
            raise CompileError(f"{self.where}: if_() starts a conditional; use elif_() after it")
        return self._start(condition, "if_()")

    def elif_(self, condition: Any) -> _Case:
        self._require_continuable("elif_()")
        return self._start(condition, "elif_()")

    def else_(self) -> _Case:
        self._require_continuable("else_()")
        return self._start(None, "else_()")

    def _require_continuable(self, what: str) -> None:
        if self._done:
            raise CompileError(f"{self.where}: {what} after else_() is not allowed")
        if self._open is not None:
            raise CompileError(f"{self.where}: {what} before the previous case's then()/fail()")
        if not self._cases:
            raise CompileError(f"{self.where}: {what} needs an if_() first")

    def _start(self, condition: Any, what: str) -> _Case:
        assert self._node is not None
        compiled = None if condition is None else self._compile(as_expression(condition, what))
        context = _CaseContext(
            self.context.name,
            self.context.registry,
            _ids=self._ids,
            label=self.context.label,
            transform=self.context.transform,
            section=self,
        )
        scope = tracing(context)
        scope.__enter__()
        case = _Case(len(self._cases), compiled, context, scope, self)
        self._open = case
        self._update_spec()
        return case

    def _end(self, case: _Case, what: str) -> None:
        if self._open is not case:
            raise CompileError(f"{self.where}: {what} on a case that is already closed")
        if current_tracing() is not case.context:
            raise CompileError(
                f"{self.where}: {what} was called while a conditional started inside case "
                f"{case.index} is still unfinished"
            )
        case.scope.__exit__(None, None, None)
        self._open = None

    def close_case(self, case: _Case, result: Any) -> Any:
        self._end(case, "then()")
        values, py_types, tuple_class = _result_parts(result, self.where)
        context = case.context
        bindings = {
            name: context.bind(
                value, py_types[name], value.literal_type, f"case {case.index} output {name!r}"
            )
            for name, value in values.items()
        }
        outputs = tuple(Variable(name, value.literal_type) for name, value in values.items())
        self._agree(case.index, outputs, py_types, tuple_class)
        assert self._node is not None
        template = WorkflowTemplate(
            name=f"{self._node.id}.case-{case.index}",
            interface=TypedInterface(inputs=tuple(context.external.values()), outputs=outputs),
            nodes=tuple(node.build() for node in context.nodes),
            outputs=bindings,
            tasks=context.tasks,
            workflows=context.workflows,
        )
        try:
            check_workflow(template)
        except CompileError as exc:
            raise CompileError(f"{self.where}: case {case.index}: {exc}") from None
        self.context.workflows[template.name] = template
        self._cases.append({"when": case.condition, "workflow": template.name})
        return self._finish_case(case)

    def close_failing(self, case: _Case, message: str) -> Any:
        self._end(case, "fail()")
        if not isinstance(message, str) or not message:
            raise CompileError(f"{self.where}: fail() needs a message, got {message!r}")
        if case.context.nodes:
            raise CompileError(
                f"{self.where}: case {case.index} calls {len(case.context.nodes)} task(s) "
                "before fail(); a failing case runs nothing"
            )
        self._cases.append({"when": case.condition, "fail": message})
        return self._finish_case(case)

    def _finish_case(self, case: _Case) -> Any:
        self._done = case.condition is None
        self._update_spec()
        if not self._done:
            return self
        return self._results()

    # -- what the cases read and return ----------------------------------------------------------
    def external(self, promise: Promise) -> str:
        """The branch node input that carries `promise` (a workflow input or an outer output)."""
        name = (
            promise.input_name
            if node_of(promise) is None
            else f"{promise.node_id}.{promise.output}"
        ) + describe_path(promise.path)
        if name not in self._inputs:
            assert self._node is not None
            self._node.inputs[name] = self.context.bind(
                promise, promise.py_type, promise.literal_type, f"conditional {self.name!r}"
            )
            self._inputs[name] = Variable(name, promise.literal_type)
            self._update_spec()
        return name

    def _agree(
        self,
        index: int,
        outputs: tuple[Variable, ...],
        py_types: dict[str, Any],
        tuple_class: type | None,
    ) -> None:
        if self._outputs is None:
            self._outputs, self._output_py, self._output_tuple = outputs, py_types, tuple_class
            self._first_with_outputs = index
            return
        if outputs != self._outputs:
            raise CompileError(
                f"{self.where}: case {index} returns {_describe(outputs)} but case "
                f"{self._first_with_outputs} returns {_describe(self._outputs)}; every "
                "case must return the same type(s)"
            )

    def _results(self) -> Any:
        assert self._node is not None
        node = self._node
        if not self._outputs:
            return VoidPromise(node)
        promises = {
            v.name: Promise(node, v.name, v.type, self._output_py[v.name]) for v in self._outputs
        }
        if self._output_tuple is not None:
            return outputs_tuple(self._output_tuple, node, promises)
        return next(iter(promises.values()))

    def _update_spec(self) -> None:
        assert self._node is not None
        interface = TypedInterface(inputs=tuple(self._inputs.values()), outputs=self._outputs or ())
        self._node.spec = {
            "name": self.name,
            "cases": list(self._cases),
            "interface": msgspec.to_builtins(interface),
        }
        if self._open is not None:
            self._node.spec["open"] = True

    # -- conditions ------------------------------------------------------------------------------
    def _compile(self, expression: Expression) -> dict[str, Any]:
        if isinstance(expression, Junction):
            return {
                expression.op: [self._compile(expression.left), self._compile(expression.right)]
            }
        assert isinstance(expression, Comparison)
        left = self._operand(expression.left)
        right = self._operand(expression.right)
        _check_comparable(expression, left["type"], right["type"], self.where)
        return {"cmp": expression.op, "left": left, "right": right}

    def _operand(self, value: Any) -> dict[str, Any]:
        if is_promise(value):
            literal_type: LiteralType = value.literal_type
            return {"input": self.external(value), "type": msgspec.to_builtins(literal_type)}
        if isinstance(value, Expression | VoidPromise) or not isinstance(value, _CONSTANT_TYPES):
            raise CompileError(
                f"{self.where}: a condition compares workflow inputs, task outputs and "
                f"constants (numbers, strings, bools, None, datetimes, enums), got {value!r}"
            )
        registry = self.context.registry
        try:
            literal_type = registry.literal_type(type(value))
            literal = registry.to_literal(value, type(value), TransformContext())
        except TypeTransformError as exc:
            raise CompileError(f"{self.where}: constant {value!r}: {exc}") from None
        return {"literal": msgspec.to_builtins(literal), "type": msgspec.to_builtins(literal_type)}


def _result_parts(
    result: Any, where: str
) -> tuple[dict[str, Promise], dict[str, Any], type | None]:
    if result is None or isinstance(result, VoidPromise):
        return {}, {}, None
    if isinstance(result, Promise):
        return {"o0": result}, {"o0": result.py_type}, None
    fields = getattr(result, "_fields", None)
    if isinstance(result, tuple) and fields and all(isinstance(v, Promise) for v in result):
        values = dict(zip(fields, result, strict=True))
        base = next(
            (cls for cls in type(result).__mro__ if cls.__dict__.get("_fields") == fields),
            type(result),
        )
        return values, {n: v.py_type for n, v in values.items()}, base
    raise CompileError(
        f"{where}: then() takes the result of a task or workflow call (a promise, a NamedTuple "
        f"of promises, or a call that returns nothing), got {result!r}"
    )


def _describe(outputs: tuple[Variable, ...]) -> str:
    if not outputs:
        return "nothing"
    if len(outputs) == 1 and outputs[0].name == "o0":
        return str(outputs[0].type)
    return "(" + ", ".join(f"{v.name}: {v.type}" for v in outputs) + ")"


def _families(raw: Any) -> set[str]:
    literal_type = msgspec.convert(raw, LiteralType)
    members = literal_type.variants if literal_type.kind == "union" else (literal_type,)
    found = set()
    for member in members:
        if member.kind not in _SCALARS:
            found.add(f"!{member}")
        elif member.kind in ("int", "float"):
            found.add("number")
        elif member.kind == "enum":
            found.add(f"enum:{member.name}")
        else:
            found.add(member.kind)
    return found


def _check_comparable(expression: Comparison, left: Any, right: Any, where: str) -> None:
    lefts, rights = _families(left), _families(right)
    bad = sorted(f[1:] for f in lefts | rights if f.startswith("!"))
    if bad:
        raise CompileError(
            f"{where}: {expression!r} compares {', '.join(bad)}; conditions compare numbers, "
            "strings, bools, None, datetimes, timedeltas and enums"
        )
    only_none = lefts == {"none"} or rights == {"none"}
    ordered = expression.op not in ("==", "!=")
    if ordered and (only_none or any(f.startswith("enum:") for f in lefts | rights)):
        raise CompileError(
            f"{where}: {expression!r}: None and enum values can only be compared with == and !="
        )
    if only_none:
        return  # `x == None` on an Optional
    if not (lefts - {"none"}) & (rights - {"none"}):
        raise CompileError(
            f"{where}: {expression!r} compares a {msgspec.convert(left, LiteralType)} with a "
            f"{msgspec.convert(right, LiteralType)}"
        )


def conditional(name: str) -> ConditionalSection:
    """Branch a workflow: `conditional("n").if_(x > 0).then(a(x=x)).else_().then(b(x=x))`.

    Conditions compare workflow inputs and task outputs with ==, !=, <, <=, >, >= and
    combine with & and |. Every case returns the same type(s); untaken cases are SKIPPED;
    `.fail("message")` makes a case fail the workflow. Without else_(), running with no
    matching case fails the node.
    """
    return ConditionalSection(name)

"""Conditions of conditional(): comparisons and their & / | combinations; built by Promise."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any

from slipstream.errors import CompileError

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")

_HINT = (
    "a condition on workflow inputs or task outputs has no value while the workflow is "
    "defined; branch on it with conditional(...).if_(condition), and combine conditions "
    "with & and | (not `and`, `or`, `not` or chained comparisons like `a < x < b`)"
)


class Expression(abc.ABC):
    """A condition evaluated by the engine when the conditional node runs."""

    __slots__ = ()

    def __and__(self, other: Any) -> Expression:
        return Junction("and", self, as_expression(other, "&"))

    def __rand__(self, other: Any) -> Expression:
        return Junction("and", as_expression(other, "&"), self)

    def __or__(self, other: Any) -> Expression:
        return Junction("or", self, as_expression(other, "|"))

    def __ror__(self, other: Any) -> Expression:
        return Junction("or", as_expression(other, "|"), self)

    def __bool__(self) -> bool:
        raise CompileError(f"{self}: {_HINT}")

    @abc.abstractmethod
    def operands(self) -> Iterator[Any]:
        """Every leaf operand (promise or constant), left to right."""


class Comparison(Expression):
    """``left <op> right`` where each side is a promise or a constant."""

    __slots__ = ("left", "op", "right")

    def __init__(self, op: str, left: Any, right: Any) -> None:
        if op not in COMPARISONS:
            raise CompileError(f"unknown comparison {op!r}; expected one of {COMPARISONS}")
        self.op = op
        self.left = left
        self.right = right

    def operands(self) -> Iterator[Any]:
        yield self.left
        yield self.right

    def __repr__(self) -> str:
        return f"({describe(self.left)} {self.op} {describe(self.right)})"


class Junction(Expression):
    """``left & right`` or ``left | right``."""

    __slots__ = ("left", "op", "right")

    def __init__(self, op: str, left: Expression, right: Expression) -> None:
        self.op = op
        self.left = left
        self.right = right

    def operands(self) -> Iterator[Any]:
        yield from self.left.operands()
        yield from self.right.operands()

    def __repr__(self) -> str:
        symbol = "&" if self.op == "and" else "|"
        return f"({self.left!r} {symbol} {self.right!r})"


def is_promise(value: Any) -> bool:
    return hasattr(value, "literal_type") and hasattr(value, "describe")


def describe(value: Any) -> str:
    if is_promise(value):
        return str(value.describe())
    return repr(value)


def as_expression(value: Any, where: str) -> Expression:
    """An Expression as is; a bool promise means ``promise == True``; anything else is an error."""
    if isinstance(value, Expression):
        return value
    if is_promise(value) and value.literal_type.kind == "bool":
        return Comparison("==", value, True)
    raise CompileError(
        f"{where} needs a condition such as `x > 0`, `(a == 'b') & (n < 3)` or a bool "
        f"output, got {describe(value)}"
    )

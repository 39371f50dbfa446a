"""Transformers for int, float, str, bool, datetime, timedelta, None; registered by types/."""

from __future__ import annotations

import datetime as dt
import math
import numbers
from typing import Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


def _mismatch(value: Any, expected: str) -> TypeTransformError:
    return TypeTransformError(
        f"expected {expected}, got {type(value).__name__} {_short_repr(value)}"
    )


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _is_numpy_bool(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return getattr(dtype, "kind", "") == "b" and getattr(value, "shape", None) == ()


def float_json(value: float) -> float | str:
    """JSON has no NaN or infinity: those travel as the strings "nan", "inf", "-inf"."""
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


class _Scalar:
    """A JSON-native scalar: int, float, str, bool (numpy scalars accepted and converted)."""

    def __init__(self, py_type: type, kind: str) -> None:
        self.py_type = py_type
        self.kind = kind
        self.name = kind
        self._type = LiteralType(kind)

    def matches(self, py_type: Any) -> bool:
        return py_type is self.py_type

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        return self._type

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        return Literal(value=self._plain(value))

    def _plain(self, value: Any) -> Any:
        # Values are normalised to exact builtin types: the JSON encoder refuses subclasses
        # such as numpy.float64, and a str-mixin Enum member must travel as its text.
        kind = self.py_type
        if type(value) is float and kind is float:
            return float_json(value)
        if type(value) is kind:
            return value
        is_bool = isinstance(value, bool) or _is_numpy_bool(value)
        if kind is bool:
            if is_bool:
                return bool(value)
        elif is_bool:
            raise _mismatch(value, self.kind)
        elif kind is int and isinstance(value, numbers.Integral):
            return int(value)
        elif kind is float and isinstance(value, numbers.Real):
            return float_json(float(value))
        elif kind is str and isinstance(value, str):
            return str.__str__(value)
        raise _mismatch(value, self.kind)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        value = literal.value
        if self.py_type is float:
            if isinstance(value, str) and value in _NON_FINITE:
                return _NON_FINITE[value]
            if isinstance(value, int) and not isinstance(value, bool):
                return float(value)
        if not isinstance(value, self.py_type) or (type(value) is bool) != (self.py_type is bool):
            raise _mismatch(value, self.kind)
        return value


class _DateTime:
    name = "datetime"
    _type = LiteralType("datetime")

    def matches(self, py_type: Any) -> bool:
        return py_type is dt.datetime

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        return self._type

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        if not isinstance(value, dt.datetime):
            raise _mismatch(value, "datetime")
        return Literal(value=value.isoformat())

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        if not isinstance(literal.value, str):
            raise _mismatch(literal.value, "datetime (an ISO-8601 string)")
        try:
            return dt.datetime.fromisoformat(literal.value)
        except ValueError as exc:
            raise _mismatch(literal.value, "datetime (an ISO-8601 string)") from exc


class _TimeDelta:
    name = "timedelta"
    _type = LiteralType("timedelta")

    def matches(self, py_type: Any) -> bool:
        return py_type is dt.timedelta

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        return self._type

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        if not isinstance(value, dt.timedelta):
            raise _mismatch(value, "timedelta")
        return Literal(value=value.total_seconds())

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        value = literal.value
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _mismatch(value, "timedelta (seconds)")
        return dt.timedelta(seconds=value)


class _NoneType:
    name = "none"
    _type = LiteralType("none")

    def matches(self, py_type: Any) -> bool:
        return py_type is None or py_type is type(None)

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        return self._type

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        if value is not None:
            raise _mismatch(value, "None")
        return Literal(value=None)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        if literal.value is not None or literal.uri:
            raise _mismatch(literal.value if not literal.uri else literal.uri, "None")
        return None


def register(registry: TypeRegistry) -> None:
    registry.register(_Scalar(int, "int"), int)
    registry.register(_Scalar(float, "float"), float)
    registry.register(_Scalar(str, "str"), str)
    registry.register(_Scalar(bool, "bool"), bool)
    registry.register(_DateTime(), dt.datetime)
    registry.register(_TimeDelta(), dt.timedelta)
    registry.register(_NoneType(), None, type(None))

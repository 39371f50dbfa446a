"""The pickle fallback: anything else is pickled into the blob store, with a warning."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


class Opaque:
    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.payload == self.payload


class Unpicklable:
    def __reduce__(self) -> Any:
        raise RuntimeError("no pickling here")


def test_literal_type(registry: TypeRegistry) -> None:
    assert registry.literal_type(Opaque) == LiteralType("pickle", name=f"{__name__}.Opaque")


def test_roundtrip_warns_once_per_type(
    registry: TypeRegistry, ctx: TransformContext, roundtrip: Any, caplog: Any
) -> None:
    class Local(Opaque):
        pass

    with caplog.at_level(logging.WARNING, logger="slipstream.types"):
        assert roundtrip(Local({"a": (1, 2)}), Local) == Local({"a": (1, 2)})
        assert roundtrip(Local(2), Local) == Local(2)
    records = [r for r in caplog.records if r.name == "slipstream.types"]
    assert len(records) == 1
    assert "Local" in records[0].getMessage()
    assert "cloudpickle" in records[0].getMessage()
    assert len(ctx.warnings) == 1 and "Local" in ctx.warnings[0]


def test_stored_as_pickle_blob(registry: TypeRegistry, ctx: TransformContext) -> None:
    literal = registry.to_literal(Opaque(1), Opaque, ctx)
    assert literal.format == "pickle"
    assert literal.uri and len(literal.hash) == 64


def test_lambdas_travel_with_cloudpickle(roundtrip: Any) -> None:
    from collections.abc import Callable

    double = roundtrip(lambda x: x * 2, Callable)
    assert double(21) == 42


def test_wrong_instance(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"^expected Opaque, got int 3$"):
        registry.to_literal(3, Opaque, ctx)


def test_unpicklable(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"cannot pickle a .*Unpicklable: no pickling"):
        registry.to_literal(Unpicklable(), Unpicklable, ctx)


def test_inline_literal_is_not_a_pickle(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match="expected a pickled"):
        registry.to_python(Literal(value=1), Opaque, ctx)


def test_list_of_fallback_values_nests(registry: TypeRegistry, ctx: TransformContext) -> None:
    literal = registry.to_literal([Opaque(1), Opaque(2)], list[Opaque], ctx)
    assert literal.items is not None and all(m.format == "pickle" for m in literal.items)
    assert registry.to_python(literal, list[Opaque], ctx) == [Opaque(1), Opaque(2)]

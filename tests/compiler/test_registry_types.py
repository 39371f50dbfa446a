"""The registry with every family: registration rules, offloading, lazy heavy imports."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slipstream.compiler.registry import BlobIO, TransformContext, TypeRegistry
from slipstream.compiler.types.primitives import register as register_primitives
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal

ROOT = Path(__file__).resolve().parents[2]


def test_registering_a_type_twice_is_an_error(registry: TypeRegistry) -> None:
    with pytest.raises(TypeTransformError, match="type int is already registered"):
        register_primitives(registry)


def test_registering_a_structural_family_twice_is_an_error(registry: TypeRegistry) -> None:
    from slipstream.compiler.types.collections import ListTransformer

    with pytest.raises(TypeTransformError, match="'list' is already registered"):
        registry.register(ListTransformer())


@pytest.mark.parametrize(
    ("value", "py_type"),
    [
        (3, int),
        (2.5, float),
        ("s", str),
        (False, bool),
        (dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime),
        (dt.timedelta(minutes=90), dt.timedelta),
        (None, None),
    ],
)
def test_primitives_roundtrip(roundtrip: Any, value: Any, py_type: Any) -> None:
    assert roundtrip(value, py_type) == value


def test_primitive_errors(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"^expected int, got str 'abc'$"):
        registry.to_literal("abc", int, ctx)
    with pytest.raises(TypeTransformError, match="expected datetime"):
        registry.to_python(Literal(value="yesterday"), dt.datetime, ctx)
    with pytest.raises(TypeTransformError, match=r"expected None, got int 1"):
        registry.to_python(Literal(value=1), None, ctx)


def test_large_inline_values_are_offloaded(registry: TypeRegistry, blobs: BlobIO) -> None:
    ctx = TransformContext(blobs=blobs, offload_threshold=1000)
    value = list(range(1000))
    literal = registry.to_literal(value, list[int], ctx)
    assert literal.value is None
    assert literal.format == "json"
    assert len(literal.hash) == 64
    assert registry.to_python(literal, list[int], ctx) == value
    small = registry.to_literal([1, 2], list[int], ctx)
    assert small == Literal(value=[1, 2])


def test_offloaded_union_keeps_its_variant(registry: TypeRegistry, blobs: BlobIO) -> None:
    ctx = TransformContext(blobs=blobs, offload_threshold=100)
    text = "x" * 500
    literal = registry.to_literal(text, int | str, ctx)
    assert literal.format == "json" and literal.variant == 1
    assert registry.to_python(literal, int | str, ctx) == text


def test_offloaded_struct_and_dict(registry: TypeRegistry, blobs: BlobIO) -> None:
    import dataclasses

    @dataclasses.dataclass
    class Bag:
        words: list[str]

    ctx = TransformContext(blobs=blobs, offload_threshold=200)
    bag = Bag(["word"] * 100)
    literal = registry.to_literal(bag, Bag, ctx)
    assert literal.format == "json"
    assert registry.to_python(literal, Bag, ctx) == bag
    mapping = {str(i): i for i in range(100)}
    literal = registry.to_literal(mapping, dict[str, int], ctx)
    assert literal.format == "json"
    assert registry.to_python(literal, dict[str, int], ctx) == mapping


def test_no_offload_without_a_store(registry: TypeRegistry) -> None:
    ctx = TransformContext(offload_threshold=10)
    assert registry.to_literal("y" * 100, str, ctx) == Literal(value="y" * 100)


def test_corrupted_offloaded_value_is_detected(registry: TypeRegistry, blobs: BlobIO) -> None:
    ctx = TransformContext(blobs=blobs, offload_threshold=10)
    literal = registry.to_literal("z" * 100, str, ctx)
    uri, _sha = blobs.put_bytes(b'"other"')
    forged = Literal(uri=uri, hash=literal.hash, format="json")
    with pytest.raises(TypeTransformError, match="does not match its hash"):
        registry.to_python(forged, str, ctx)


def test_registry_import_is_light() -> None:
    code = (
        "import sys; import slipstream.compiler.types as r; r.default_registry(); "
        "heavy = [m for m in ('pandas', 'pyarrow', 'pydantic', 'cloudpickle', 'numpy') "
        "if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert "slipstream.compiler.types.structs" in imported
    assert not {"pandas", "pyarrow", "pydantic"} & imported


def test_numpy_scalars_become_builtins(registry: TypeRegistry, ctx: TransformContext) -> None:
    import numpy as np

    from slipstream.ir import encode

    assert registry.to_literal(np.int64(3), int, ctx) == Literal(value=3)
    assert registry.to_literal(np.float32(0.5), float, ctx) == Literal(value=0.5)
    assert registry.to_literal(np.bool_(True), bool, ctx) == Literal(value=True)
    literal = registry.to_literal([np.float64(1.5), 2.0], list[float], ctx)
    assert encode(literal) == b'{"value":[1.5,2.0]}'
    with pytest.raises(TypeTransformError, match="expected int, got bool"):
        registry.to_literal(np.bool_(False), int, ctx)


def test_non_finite_floats_survive_json(roundtrip: Any) -> None:
    import math

    back = roundtrip([1.0, math.nan, math.inf, -math.inf], list[float])
    assert back[0] == 1.0 and math.isnan(back[1]) and back[2:] == [math.inf, -math.inf]
    assert math.isnan(roundtrip(math.nan, float))


def test_str_enum_member_travels_as_text(registry: TypeRegistry, ctx: TransformContext) -> None:
    import enum

    class Mode(str, enum.Enum):  # noqa: UP042 - the str mixin is the point
        FAST = "fast"

    literal = registry.to_literal(Mode.FAST, str, ctx)
    assert type(literal.value) is str and literal.value == "fast"

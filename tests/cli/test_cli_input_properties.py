"""Property: any text given for an input either parses to a value of the input's declared type
or is refused with a usage error naming the input and its type; nothing else escapes."""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slipstream.cli.inputs import TypedValue
from slipstream.compiler.registry import TransformContext
from slipstream.compiler.types import default_registry
from slipstream.storage.blobs import BlobStore


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass
class Point:
    x: int
    y: float


class Model(pydantic.BaseModel):
    name: str
    size: int


TYPES: list[Any] = [
    int,
    float,
    str,
    bool,
    dt.datetime,
    dt.timedelta,
    Colour,
    Point,
    Model,
    list[int],
    dict[str, float],
    int | None,
    list[Point],
    dict[str, list[str]],
    int | str,
]

# Text that is often near a valid value: JSON of arbitrary shapes, numbers, words, durations.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["x", "y", "name", "size", "a"]), children, max_size=4)
    ),
    max_leaves=12,
)
texts = (
    st.text(max_size=30)
    | json_values.map(lambda v: json.dumps(v, allow_nan=True))
    | st.sampled_from(["red", "RED", "90s", "1h30m", "2026-12-01T10:00:00", "true", "null"])
    | st.integers().map(str)
    | st.floats().map(str)
)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> TransformContext:
    folder: Path = tmp_path_factory.mktemp("blobs")
    return TransformContext(blobs=BlobStore(f"file://{folder}"))


@pytest.mark.parametrize("py_type", TYPES, ids=lambda t: getattr(t, "__name__", str(t)))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=texts)
def test_input_text_parses_to_its_type_or_is_refused_naming_it(
    py_type: Any, text: str, context: TransformContext
) -> None:
    registry = default_registry()
    parameter = TypedValue("the_input", py_type, registry)
    try:
        value = parameter.convert(text, None, None)
    except click.BadParameter as exc:
        message = exc.format_message()
        assert "input 'the_input' expects" in message and parameter.name in message
        return
    # a value of the declared type: the type's own transformer takes it as it is
    registry.to_literal(value, py_type, context)

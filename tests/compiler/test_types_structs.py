"""Dataclasses and pydantic models as structs: fields through the registry, schema, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from typing import Any, Optional

import pandas as pd
import pydantic
import pytest

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal


class Shape(enum.Enum):
    SQUARE = "square"
    ROUND = "round"


@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.0


@dataclasses.dataclass
class Polygon:
    name: str
    points: list[Point]
    shape: Shape = Shape.SQUARE
    created: Optional[dt.datetime] = None  # noqa: UP045


@dataclasses.dataclass
class Report:
    title: str
    table: pd.DataFrame


@dataclasses.dataclass
class Tree:
    label: str
    children: list[Tree] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Unresolved:
    ok: int
    broken: NoSuchType  # type: ignore[name-defined]  # noqa: F821


@dataclasses.dataclass
class BadKeys:
    counts: dict[int, int]


@dataclasses.dataclass
class Derived:
    a: int
    double: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.double = self.a * 2


class User(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0)
    tags: list[str] = []
    home: Optional[Point] = None  # noqa: UP045


class Aliased(pydantic.BaseModel):
    user_name: str = pydantic.Field(alias="userName")


class WithFrame(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    frame: pd.DataFrame


def test_dataclass_roundtrip_inline(registry: TypeRegistry, ctx: TransformContext) -> None:
    value = Polygon("tri", [Point(0, 0.5), Point(1)], Shape.ROUND, dt.datetime(2024, 1, 2))
    literal = registry.to_literal(value, Polygon, ctx)
    assert literal.entries is not None  # the Optional field records its variant
    assert registry.to_python(literal, Polygon, ctx) == value


def test_flat_dataclass_is_one_inline_value(registry: TypeRegistry, ctx: TransformContext) -> None:
    assert registry.to_literal(Point(1, 2.0), Point, ctx) == Literal(value={"x": 1, "y": 2.0})


def test_list_of_dataclasses(roundtrip: Any) -> None:
    value = [Point(1, 2.0), Point(3, 4.0)]
    assert roundtrip(value, list[Point]) == value


def test_dataclass_holding_a_dataframe(
    registry: TypeRegistry, ctx: TransformContext, roundtrip: Any
) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    literal = registry.to_literal(Report("r", frame), Report, ctx)
    assert literal.entries is not None
    assert literal.entries["table"].format == "parquet"
    back = roundtrip(Report("r", frame), Report)
    assert back.title == "r"
    pd.testing.assert_frame_equal(back.table, frame)


def test_recursive_dataclass(registry: TypeRegistry, roundtrip: Any) -> None:
    tree = Tree("root", [Tree("a"), Tree("b", [Tree("c")])])
    assert roundtrip(tree, Tree) == tree
    schema = json.loads(registry.literal_type(Tree).schema)
    assert schema["properties"]["children"]["items"]["title"].endswith("Tree")


def test_literal_type_and_schema(registry: TypeRegistry) -> None:
    literal_type = registry.literal_type(Polygon)
    assert literal_type.kind == "struct"
    assert literal_type.name == f"{__name__}.Polygon"
    schema = json.loads(literal_type.schema)
    assert schema["required"] == ["name", "points"]
    assert schema["properties"]["points"]["items"]["properties"]["x"] == {"type": "integer"}
    assert schema["properties"]["shape"]["enum"] == ["square", "round"]
    assert registry.literal_type(Polygon) == literal_type  # deterministic


def test_wrong_value_type(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"^expected Point, got dict \{'x': 1\}$"):
        registry.to_literal({"x": 1}, Point, ctx)


def test_wrong_field_names_the_field(registry: TypeRegistry, ctx: TransformContext) -> None:
    bad = Polygon("p", [Point(1), Point("two")])  # type: ignore[arg-type]
    with pytest.raises(TypeTransformError, match=r"^\.points\[1\]\.x: expected int, got str"):
        registry.to_literal(bad, Polygon, ctx)


def test_field_without_usable_type_is_named(registry: TypeRegistry) -> None:
    with pytest.raises(TypeTransformError, match=r"field 'broken' of dataclass Unresolved"):
        registry.literal_type(Unresolved)


def test_unsupported_field_type_is_named(registry: TypeRegistry) -> None:
    with pytest.raises(TypeTransformError, match=r"BadKeys\.counts: dict\[int, int\]"):
        registry.literal_type(BadKeys)


def test_missing_and_default_fields_on_decode(
    registry: TypeRegistry, ctx: TransformContext
) -> None:
    assert registry.to_python(Literal(value={"x": 1}), Point, ctx) == Point(1, 0.0)
    with pytest.raises(TypeTransformError, match=r"^\.x: missing from the stored Point$"):
        registry.to_python(Literal(value={"y": 1.0}), Point, ctx)


def test_non_init_fields_are_rebuilt(roundtrip: Any) -> None:
    assert roundtrip(Derived(4), Derived).double == 8


def test_pydantic_roundtrip(roundtrip: Any) -> None:
    user = User(name="ada", age=36, tags=["x"], home=Point(1, 2.0))
    assert roundtrip(user, User) == user
    assert roundtrip(User(name="b", age=1), User) == User(name="b", age=1)


def test_pydantic_schema_is_pydantics(registry: TypeRegistry) -> None:
    schema = json.loads(registry.literal_type(User).schema)
    assert schema["properties"]["age"]["minimum"] == 0


def test_pydantic_validation_runs_on_decode(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"(?s)cannot build a User.*greater than or equal"):
        registry.to_python(Literal(value={"name": "x", "age": -1}), User, ctx)


def test_pydantic_aliases(roundtrip: Any) -> None:
    value = Aliased(userName="z")
    assert roundtrip(value, Aliased) == value


def test_pydantic_with_dataframe(registry: TypeRegistry, roundtrip: Any) -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0]})
    back = roundtrip(WithFrame(frame=frame), WithFrame)
    pd.testing.assert_frame_equal(back.frame, frame)
    schema = json.loads(registry.literal_type(WithFrame).schema)
    assert schema["properties"]["frame"]["x-slipstream-kind"] == "dataframe"

"""parse_text (command-line text to values), literal_to_display and type_label."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from pathlib import Path
from typing import Any, Optional

import pandas as pd
import pyarrow as pa
import pydantic
import pytest

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.files import Directory, File
from slipstream.compiler.values import literal_to_display, parse_text, type_label
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.0
    when: Optional[dt.datetime] = None  # noqa: UP045


class User(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0)


GOOD: list[tuple[str, Any, Any]] = [
    ("42", int, 42),
    (" -7 ", int, -7),
    ("2.5", float, 2.5),
    ("3", float, 3.0),
    ("hello world", str, "hello world"),
    ("", str, ""),
    ("true", bool, True),
    ("False", bool, False),
    ("1", bool, True),
    ("0", bool, False),
    ("yes", bool, True),
    ("no", bool, False),
    ("2024-05-01T12:30:00", dt.datetime, dt.datetime(2024, 5, 1, 12, 30)),
    ("2024-05-01", dt.datetime, dt.datetime(2024, 5, 1)),
    (
        "2024-05-01T12:30:00+00:00",
        dt.datetime,
        dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
    ),
    ("90", dt.timedelta, dt.timedelta(seconds=90)),
    ("90s", dt.timedelta, dt.timedelta(seconds=90)),
    ("15m", dt.timedelta, dt.timedelta(minutes=15)),
    ("2h", dt.timedelta, dt.timedelta(hours=2)),
    ("1d", dt.timedelta, dt.timedelta(days=1)),
    ("1h30m", dt.timedelta, dt.timedelta(minutes=90)),
    ("1.5h", dt.timedelta, dt.timedelta(minutes=90)),
    ("red", Color, Color.RED),
    ("GREEN", Color, Color.GREEN),
    ("2", Level, Level.HIGH),
    ("LOW", Level, Level.LOW),
    ("[1, 2]", list[int], [1, 2]),
    ("[1, 2.5]", list[float], [1.0, 2.5]),
    ('{"a": 1}', dict[str, int], {"a": 1}),
    ('{"a": [true]}', dict[str, list[bool]], {"a": [True]}),
    ('["red", "green"]', list[Color], [Color.RED, Color.GREEN]),
    ('{"x": 1}', Point, Point(1)),
    (
        '{"x": 1, "y": 2, "when": "2024-01-01T00:00:00"}',
        Point,
        Point(1, 2.0, dt.datetime(2024, 1, 1)),
    ),
    ('[{"x": 1}, {"x": 2}]', list[Point], [Point(1), Point(2)]),
    ('{"name": "ada", "age": 36}', User, User(name="ada", age=36)),
    ("5", Optional[int], 5),  # noqa: UP045
    ("null", Optional[int], None),  # noqa: UP045
    ("none", Optional[str], None),  # noqa: UP045
    ("hi", Optional[str], "hi"),  # noqa: UP045
    ("[1]", Optional[list[int]], [1]),  # noqa: UP045
    ("7", int | str, 7),
    ("seven", int | str, "seven"),
    ("null", None, None),
]


@pytest.mark.parametrize(("text", "py_type", "expected"), GOOD)
def test_parse(registry: TypeRegistry, text: str, py_type: Any, expected: Any) -> None:
    value = parse_text(text, py_type, registry)
    assert value == expected
    assert type(value) is type(expected)


BAD: list[tuple[str, Any, str]] = [
    ("abc", int, r"^'abc' is not a valid int$"),
    ("1.5", int, r"^'1\.5' is not a valid int$"),
    ("x", float, r"^'x' is not a valid float$"),
    ("maybe", bool, r"^'maybe' is not a valid bool: use true/false"),
    ("May 1st", dt.datetime, r"'May 1st' is not a valid datetime: use ISO 8601"),
    ("soon", dt.timedelta, r"'soon' is not a valid timedelta: use seconds"),
    ("1x", dt.timedelta, r"'1x' is not a valid timedelta"),
    ("blue", Color, r"'blue' is not a valid Color: expected one of 'red', 'green'"),
    ("[1, 2", list[int], r"'\[1, 2' is not a valid list\[int\]: not JSON"),
    ('[1, "a"]', list[int], r"is not a valid list\[int\]: \[1\]: expected int, got str 'a'"),
    ('{"y": 1.0}', Point, r"is not a valid Point: \.x: missing"),
    ('{"name": "x", "age": -1}', User, r"(?s)is not a valid User: cannot build a User"),
    ("abc", Optional[int], r"'abc' is not a valid Optional\[int\]"),  # noqa: UP045
    ("x", None, r"'x' is not a valid None"),
]


@pytest.mark.parametrize(("text", "py_type", "pattern"), BAD)
def test_parse_rejects(registry: TypeRegistry, text: str, py_type: Any, pattern: str) -> None:
    with pytest.raises(TypeTransformError, match=pattern):
        parse_text(text, py_type, registry)


def test_parse_paths(registry: TypeRegistry, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    file = parse_text(str(tmp_path / "f.txt"), File, registry)
    assert isinstance(file, File) and file.path == str(tmp_path / "f.txt")
    folder = parse_text(str(tmp_path), Directory, registry)
    assert isinstance(folder, Directory) and folder.path == str(tmp_path)
    with pytest.raises(TypeTransformError, match=r"is not a valid File: no such file"):
        parse_text(str(tmp_path / "missing.txt"), File, registry)
    with pytest.raises(TypeTransformError, match=r"is not a valid Directory: no such directory"):
        parse_text(str(tmp_path / "f.txt"), Directory, registry)


def test_parse_frames(registry: TypeRegistry, tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    frame.to_parquet(tmp_path / "f.parquet")
    frame.to_csv(tmp_path / "f.csv", index=False)
    for name in ("f.parquet", "f.csv"):
        parsed = parse_text(str(tmp_path / name), pd.DataFrame, registry)
        pd.testing.assert_frame_equal(parsed, frame, check_dtype=False)
    table = parse_text(str(tmp_path / "f.csv"), pa.Table, registry)
    assert table.column("a").to_pylist() == [1, 2]
    (tmp_path / "f.txt").write_text("a")
    with pytest.raises(TypeTransformError, match=r"is not a valid DataFrame: give a \.parquet"):
        parse_text(str(tmp_path / "f.txt"), pd.DataFrame, registry)
    with pytest.raises(TypeTransformError, match=r"is not a valid DataFrame: no such file"):
        parse_text(str(tmp_path / "nope.csv"), pd.DataFrame, registry)


def test_display(registry: TypeRegistry, ctx: TransformContext, tmp_path: Path) -> None:
    def show(value: Any, py_type: Any) -> Any:
        literal = registry.to_literal(value, py_type, ctx)
        return literal_to_display(literal, registry.literal_type(py_type))

    assert show(3, int) == 3
    assert show([1, 2], list[int]) == [1, 2]
    assert show(Point(1, 2.0), Point) == {"x": 1, "y": 2.0, "when": None}
    assert show(Color.RED, Color) == "red"
    assert show(None, Optional[int]) is None  # noqa: UP045
    assert show(dt.datetime(2024, 1, 1), dt.datetime) == "2024-01-01T00:00:00"
    frame_shown = show(pd.DataFrame({"a": [1]}), pd.DataFrame)
    assert set(frame_shown) == {"uri", "hash", "format"} and frame_shown["format"] == "parquet"
    (tmp_path / "f.txt").write_text("x")
    mixed = show({"n": pd.DataFrame({"a": [1]}), "m": None}, dict[str, Optional[pd.DataFrame]])  # noqa: UP045
    assert mixed["m"] is None and mixed["n"]["format"] == "parquet"
    files = show([File(tmp_path / "f.txt")], list[File])
    assert files[0]["format"] == "file"


def test_display_of_offloaded_json(registry: TypeRegistry, ctx: TransformContext) -> None:
    big = TransformContext(blobs=ctx.blobs, offload_threshold=10)
    literal = registry.to_literal("long text " * 10, str, big)
    shown = literal_to_display(literal, registry.literal_type(str))
    assert shown["format"] == "json" and shown["uri"] == literal.uri


def test_display_inline_literal_as_is() -> None:
    from slipstream.ir import LiteralType

    assert literal_to_display(Literal(value={"a": 1}), LiteralType("dict")) == {"a": 1}


@pytest.mark.parametrize(
    ("py_type", "label"),
    [
        (int, "int"),
        (list[int], "list[int]"),
        (dict[str, list[float]], "dict[str, list[float]]"),
        (Optional[str], "Optional[str]"),  # noqa: UP045
        (int | None, "Optional[int]"),
        (int | str, "int | str"),
        (pd.DataFrame, "DataFrame"),
        (pa.Table, "pyarrow.Table"),
        (Point, "Point"),
        (File, "File"),
        (None, "None"),
        (Any, "Any"),
    ],
)
def test_type_label(py_type: Any, label: str) -> None:
    assert type_label(py_type) == label


def test_union_explains_each_member(registry: TypeRegistry) -> None:
    with pytest.raises(TypeTransformError) as info:
        parse_text("x", int | list[int], registry)
    assert str(info.value).startswith("'x' is not a valid int | list[int]: as int; as list[int]:")
    with pytest.raises(TypeTransformError, match=r"^'abc' is not a valid Optional\[int\]$"):
        parse_text("abc", Optional[int], registry)  # noqa: UP045

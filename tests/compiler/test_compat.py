"""is_assignable: the compile-time table of which output types may feed which inputs."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Optional

import pandas as pd
import pyarrow as pa
import pytest

from slipstream.compiler.compat import is_assignable
from slipstream.compiler.registry import TypeRegistry
from slipstream.compiler.types.files import Directory, File
from slipstream.ir import LiteralType


@dataclasses.dataclass
class A:
    x: int


@dataclasses.dataclass
class B:
    x: int


class Color(enum.Enum):
    RED = "red"


class Thing:
    pass


class Other:
    pass


YES: list[tuple[Any, Any]] = [
    (int, int),
    (float, float),
    (str, Optional[str]),  # noqa: UP045
    (None, Optional[str]),  # noqa: UP045
    (int, int | str),
    (int | str, str | int | float),
    (Optional[int], Optional[int]),  # noqa: UP045
    (list[int], list[int | None]),
    (dict[str, int], dict[str, Optional[int]]),  # noqa: UP045
    (list[list[int]], list[list[int]]),
    (A, A),
    (A, Optional[A]),  # noqa: UP045
    (Color, Color),
    (pd.DataFrame, pd.DataFrame),
    (pd.DataFrame, pa.Table),
    (File, File),
    (Directory, Directory),
    (Thing, Thing),
    (list[A], list[A]),
]

NO: list[tuple[Any, Any]] = [
    (int, float),
    (float, int),
    (bool, int),
    (int, str),
    (Optional[int], int),  # noqa: UP045
    (int | str, int),
    (list[int], list[float]),
    (list[int], dict[str, int]),
    (dict[str, int], dict[str, str]),
    (A, B),
    (Color, str),
    (File, Directory),
    (Thing, Other),
    (str, File),
    (int, list[int]),
    (None, int),
]


@pytest.mark.parametrize(("source", "target"), YES)
def test_assignable(registry: TypeRegistry, source: Any, target: Any) -> None:
    assert is_assignable(registry.literal_type(source), registry.literal_type(target))


@pytest.mark.parametrize(("source", "target"), NO)
def test_not_assignable(registry: TypeRegistry, source: Any, target: Any) -> None:
    assert not is_assignable(registry.literal_type(source), registry.literal_type(target))


def test_struct_with_same_name_but_other_schema() -> None:
    old = LiteralType("struct", name="m.P", schema='{"properties":{"x":{"type":"integer"}}}')
    new = LiteralType("struct", name="m.P", schema='{"properties":{"y":{"type":"integer"}}}')
    assert not is_assignable(old, new)
    assert is_assignable(old, LiteralType("struct", name="m.P"))


def test_enum_with_other_values() -> None:
    first = LiteralType("enum", name="m.E", values=('"a"',))
    second = LiteralType("enum", name="m.E", values=('"a"', '"b"'))
    assert not is_assignable(first, second)

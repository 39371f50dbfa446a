"""compiler.paths: walking stored literals down a field/key/index path, and its errors."""

from __future__ import annotations

import pytest

from slipstream.compiler.paths import MISSING, describe_path, follow
from slipstream.errors import ExecutionError
from slipstream.ir import Literal


def test_inline_and_nested_literals_are_walked() -> None:
    inline = Literal(value={"a": [1, 2, {"b": "x"}]})
    assert follow(inline, MISSING, ("a", 2, "b")) == (Literal(value="x"), MISSING)
    nested = Literal(
        entries={"f": Literal(uri="file:///blob", hash="h", format="file"), "n": Literal(value=3)}
    )
    assert follow(nested, MISSING, ("f",))[0].format == "file"
    items = Literal(items=(Literal(value=1, variant=0), Literal(value=None, variant=1)))
    assert follow(items, MISSING, (-1,))[0] == Literal(value=None, variant=1)
    assert follow(inline, {"a": [1, 2, {"b": "x"}]}, ("a", 0)) == (Literal(value=1), 1)


def test_missing_steps_and_offloaded_values_are_named() -> None:
    with pytest.raises(ExecutionError, match=r"\.a\[5\]: index out of range"):
        follow(Literal(value={"a": [1]}), MISSING, ("a", 5))
    with pytest.raises(ExecutionError, match=r"\.z: no such key"):
        follow(Literal(value={"a": 1}), MISSING, ("z",))
    offloaded = Literal(uri="file:///x", hash="h", format="json")
    with pytest.raises(ExecutionError, match="offloaded value file:///x"):
        follow(offloaded, MISSING, ("a",))
    loaded = follow(offloaded, MISSING, ("a",), load=lambda _: Literal(value={"a": 2}))
    assert loaded == (Literal(value=2), MISSING)
    assert describe_path(("a", 0, "not an id")) == ".a[0]['not an id']"

"""DataFrames (pandas, pyarrow) as content-addressed parquet blobs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from slipstream.compiler.registry import BlobIO, TransformContext, TypeRegistry
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": np.arange(5, dtype="int64"),
            "f": np.linspace(0, 1, 5),
            "s": ["a", "b", None, "d", "e"],
            "t": pd.date_range("2024-01-01", periods=5, freq="D"),
        },
        index=pd.Index([10, 20, 30, 40, 50], name="key"),
    )


def test_literal_types(registry: TypeRegistry) -> None:
    assert registry.literal_type(pd.DataFrame) == LiteralType("dataframe", format="pandas")
    assert registry.literal_type(pa.Table) == LiteralType("dataframe", format="arrow")


def test_pandas_roundtrip_keeps_index(
    registry: TypeRegistry, ctx: TransformContext, roundtrip: Any, frame: pd.DataFrame
) -> None:
    literal = registry.to_literal(frame, pd.DataFrame, ctx)
    assert literal.format == "parquet"
    assert len(literal.hash) == 64
    assert literal.value is None
    pd.testing.assert_frame_equal(roundtrip(frame, pd.DataFrame), frame)


def test_range_index_and_string_columns(roundtrip: Any) -> None:
    frame = pd.DataFrame({"x": [1.5, 2.5]}, index=pd.RangeIndex(3, 5))
    pd.testing.assert_frame_equal(roundtrip(frame, pd.DataFrame), frame)


def test_arrow_roundtrip(roundtrip: Any) -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    back = roundtrip(table, pa.Table)
    assert isinstance(back, pa.Table)
    assert back.equals(table)


def test_stored_once_per_content(
    registry: TypeRegistry, ctx: TransformContext, frame: pd.DataFrame, blobs: BlobIO
) -> None:
    first = registry.to_literal(frame, pd.DataFrame, ctx)
    second = registry.to_literal(frame.copy(), pd.DataFrame, ctx)
    assert first == second
    changed = registry.to_literal(frame.assign(i=frame["i"] + 1), pd.DataFrame, ctx)
    assert changed.hash != first.hash
    assert blobs.get_bytes(first.uri)[:4] == b"PAR1"


def test_pandas_written_arrow_read(
    registry: TypeRegistry, ctx: TransformContext, frame: pd.DataFrame
) -> None:
    literal = registry.to_literal(frame, pd.DataFrame, ctx)
    table = registry.to_python(literal, pa.Table, ctx)
    assert table.column("i").to_pylist() == [0, 1, 2, 3, 4]


def test_dict_of_dataframes(roundtrip: Any, frame: pd.DataFrame) -> None:
    value = {"one": frame, "two": frame.head(2)}
    back = roundtrip(value, dict[str, pd.DataFrame])
    assert list(back) == ["one", "two"]
    pd.testing.assert_frame_equal(back["two"], frame.head(2))


def test_optional_dataframe(roundtrip: Any, frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(roundtrip(frame, pd.DataFrame | None), frame)
    assert roundtrip(None, pd.DataFrame | None) is None


def test_wrong_value(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"^expected DataFrame, got list \[1\]$"):
        registry.to_literal([1], pd.DataFrame, ctx)
    with pytest.raises(TypeTransformError, match=r"expected pyarrow\.Table, got DataFrame"):
        registry.to_literal(pd.DataFrame({"a": [1]}), pa.Table, ctx)


def test_needs_a_blob_store(registry: TypeRegistry, frame: pd.DataFrame) -> None:
    with pytest.raises(TypeTransformError, match="needs a blob store"):
        registry.to_literal(frame, pd.DataFrame, TransformContext())


def test_unstorable_frame_is_a_clear_error(registry: TypeRegistry, ctx: TransformContext) -> None:
    frame = pd.DataFrame({"mixed": [1, "a", object()]})
    with pytest.raises(TypeTransformError, match="cannot store this DataFrame as parquet"):
        registry.to_literal(frame, pd.DataFrame, ctx)


def test_inline_value_is_not_a_frame(registry: TypeRegistry, ctx: TransformContext) -> None:
    with pytest.raises(TypeTransformError, match=r"expected a stored DataFrame \(parquet\)"):
        registry.to_python(Literal(value=[1, 2]), pd.DataFrame, ctx)


def test_dictionary_encoding_only_where_values_repeat(
    registry: TypeRegistry, ctx: TransformContext, blobs: BlobIO
) -> None:
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "measure": rng.random(50_000),
            "category": rng.choice(["a", "b", "c"], 50_000),
            "code": rng.integers(0, 10, 50_000),
            "id": np.arange(50_000),
        }
    )
    literal = registry.to_literal(frame, pd.DataFrame, ctx)
    metadata = pq.read_metadata(pa.BufferReader(blobs.get_bytes(literal.uri)))
    columns = metadata.row_group(0)
    encodings = {
        columns.column(i).path_in_schema: columns.column(i).encodings
        for i in range(columns.num_columns)
    }
    assert "RLE_DICTIONARY" in encodings["category"]
    assert "RLE_DICTIONARY" in encodings["code"]
    assert "RLE_DICTIONARY" not in encodings["measure"]
    assert "RLE_DICTIONARY" not in encodings["id"]
    pd.testing.assert_frame_equal(registry.to_python(literal, pd.DataFrame, ctx), frame)

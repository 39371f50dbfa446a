"""Transformer for pandas DataFrames and pyarrow Tables as parquet blobs; registered by types/."""

from __future__ import annotations

import io
from typing import Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.common import mismatch, type_label
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType

PARQUET = "parquet"
_SAMPLE_ROWS = 16_384  # rows looked at to guess whether a column repeats its values


def frame_format(py_type: Any) -> str | None:
    """The frame format, ``pandas`` or ``arrow``, matched by name so neither library is imported."""
    if not isinstance(py_type, type):
        return None
    module = py_type.__module__
    if module.startswith("pandas") and py_type.__name__ == "DataFrame":
        return "pandas"
    if module.startswith("pyarrow") and py_type.__name__ == "Table":
        return "arrow"
    return None


def write_parquet(table: Any) -> bytes:
    """Parquet bytes of an arrow table, built in one buffer that becomes the bytes object."""
    import pyarrow.parquet as pq

    # BytesIO.getvalue() hands over its buffer without a copy when nothing else holds it,
    # where pyarrow's BufferOutputStream would need one more copy into a bytes object.
    sink = io.BytesIO()
    pq.write_table(table, sink, use_dictionary=dictionary_columns(table))
    return sink.getvalue()


def dictionary_columns(table: Any) -> list[str]:
    """Columns worth dictionary-encoding: strings, and numbers with few distinct values.

    Left to itself, parquet tries a dictionary for every column; for high-cardinality data
    (measurements, ids, timestamps) that attempt costs about half of the whole write and
    saves nothing. A sample of the first rows tells the two cases apart cheaply.
    """
    import pyarrow.types as pat

    textual = [pat.is_string, pat.is_large_string, pat.is_binary, pat.is_large_binary]
    textual += [pat.is_dictionary]
    for optional in ("is_string_view", "is_binary_view"):
        check = getattr(pat, optional, None)
        if check is not None:
            textual.append(check)
    numeric = [pat.is_integer, pat.is_floating, pat.is_temporal, pat.is_decimal]
    sample = table.slice(0, _SAMPLE_ROWS)
    chosen = []
    for field, column in zip(table.schema, sample.columns, strict=True):
        if any(check(field.type) for check in textual) or (
            any(check(field.type) for check in numeric)
            and sample.num_rows
            and len(column.unique()) * 2 <= sample.num_rows
        ):
            chosen.append(field.name)
    return chosen


def read_parquet(literal: Literal, ctx: TransformContext) -> Any:
    """The arrow table stored at literal.uri, memory-mapped when the store is local."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    blobs = ctx.require_blobs(f"reading the DataFrame at {literal.uri}")
    local = blobs.local_path(literal.uri)
    if local is not None:
        return pq.read_table(local, memory_map=True)
    return pq.read_table(pa.BufferReader(blobs.get_bytes(literal.uri)))


class FrameTransformer:
    """A pandas DataFrame or pyarrow Table, stored once per content as parquet."""

    name = "dataframe"

    def matches(self, py_type: Any) -> bool:
        return frame_format(py_type) is not None

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        return LiteralType("dataframe", format=frame_format(py_type) or "")

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        if not isinstance(value, py_type):
            raise mismatch(value, type_label(py_type))
        blobs = ctx.require_blobs(f"storing a {type_label(py_type)}")
        import pyarrow as pa

        try:
            table = pa.Table.from_pandas(value) if frame_format(py_type) == "pandas" else value
            data = write_parquet(table)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise TypeTransformError(
                f"cannot store this {type_label(py_type)} as parquet: {exc}"
            ) from exc
        uri, sha = blobs.put_bytes(data)
        return Literal(uri=uri, hash=sha, format=PARQUET)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        if not literal.uri or literal.format != PARQUET:
            shown = literal.uri or literal.value
            raise mismatch(shown, f"a stored {type_label(py_type)} (parquet)")
        table = read_parquet(literal, ctx)
        if frame_format(py_type) == "arrow":
            return table
        return table.to_pandas()


def register(registry: TypeRegistry) -> None:
    registry.register(FrameTransformer())

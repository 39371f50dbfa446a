"""StructuredDataset (Flyte's name), `kwtypes` column subsets, and their transformers.

A StructuredDataset wraps a DataFrame (pandas or pyarrow) and travels as parquet like one;
`Annotated[StructuredDataset, kwtypes(a=int)]` and `Annotated[pd.DataFrame, kwtypes(...)]`
declare the columns a task reads: it receives only those.
"""

from __future__ import annotations

import json
import typing
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.common import mismatch, type_label
from slipstream.compiler.types.frames import PARQUET, frame_format, read_parquet, write_parquet
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


def kwtypes(**columns: Any) -> OrderedDict[str, Any]:
    """Column names and types, in order: `kwtypes(a=int, b=str)`."""
    return OrderedDict(columns)


class StructuredDataset:
    """A table: built from a DataFrame (`StructuredDataset(dataframe=df)`), read as one.

    A received dataset is read on demand: `sd.open(pd.DataFrame).all()` (or `pa.Table`).
    """

    def __init__(
        self,
        dataframe: Any = None,
        uri: str | None = None,
        file_format: str = PARQUET,
        **_metadata: Any,
    ) -> None:
        if dataframe is not None and frame_format(type(dataframe)) is None:
            raise TypeError(
                f"StructuredDataset(dataframe=...) takes a pandas DataFrame or a pyarrow "
                f"Table, got {type(dataframe).__name__}"
            )
        self._dataframe = dataframe
        self.uri = uri
        self.file_format = file_format
        self.literal: Literal | None = None  # set when received: passing it on stores nothing
        self.columns: list[str] | None = None  # the columns a task declared it reads
        self._ctx: TransformContext | None = None
        self._dataframe_type: Any = None

    @classmethod
    def received(
        cls, literal: Literal, ctx: TransformContext, columns: list[str] | None = None
    ) -> StructuredDataset:
        """A stored dataset, read from the blob store when opened."""
        dataset = cls(uri=literal.uri)
        dataset.literal, dataset.columns, dataset._ctx = literal, columns, ctx
        return dataset

    @property
    def dataframe(self) -> Any:
        return self._dataframe

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Lets pydantic models hold one; imported only when pydantic asks."""
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls)

    def open(self, dataframe_type: Any) -> StructuredDataset:
        """Choose how all()/iter() return the data: pd.DataFrame or pa.Table."""
        if frame_format(dataframe_type) is None:
            raise TypeError(
                f"open() takes pandas.DataFrame or pyarrow.Table, got {dataframe_type!r}"
            )
        self._dataframe_type = dataframe_type
        return self

    def all(self) -> Any:
        """The whole table as the type given to open()."""
        if self._dataframe_type is None:
            raise ValueError("call open(pd.DataFrame) (or open(pa.Table)) before all()")
        table = self._table()
        if frame_format(self._dataframe_type) == "pandas":
            return table if frame_format(type(table)) == "pandas" else table.to_pandas()
        if frame_format(type(table)) == "pandas":
            import pyarrow as pa

            return pa.Table.from_pandas(table, preserve_index=False)
        return table

    def iter(self) -> Iterator[Any]:
        """The table in parts (here: one part, the whole table)."""
        yield self.all()

    def with_columns(self, columns: list[str]) -> StructuredDataset:
        """The same data, seen through a subset of its columns."""
        if self.literal is not None and self._ctx is not None:
            return StructuredDataset.received(self.literal, self._ctx, columns)
        view = StructuredDataset(self._dataframe, self.uri, self.file_format)
        view.columns = columns
        return view

    def _table(self) -> Any:
        if self._dataframe is not None:
            table = self._dataframe
        elif self.literal is not None and self._ctx is not None:
            table = read_parquet(self.literal, self._ctx)
        else:
            raise ValueError(f"this StructuredDataset holds no data (uri={self.uri!r})")
        return select_columns(table, self.columns)

    def __repr__(self) -> str:
        shown = "a DataFrame" if self._dataframe is not None else (self.uri or "nothing")
        return f"StructuredDataset({shown})"


def select_columns(table: Any, columns: list[str] | None) -> Any:
    """Only `columns` of a pandas DataFrame or pyarrow Table; a missing one is named."""
    if not columns:
        return table
    present = list(table.columns) if frame_format(type(table)) == "pandas" else table.column_names
    missing = [c for c in columns if c not in present]
    if missing:
        raise TypeTransformError(
            f"the table has no column(s) {', '.join(map(repr, missing))}; it has: "
            f"{', '.join(map(str, present))}"
        )
    if frame_format(type(table)) == "pandas":
        return table[columns]
    return table.select(columns)


class DatasetTransformer:
    """StructuredDataset: parquet in the blob store, read lazily by the receiving task."""

    name = "structured-dataset"

    def matches(self, py_type: Any) -> bool:
        return py_type is StructuredDataset

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        return LiteralType("dataframe", format="dataset")

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        if frame_format(type(value)) is not None:
            value = StructuredDataset(dataframe=value)
        if not isinstance(value, StructuredDataset):
            raise mismatch(value, "StructuredDataset")
        if value.dataframe is None:
            if value.literal is None:
                raise TypeTransformError(f"{value!r} holds no data to store")
            if not value.columns:
                return value.literal  # received and passed on: already stored
        blobs = ctx.require_blobs("storing a StructuredDataset")
        import pyarrow as pa

        table = value.open(pa.Table).all()
        uri, sha = blobs.put_bytes(write_parquet(table))
        return Literal(uri=uri, hash=sha, format=PARQUET)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        if not literal.uri or literal.format != PARQUET:
            raise mismatch(literal.uri or literal.value, "a stored StructuredDataset (parquet)")
        return StructuredDataset.received(literal, ctx)


class AnnotatedTransformer:
    """`Annotated[T, ...]`: T's transformer; `kwtypes(...)` on a table selects its columns."""

    name = "annotated"

    def matches(self, py_type: Any) -> bool:
        return typing.get_origin(py_type) is typing.Annotated

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        base, columns = _split(py_type)
        literal_type = registry.literal_type(base)
        if columns is None:
            return literal_type
        if literal_type.kind != "dataframe":
            raise TypeTransformError(
                f"kwtypes(...) columns annotate tables, not {type_label(base)}"
            )
        shown = {name: type_label(tp) for name, tp in columns.items()}
        return LiteralType(
            "dataframe", format=literal_type.format, schema=json.dumps({"columns": shown})
        )

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        base, _ = _split(py_type)
        return registry.transformer_for(base).to_literal(value, base, ctx, registry)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        base, columns = _split(py_type)
        value = registry.to_python(literal, base, ctx)
        if columns is None:
            return value
        if isinstance(value, StructuredDataset):
            return value.with_columns(list(columns))
        return select_columns(value, list(columns))


def _split(py_type: Any) -> tuple[Any, dict[str, Any] | None]:
    base, *metadata = typing.get_args(py_type)
    for item in metadata:
        if isinstance(item, dict) and all(isinstance(k, str) for k in item):
            return base, dict(item)
    return base, None


def register(registry: TypeRegistry) -> None:
    registry.register(DatasetTransformer(), StructuredDataset)
    registry.register(AnnotatedTransformer())

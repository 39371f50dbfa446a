"""How the UI shows a value: JSON cut to a length, a DataFrame's schema and first rows, a File link.

Used by the node panel and the execution summary.
"""

from __future__ import annotations

import json
from typing import Any

CUT_AT = 2000  # characters of a value shown before "show all"
FIRST_ROWS = 10


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def shown(value: Any, all_url: str = "", limit: int = CUT_AT) -> dict[str, Any]:
    """{text, cut, size, limit, all_url}: the value's JSON text, cut at `limit` characters."""
    text = value if isinstance(value, str) else pretty(value)
    return {
        "text": text[:limit],
        "cut": len(text) > limit,
        "size": len(text),
        "limit": limit,
        "all_url": all_url,
    }


def frame_preview(handle: Any, rows: int = FIRST_ROWS) -> dict[str, Any]:
    """The schema, row count and first rows of a parquet file open in `handle`."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(handle)
    schema = [{"name": f.name, "type": str(f.type)} for f in parquet.schema_arrow]
    first: list[list[str]] = []
    for batch in parquet.iter_batches(batch_size=rows):
        columns = batch.to_pydict()
        names = list(columns)
        for index in range(min(rows, batch.num_rows)):
            first.append([_cell(columns[name][index]) for name in names])
        break
    return {"schema": schema, "rows": parquet.metadata.num_rows, "first": first}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:79] + "…"

"""Workflows the benchmarks run (importable, so isolated attempts can load them)."""

from __future__ import annotations

import pandas as pd

from slipstream import task, workflow


@task
def inc(x: int) -> int:
    return x + 1


@task
def total(values: list[int]) -> int:
    return sum(values)


@workflow
def chain_100(x: int = 0) -> int:
    for _ in range(100):
        x = inc(x=x)
    return x


@workflow
def fan_in_1000() -> int:
    return total(values=[inc(x=i) for i in range(1000)])


@task
def make_frame(rows: int, columns: int) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(0)
    return pd.DataFrame({f"c{i}": rng.random(rows) for i in range(columns)})


@task
def frame_rows(frame: pd.DataFrame) -> int:
    return len(frame)


@workflow
def frame_handoff(rows: int = 1_000_000, columns: int = 10) -> int:
    return frame_rows(frame=make_frame(rows=rows, columns=columns))

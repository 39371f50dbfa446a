"""Tasks the runner tests execute through `python -m slipstream.execute`."""

from __future__ import annotations

import time

import pandas as pd

from slipstream import NonRecoverableError, task


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def frame_sum(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(total=frame.sum(axis=1))


@task
def fails(kind: str) -> int:
    if kind == "fatal":
        raise NonRecoverableError("never works")
    raise RuntimeError(f"failure of kind {kind}")


@task
def sleeps(seconds: float, started: str) -> float:
    with open(started, "w") as marker:
        marker.write("started")
    time.sleep(seconds)
    return seconds

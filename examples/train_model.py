"""The seed's second example: Dask data preparation feeding a training step.

slipstream run examples/train_model.py train_model --input-files '["a.csv", "b.csv"]'
"""

from typing import List  # noqa: UP035 - the seed's own spelling

import dask.dataframe as dd
import pandas as pd

from slipstream import Resources, task, workflow
from slipstream.dask import Dask, Scheduler, WorkerGroup


@task(
    task_config=Dask(
        scheduler=Scheduler(requests=Resources(cpu="2")),
        workers=WorkerGroup(number_of_workers=4, limits=Resources(cpu="8", mem="32Gi")),
    )
)
def expensive_data_preparation(input_files: List[str]) -> pd.DataFrame:  # noqa: UP006
    # Stand-in for reading the files: one partition of synthetic rows per input file, built and
    # aggregated in parallel on the task's own Dask cluster (plain dask APIs find it).
    parts = [
        pd.DataFrame({"file": name, "x": range(i * 1000, (i + 1) * 1000)})
        for i, name in enumerate(input_files)
    ]
    frame = dd.from_pandas(pd.concat(parts, ignore_index=True), npartitions=max(1, len(parts)))
    frame = frame.assign(y=frame.x * 2 + 1)
    return frame.groupby("file").agg({"x": "mean", "y": "sum"}).compute().reset_index()


@task
def train(input_data: pd.DataFrame) -> str:
    # Model training stand-in: fit y = a*x + b through the aggregated points.
    slope = (input_data.y.sum() / input_data.x.sum()) if input_data.x.sum() else 0.0
    return f"model://linear?rows={len(input_data)}&slope={slope:.3f}"


@workflow
def train_model(input_files: List[str]) -> str:  # noqa: UP006
    prepared_data = expensive_data_preparation(input_files=input_files)
    return train(input_data=prepared_data)

"""The seed's first example: a task on its own four-worker Dask cluster.

Only the import lines differ from the Flyte version (and list_length has a default, so the
README's command runs it as is):

    slipstream run examples/increment_numbers.py increment_numbers --list-length 1000
"""

from typing import List  # noqa: UP035 - the seed's own spelling

from distributed import Client

from slipstream import Resources, task
from slipstream.dask import Dask, Scheduler, WorkerGroup


def inc(x):
    return x + 1


@task(
    task_config=Dask(
        scheduler=Scheduler(requests=Resources(cpu="2")),
        workers=WorkerGroup(number_of_workers=4, limits=Resources(cpu="8", mem="32Gi")),
    )
)
def increment_numbers(list_length: int = 1000) -> List[int]:  # noqa: UP006
    client = Client()
    futures = client.map(inc, range(list_length))
    return client.gather(futures)

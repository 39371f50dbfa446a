"""Tasks and workflows Kubernetes runner tests run as Pods and DaskJobs (shipped in a bundle)."""

from __future__ import annotations

import os
import time

from slipstream import Resources, task, workflow
from slipstream.dask import Dask, Scheduler, WorkerGroup

# Every process that imports this module says so here: the code bundle must reach the Dask
# scheduler and workers, and their imports must not run this module's top level twice.
if os.environ.get("K8S_TASKS_IMPORT_LOG"):
    with open(os.environ["K8S_TASKS_IMPORT_LOG"], "a") as _log:
        _log.write(f"{os.getpid()}\n")


def _wait_for(path: str, seconds: float = 120.0) -> None:
    print(f"waiting for {path}", flush=True)
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.05)


@task(
    requests=Resources(cpu="100m", mem="64Mi"),
    limits=Resources(mem="256Mi"),
    environment={"GREETING": "hello from the pod"},
)
def add(a: int, b: int) -> int:
    print(f"{os.environ['GREETING']}: adding {a} and {b}", flush=True)
    return a + b


@task(retries=2)
def explode(message: str) -> int:
    raise ValueError(message)


@task
def wait_for(path: str) -> str:
    _wait_for(path)
    return "done"


@task(timeout=1.5)
def overstays(path: str) -> str:
    _wait_for(path)
    return "too late"


@task(interruptible=True)
def spot_wait(path: str) -> str:
    _wait_for(path)
    return "survived"


@task(image="registry.example.com/slipstream/missing:missing")
def unpullable() -> int:
    return 1


def _square(x: int) -> int:
    return x * x


@task(
    task_config=Dask(
        scheduler=Scheduler(requests=Resources(cpu="1")),
        workers=WorkerGroup(number_of_workers=1, limits=Resources(cpu="1", mem="1Gi")),
    )
)
def dask_squares(n: int) -> int:
    from distributed import Client

    client = Client()
    return int(sum(client.gather(client.map(_square, range(n)))))


@task(task_config=Dask(workers=WorkerGroup(number_of_workers=2)))
def dask_shipped(n: int) -> int:
    """Code from the bundle through client.submit, client.map and dask.delayed."""
    import dask
    from distributed import Client

    client = Client()
    first = client.submit(_square, n).result()
    mapped = sum(client.gather(client.map(_square, range(n))))
    return int(first + mapped + dask.delayed(_square)(2).compute())


@task(task_config=Dask(workers=WorkerGroup(number_of_workers=1)), interruptible=True)
def dask_wait(path: str) -> int:
    from distributed import Client

    _wait_for(path)
    client = Client()
    return int(client.submit(_square, 7).result())


@task(task_config=Dask(workers=WorkerGroup(number_of_workers=1)), retries=1)
def dask_flaky(folder: str) -> int:
    """Waits for <folder>/<attempt>; fails as if it lost a worker if that file says "fail"."""
    from distributed import Client

    marker = os.path.join(folder, os.environ["SLIPSTREAM_ATTEMPT"])
    _wait_for(marker)
    with open(marker) as f:
        if f.read() == "fail":
            raise RuntimeError("lost a worker while computing")
    return int(Client().submit(_square, 6).result())


@task(task_config=Dask(workers=WorkerGroup(number_of_workers=1)), retries=1)
def dask_explode(message: str) -> int:
    raise RuntimeError(message)


@task(
    task_config=Dask(
        workers=[
            WorkerGroup(number_of_workers=1),
            WorkerGroup(name="big", number_of_workers=1, limits=Resources(mem="1Gi")),
        ]
    )
)
def dask_two_groups(n: int) -> int:
    from distributed import Client

    return int(Client().submit(_square, n).result())


@workflow
def wait_three(path: str) -> str:
    wait_for(path=path)
    wait_for(path=path)
    return wait_for(path=path)


@workflow
def pipeline(a: int, n: int) -> int:
    total = add(a=a, b=n)
    return dask_squares(n=total)

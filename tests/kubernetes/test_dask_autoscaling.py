"""Which workers the operator's autoscaler may retire, as a real scheduler process answers.

The dask-kubernetes operator scales the default group down by asking the scheduler which
workers to close (its HTTP API, else `workers_to_close` over RPC) and deleting those
workers' one-worker Deployments. Here the scheduler and each worker are their own processes,
one worker per "Deployment" (by name), as the operator runs them.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import time
from collections.abc import Iterator

import pytest
from harness.dask_clusters import DASK, process_env

from slipstream.dask import Dask, WorkerGroup
from slipstream.dask.config import config_to_json
from slipstream.dask.kubernetes import AUTOSCALED_GROUP_ENV, build_daskjob
from slipstream.ir import TaskTemplate, TypedInterface


def _wait_file(path: pathlib.Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise TimeoutError(f"{path} never appeared")


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """A scheduler (with the preload when the test is parametrized so) and two workers:
    `job-default-worker-a` of the adaptive default group, `job-gpu-worker-b` of a GPU group."""
    preload = request.param
    info = tmp_path / "scheduler.json"
    command = [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0"]
    command += ["--no-dashboard", "--scheduler-file", str(info)]
    if preload:
        command += ["--preload", "slipstream.dask.protect"]
    env = process_env({AUTOSCALED_GROUP_ENV: "default"})
    processes = [subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)]
    try:
        address = json.loads(_wait_file(info))["address"]
        workers = (("job-default-worker-a", "default=1"), ("job-gpu-worker-b", "gpu=1"))
        for name, resources in workers:
            worker = [str(DASK), "worker", address, "--name", name, "--nthreads", "1"]
            worker += ["--no-dashboard", "--no-nanny", "--resources", resources]
            processes.append(
                subprocess.Popen(worker, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
            )
        yield address
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _choice(address: str) -> list[str]:
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
        # The default group's worker holds data, the GPU worker none: left to itself the
        # scheduler closes the worker that costs least, the GPU group's.
        kept = client.submit(bytes, 8_000_000, resources={"default": 1}, pure=False)
        kept.result()
        return list(client.sync(client.scheduler.workers_to_close, n=1, attribute="name"))


@pytest.mark.parametrize("cluster", [False], indirect=True)
def test_without_protection_the_scheduler_offers_another_groups_worker(cluster: str) -> None:
    assert _choice(cluster) == ["job-gpu-worker-b"]


@pytest.mark.parametrize("cluster", [True], indirect=True)
def test_the_preload_keeps_other_groups_out_of_the_autoscalers_reach(cluster: str) -> None:
    assert _choice(cluster) == ["job-default-worker-a"]


def test_daskjobs_preload_the_protection_only_for_an_adaptive_group_among_others() -> None:
    def scheduler_of(config: Dask) -> dict:
        crunch = TaskTemplate(
            name="wf.crunch",
            function="wf:crunch",
            interface=TypedInterface(),
            task_type="dask",
            config=config_to_json(config),
        )
        (job, *_) = build_daskjob(
            crunch,
            execution_id="e1",
            node_id="crunch",
            attempt=1,
            command=["python", "-m", "slipstream.execute"],
            image="repo/app:1",
            namespace="ns",
            labels={},
            env={},
            interruptible_selector={},
            interruptible_tolerations=[],
        )
        return job["spec"]["cluster"]["spec"]["scheduler"]["spec"]["containers"][0]

    both = scheduler_of(
        Dask(workers=[WorkerGroup(min_workers=1, max_workers=4), WorkerGroup(name="gpu")])
    )
    assert both["command"][-2:] == ["--preload", "slipstream.dask.protect"]
    assert {"name": AUTOSCALED_GROUP_ENV, "value": "default"} in both["env"]
    alone = scheduler_of(Dask(workers=WorkerGroup(min_workers=1, max_workers=4)))
    fixed = scheduler_of(Dask(workers=[WorkerGroup(), WorkerGroup(name="gpu")]))
    for container in (alone, fixed):
        assert "--preload" not in container["command"]

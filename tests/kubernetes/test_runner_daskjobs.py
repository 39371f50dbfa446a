"""Dask tasks as DaskJobs through the Kubernetes runner, with a stand-in operator whose clusters
are real LocalClusters, and with the real dask-kubernetes operator (kopf) against the test API."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner
from harness import KubeHarness, validate_daskjob
from runner_support import (
    EXAMPLES,
    FLOWS,
    created,
    engine,
    env_of,
    managed,
    point_at,
    run,
    start,
    wait_until,
)

from slipstream.cli.main import cli
from slipstream.types import ExecutionPhase

MANAGED = {"app.kubernetes.io/managed-by": "slipstream"}


@pytest.fixture
def fake(
    fake_dask_operator: KubeHarness,
    home: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
) -> KubeHarness:
    point_at(fake_dask_operator, monkeypatch, tmp_path)
    return fake_dask_operator


def job_statuses(kube: KubeHarness, name: str) -> list[str]:
    seen: list[str] = []
    for change in kube.changes("daskjob", name):
        status = change.obj.get("status", {}).get("jobStatus")
        if status and (not seen or seen[-1] != status):
            seen.append(status)
    return seen


def running_job(kube: KubeHarness, index: int = 0) -> dict:
    """The index-th DaskJob, once its runner Pod prints that it is waiting."""

    def ready() -> dict | None:
        jobs = created(kube, "daskjob")
        if len(jobs) <= index:
            return None
        name = jobs[index]["metadata"]["name"]
        return jobs[index] if "waiting for" in kube.logs(f"{name}-runner") else None

    return wait_until(ready, 90, "the DaskJob's runner never started waiting")


def test_a_dask_task_runs_as_a_daskjob_on_its_own_cluster(fake: KubeHarness) -> None:
    eng = engine()
    outcome = run(eng, "dask_squares", n=5)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    assert outcome.outputs["o0"].value == 0 + 1 + 4 + 9 + 16
    (job,) = created(fake, "daskjob")
    validate_daskjob(
        {k: job[k] for k in ("apiVersion", "kind", "spec")}
        | {"metadata": {k: job["metadata"][k] for k in ("name", "namespace", "labels")}}
    )
    name = job["metadata"]["name"]
    assert job["metadata"]["labels"]["slipstream.io/node"] == "dask-squares"
    assert job["metadata"]["annotations"]["slipstream.io/node-id"] == "dask-squares"
    assert job_statuses(fake, name) == ["JobCreated", "ClusterCreated", "Running", "Successful"]
    (runner,) = job["spec"]["job"]["spec"]["containers"]
    env = env_of(runner)
    assert env["SLIPSTREAM_EXECUTION_ID"] == outcome.execution_id
    assert (env["SLIPSTREAM_NODE_ID"], env["SLIPSTREAM_ATTEMPT"]) == ("dask-squares", "1")
    assert env["SLIPSTREAM_BLOB_URL"] == eng.blobs.root
    assert "--bundle" in runner["command"]
    assert job["spec"]["job"]["spec"]["restartPolicy"] == "Never"
    # The operator made the runner Pod from the job: it carries our labels too.
    (pod,) = [p for p in created(fake, "pod") if p["metadata"]["name"] == f"{name}-runner"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "slipstream"
    # Done: the DaskJob was deleted, and with it (ownership) the runner Pod and the cluster.
    fake.wait_gone("daskjob", name)
    fake.wait_gone("pod", f"{name}-runner")
    wait_until(lambda: fake.dask_clusters.open_keys == [], 30)
    (started,) = fake.dask_clusters.started
    assert started.n_workers == 1
    (node,) = eng.store.get_nodes(outcome.execution_id)
    assert node.info["daskjob"] == name and node.info["scheduler"] == started.address


def test_the_bundle_reaches_the_scheduler_and_workers_and_runs_once_in_each(
    fake: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    # The scheduler and workers are their own processes without the test's code (as on a
    # cluster): the scheduler unpickles task graphs, so it needs the bundle as much as they do.
    imports = tmp_path / "imports.log"
    monkeypatch.setenv("K8S_TASKS_IMPORT_LOG", str(imports))
    outcome = run(engine(), "dask_shipped", n=4)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    assert outcome.outputs["o0"].value == 16 + (0 + 1 + 4 + 9) + 4
    pids = imports.read_text().split()
    assert len(pids) == len(set(pids)), f"a process ran the module's top level twice: {pids}"
    (started,) = fake.dask_clusters.started
    assert str(started.scheduler_pid) in pids
    assert len(pids) >= 3  # the runner, the scheduler and at least one worker


def test_the_seed_example_runs_end_to_end_through_kubernetes(fake: KubeHarness) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(EXAMPLES / "increment_numbers.py"),
            "increment_numbers",
            "--list-length",
            "50",
            "--backend",
            "kubernetes",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["phase"] == "SUCCEEDED"
    assert summary["outputs"]["o0"] == list(range(1, 51))
    (job,) = created(fake, "daskjob")
    assert job["spec"]["cluster"]["spec"]["worker"]["replicas"] == 4
    (started,) = fake.dask_clusters.started
    assert started.n_workers == 4
    fake.wait_gone("daskjob", job["metadata"]["name"])


def test_a_user_exception_in_a_dask_task_spends_the_user_budget(fake: KubeHarness) -> None:
    eng = engine()
    outcome = run(eng, "dask_explode", message="no cluster can fix this")
    assert outcome.phase == ExecutionPhase.FAILED
    error = outcome.error
    assert error is not None and error.kind == "user"
    assert error.type.endswith("RuntimeError") and error.message == "no cluster can fix this"
    assert "raise RuntimeError(message)" in error.traceback
    (node,) = eng.store.get_nodes(outcome.execution_id)
    assert (node.user_attempts, node.system_attempts) == (2, 0)
    jobs = created(fake, "daskjob")
    assert len({j["metadata"]["name"] for j in jobs}) == 2
    wait_until(lambda: managed(fake, "daskjob") == [], 30)


def test_an_oomkilled_runner_is_a_system_failure_with_its_reason(
    fake: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("SLIPSTREAM_SYSTEM_RETRIES", "0")
    eng = engine()
    future = start(eng, "dask_wait", path=str(tmp_path / "never"))
    job = running_job(fake)
    name = job["metadata"]["name"]
    fake.inject(f"{name}-runner", "oomkilled")
    outcome = future.result(60)
    assert outcome.phase == ExecutionPhase.FAILED
    error = outcome.error
    assert error is not None and (error.kind, error.type) == (
        "system",
        "slipstream.errors.OOMKilled",
    )
    assert f"Pod {name}-runner" in error.message and "OOMKilled" in error.message
    assert job_statuses(fake, name)[-1] == "Failed"
    fake.wait_gone("daskjob", name)


def test_an_oomkilled_worker_surfaces_its_reason_and_spends_the_system_budget(
    fake: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("SLIPSTREAM_SYSTEM_RETRIES", "1")
    eng = engine()
    future = start(eng, "dask_flaky", folder=str(tmp_path))
    job = running_job(fake)
    name = job["metadata"]["name"]
    # A worker Pod of the job's cluster, on another node, as the operator's Deployment makes
    # it; that node's kubelet reports its container OOMKilled and restarted. It goes with its
    # DaskJob, at once (no kubelet here finishes a graceful deletion on that node).
    worker = f"{name}-default-worker-0"
    owner = {"apiVersion": job["apiVersion"], "kind": "DaskJob", "name": name}
    fake.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": worker,
                "labels": {
                    **job["metadata"]["labels"],
                    "dask.org/cluster-name": name,
                    "dask.org/component": "worker",
                },
                "ownerReferences": [{**owner, "uid": job["metadata"]["uid"], "controller": True}],
            },
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "nodeName": "elsewhere",
                "containers": [
                    {"name": "worker", "image": "python:3.11", "command": ["dask", "worker"]}
                ],
            },
        }
    )
    fake.patch(
        "pod",
        worker,
        {
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "worker",
                        "image": "python:3.11",
                        "ready": True,
                        "restartCount": 1,
                        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
                    }
                ],
            }
        },
        subresource="status",
    )
    (tmp_path / "1").write_text("fail")
    running_job(fake, 1)
    (tmp_path / "2").write_text("ok")
    outcome = future.result(90)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    assert outcome.outputs["o0"].value == 36
    (node,) = eng.store.get_nodes(outcome.execution_id)
    assert (node.system_attempts, node.user_attempts, node.attempts) == (1, 0, 2)
    first = eng.store.get_attempts(outcome.execution_id)[0]
    assert first.error is not None
    error = json.loads(first.error)
    assert (error["kind"], error["type"]) == ("system", "slipstream.errors.OOMKilled")
    assert f"Pod {worker}" in error["message"] and "OOMKilled" in error["message"]
    assert "lost a worker while computing" in error["message"]
    assert fake.get("pod", worker) is None  # gone with its DaskJob


def test_an_abort_deletes_the_daskjob_and_its_cluster(
    fake: KubeHarness, tmp_path: pathlib.Path
) -> None:
    eng = engine()
    future = start(eng, "dask_wait", path=str(tmp_path / "never"))
    job = running_job(fake)
    name = job["metadata"]["name"]
    execution_id = job["metadata"]["annotations"]["slipstream.io/execution-id"]
    assert eng.store.request_abort(execution_id)  # as `slipstream executions abort` does
    outcome = future.result(60)
    assert outcome.phase == ExecutionPhase.ABORTED
    fake.wait_gone("daskjob", name)
    fake.wait_gone("pod", f"{name}-runner")
    wait_until(lambda: fake.dask_clusters.open_keys == [], 30)
    assert job_statuses(fake, name)[-1] in ("ClusterCreated", "Running")  # it never ended
    # Its log was kept before the Pod went.
    (attempt,) = eng.store.get_attempts(execution_id)
    assert "waiting for" in eng.blobs.read_bytes(f"{attempt.output_prefix}/attempt.log").decode()


def test_a_restarted_engine_readopts_its_running_daskjob(
    fake: KubeHarness, tmp_path: pathlib.Path
) -> None:
    flag = tmp_path / "go"
    process = subprocess.Popen(
        [sys.executable, "-m", "slipstream", "run", str(FLOWS), "dask_wait", "--path", str(flag)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        job = running_job(fake)
        name = job["metadata"]["name"]
        execution_id = job["metadata"]["annotations"]["slipstream.io/execution-id"]
        eng = engine()
        wait_until(
            lambda: (
                eng.store.get_attempts(execution_id)
                and eng.store.get_attempts(execution_id)[-1].handle
            ),
            30,
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    assert fake.get("daskjob", name) is not None  # the engine died; its DaskJob runs on
    flag.touch()
    outcome = eng.resume(execution_id)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    assert outcome.outputs["o0"].value == 49
    assert len(created(fake, "daskjob")) == 1  # adopted, not launched again
    fake.wait_gone("daskjob", name)
    (attempt,) = eng.store.get_attempts(execution_id)
    assert attempt.phase == "SUCCEEDED"


@pytest.mark.kube(local_dask=True)
def test_the_real_operator_drives_the_daskjob_to_successful(
    real_dask_operator: KubeHarness,
    home: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
) -> None:
    kube = real_dask_operator
    point_at(kube, monkeypatch, tmp_path)
    eng = engine()
    flag = tmp_path / "go"
    # The runner waits until the job is Running, so the operator cannot skip that status.
    future = start(eng, "dask_wait", path=str(flag))
    job = running_job(kube)
    name = job["metadata"]["name"]
    kube.wait_for_object(
        "daskjob", name, lambda j: j.get("status", {}).get("jobStatus") == "Running", timeout=60
    )
    flag.touch()
    outcome = future.result(90)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    assert outcome.outputs["o0"].value == 49
    assert job_statuses(kube, name) == ["JobCreated", "ClusterCreated", "Running", "Successful"]
    kube.wait_gone("daskjob", name)
    kube.wait_gone("pod", f"{name}-runner")
    # The operator's runner Pod kept our labels and read the scheduler address it was given.
    (pod,) = [p for p in created(kube, "pod") if p["metadata"]["name"] == f"{name}-runner"]
    assert pod["metadata"]["labels"]["slipstream.io/execution"] == outcome.execution_id

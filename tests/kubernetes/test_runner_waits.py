"""What a real cluster does to attempts that the happy path never shows: Pods that cannot be
scheduled, a full ResourceQuota, image pulls that fail for a while, admission refusing the
operator's Pods, sidecars, watches that stall, finalizers that hold deletion."""

from __future__ import annotations

import pathlib
import time
from typing import Any

import pytest
from click.testing import CliRunner
from harness import KubeHarness, refusal
from runner_support import created, engine, point_at, run, start, wait_until

from slipstream.cli.main import cli
from slipstream.runners.kubernetes.follower import Follower
from slipstream.runners.kubernetes.watches import Watches
from slipstream.types import ExecutionPhase


@pytest.fixture
def k8s(
    kube: KubeHarness, home: pathlib.Path, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> KubeHarness:
    point_at(kube, monkeypatch, tmp_path)
    return kube


@pytest.fixture
def fake(
    fake_dask_operator: KubeHarness,
    home: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
) -> KubeHarness:
    point_at(fake_dask_operator, monkeypatch, tmp_path)
    return fake_dask_operator


def node_info(eng: Any, execution_id: str) -> dict[str, Any]:
    nodes = eng.store.get_nodes(execution_id)
    return dict(nodes[0].info) if nodes else {}


def execution_of(kube: KubeHarness) -> str:
    def first() -> str | None:
        pods = created(kube, "pod") or created(kube, "daskjob")
        return pods[0]["metadata"]["annotations"]["slipstream.io/execution-id"] if pods else None

    return str(wait_until(first, 30, "nothing was created"))


def test_an_unschedulable_pod_says_why_at_once_and_runs_once_it_can(
    k8s: KubeHarness, tmp_path: pathlib.Path
) -> None:
    k8s.hold_scheduling("ss-*", "0/3 nodes are available: 3 Insufficient cpu.")
    eng = engine()
    future = start(eng, "add", a=1, b=2)
    execution_id = execution_of(k8s)
    began = time.monotonic()
    info = wait_until(
        lambda: "Insufficient cpu" in node_info(eng, execution_id).get("waiting", "") or None,
        10,
        "the attempt never said why it waits",
    )
    assert info and time.monotonic() - began < 10
    waiting = node_info(eng, execution_id)["waiting"]
    assert "cannot be scheduled (Unschedulable)" in waiting
    shown = CliRunner().invoke(cli, ["executions", "show", execution_id])
    assert f"waiting: {waiting}" in shown.output
    k8s.release_scheduling()
    outcome = future.result(60)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    assert node_info(eng, execution_id)["waiting"] == ""  # no longer waiting
    shown = CliRunner().invoke(cli, ["executions", "show", execution_id])
    assert shown.exit_code == 0 and "waiting:" not in shown.output


def test_a_wait_longer_than_pending_timeout_is_a_system_failure_naming_the_reason(
    k8s: KubeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_PENDING_TIMEOUT", "2")
    monkeypatch.setenv("SLIPSTREAM_SYSTEM_RETRIES", "0")
    k8s.hold_scheduling("ss-*", "0/3 nodes are available: 3 node(s) had untolerated taint.")
    outcome = run(engine(), "add", a=1, b=2)
    assert outcome.phase == ExecutionPhase.FAILED
    error = outcome.error
    assert error is not None and (error.kind, error.type) == (
        "system",
        "slipstream.errors.PendingTooLong",
    )
    assert error.message.startswith("Unschedulable: Pod ss-")
    assert "untolerated taint" in error.message and "pending_timeout" in error.message


def test_a_full_resource_quota_is_waited_out(k8s: KubeHarness) -> None:
    refused: list[str] = []

    def quota(kind: str, obj: dict[str, Any]) -> None:
        if kind == "Pod":
            refused.append(obj["metadata"]["annotations"]["slipstream.io/execution-id"])
            raise refusal(
                403,
                "Forbidden",
                f'pods "{obj["metadata"]["name"]}" is forbidden: exceeded quota: compute, '
                "requested: requests.cpu=100m, used: requests.cpu=2, limited: requests.cpu=2",
            )

    stop_refusing = k8s.admit(quota)
    eng = engine()
    future = start(eng, "add", a=4, b=5)
    wait_until(lambda: refused, 30, "no Pod was refused")
    execution_id = refused[0]
    wait_until(
        lambda: "exceeded quota" in node_info(eng, execution_id).get("waiting", ""),
        10,
        "the attempt never said it waits for the quota",
    )
    assert node_info(eng, execution_id)["waiting"].startswith("the API server refused")
    stop_refusing()
    outcome = future.result(60)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    assert outcome.outputs["o0"].value == 9


def test_an_image_pull_that_fails_for_a_while_is_waited_out(k8s: KubeHarness) -> None:
    k8s.fail_image_pulls("python:*", "429 Too Many Requests: toomanyrequests", seconds=2.0)
    eng = engine()
    outcome = run(eng, "add", a=2, b=2)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    events = [e for e in eng.store.get_events(outcome.execution_id) if e.phase == "INFO"]
    assert any("toomanyrequests" in e.message for e in events)  # it said why it waited


def test_admission_refusing_the_operators_pods_fails_at_once_naming_it(
    fake: KubeHarness,
) -> None:
    def pod_security(kind: str, obj: dict[str, Any]) -> None:
        labels = obj["metadata"].get("labels") or {}
        if kind == "Pod" and "dask.org/component" in labels:
            raise refusal(
                403,
                "Forbidden",
                f'pods "{obj["metadata"]["name"]}" is forbidden: violates PodSecurity '
                '"restricted:latest": seccompProfile (pod or container must set '
                "securityContext.seccompProfile.type)",
            )

    fake.admit(pod_security)
    began = time.monotonic()
    outcome = run(engine(), "dask_squares", n=3)
    assert outcome.phase == ExecutionPhase.FAILED
    error = outcome.error
    assert error is not None and error.type == "slipstream.errors.AdmissionRefused"
    assert "violates PodSecurity" in error.message and "DaskJob ss-" in error.message
    assert not error.recoverable and time.monotonic() - began < 60


def test_pods_opt_out_of_istio_and_logs_name_their_container(k8s: KubeHarness) -> None:
    def sidecars(kind: str, obj: dict[str, Any]) -> None:
        if kind != "Pod":
            return
        meta = obj["metadata"]
        containers = obj["spec"]["containers"]
        sidecar = {"name": "linkerd-proxy", "image": "proxy:1", "command": ["sleep", "1"]}
        containers.append(sidecar)  # an injector that ignores opt-outs
        if (meta.get("annotations") or {}).get("sidecar.istio.io/inject") != "false":
            containers.append({**sidecar, "name": "istio-proxy"})

    k8s.admit(sidecars)
    eng = engine()
    outcome = run(eng, "add", a=3, b=4)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    (pod,) = created(k8s, "pod")
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert names == ["attempt", "linkerd-proxy"]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    (attempt,) = eng.store.get_attempts(outcome.execution_id)
    kept = eng.blobs.read_bytes(f"{attempt.output_prefix}/attempt.log").decode()
    assert "adding 3 and 4" in kept


def test_a_watch_that_stalls_without_closing_is_started_again(
    k8s: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    # No resync would save the attempt: only a read timeout on the stalled watch does.
    monkeypatch.setattr(Watches, "timeout_seconds", 2.0)
    monkeypatch.setattr(Watches, "read_margin_seconds", 1.0)
    monkeypatch.setattr(Follower, "resync_seconds", 3600.0)
    eng = engine()
    flag = tmp_path / "go"
    future = start(eng, "wait_for", path=str(flag))
    wait_until(
        lambda: any("waiting for" in k8s.logs(p["metadata"]["name"]) for p in created(k8s, "pod")),
        60,
    )
    k8s.stall_open_watches("pods")
    flag.touch()
    outcome = future.result(30)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error


def test_deleting_a_daskjob_waits_for_its_pods_and_says_when_they_linger(
    fake: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("SLIPSTREAM_DELETE_TIMEOUT", "2")
    eng = engine()
    flag = tmp_path / "go"
    future = start(eng, "dask_wait", path=str(flag))

    def runner() -> dict | None:
        jobs = created(fake, "daskjob")
        name = jobs[0]["metadata"]["name"] if jobs else ""
        return jobs[0] if name and "waiting for" in fake.logs(f"{name}-runner") else None

    name = wait_until(runner, 90)["metadata"]["name"]
    # Something (a controller that is down) holds the runner Pod with its finalizer.
    fake.patch("pod", f"{name}-runner", {"metadata": {"finalizers": ["example.com/hold"]}})
    flag.touch()
    outcome = future.result(90)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    lingering = node_info(eng, outcome.execution_id).get("lingering", "")
    assert f"Pod {name}-runner (finalizers: example.com/hold)" in lingering
    assert fake.get("pod", f"{name}-runner") is not None
    fake.patch("pod", f"{name}-runner", {"metadata": {"finalizers": []}})
    fake.wait_gone("pod", f"{name}-runner")


def test_extra_worker_groups_are_created_once_the_dask_cluster_exists(
    fake: KubeHarness,
) -> None:
    outcome = run(engine(), "dask_two_groups", n=3)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    (job,) = created(fake, "daskjob")
    name = job["metadata"]["name"]
    ready = [
        c.rv
        for c in fake.changes("daskjob", name)
        if c.obj.get("status", {}).get("jobStatus") == "ClusterCreated"
    ]
    (group,) = [c for c in fake.changes("daskworkergroup") if c.type == "ADDED"]
    assert ready and group.rv > ready[0]
    assert group.obj["metadata"]["ownerReferences"][0]["name"] == name
    assert "blockOwnerDeletion" not in group.obj["metadata"]["ownerReferences"][0]


def test_a_resync_lists_each_kind_once_by_label(
    k8s: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setattr(Follower, "resync_seconds", 0.5)
    eng = engine()
    flag = tmp_path / "go"
    future = start(eng, "wait_three", path=str(flag))

    def waiting() -> bool:
        pods = created(k8s, "pod")
        return len(pods) == 3 and all(
            "waiting for" in k8s.logs(p["metadata"]["name"]) for p in pods
        )

    wait_until(waiting, 90, "the three attempts never all waited")
    first = len(k8s.api._requests)
    time.sleep(3.0)  # about six resyncs while three attempts wait
    window = list(k8s.api._requests)[first:]
    flag.touch()
    outcome = future.result(60)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    lists = [
        r
        for r in window
        if r.method == "GET" and r.url.path.endswith("/pods") and r.params.get("watch") != "true"
    ]
    by_label = [r for r in lists if "managed-by=slipstream" in r.params.get("labelSelector", "")]
    by_name = [r for r in lists if "metadata.name=" in r.params.get("fieldSelector", "")]
    assert len(by_label) >= 2  # resyncs ran, each one LIST of the namespace's Pods...
    assert by_name == []  # ...not one read per attempt


def test_a_crash_looping_scheduler_is_waited_on_then_named(
    fake: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("SLIPSTREAM_PENDING_TIMEOUT", "3")
    monkeypatch.setenv("SLIPSTREAM_SYSTEM_RETRIES", "0")
    eng = engine()
    future = start(eng, "dask_wait", path=str(tmp_path / "never"))

    def runner() -> dict | None:
        jobs = created(fake, "daskjob")
        name = jobs[0]["metadata"]["name"] if jobs else ""
        return jobs[0] if name and "waiting for" in fake.logs(f"{name}-runner") else None

    job = wait_until(runner, 90)
    name = job["metadata"]["name"]
    # The scheduler's Pod, as its Deployment makes it on another node, keeps crashing.
    scheduler = f"{name}-scheduler-7c9d-x2"
    fake.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": scheduler,
                "labels": {
                    **job["metadata"]["labels"],
                    "dask.org/cluster-name": name,
                    "dask.org/component": "scheduler",
                },
            },
            "spec": {
                "nodeName": "elsewhere",
                "containers": [{"name": "scheduler", "image": "python:3.11", "command": ["x"]}],
            },
        }
    )
    fake.patch(
        "pod",
        scheduler,
        {
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "scheduler",
                        "image": "python:3.11",
                        "ready": False,
                        "restartCount": 5,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
                    }
                ],
            }
        },
        subresource="status",
    )
    outcome = future.result(60)
    assert outcome.phase == ExecutionPhase.FAILED
    error = outcome.error
    assert error is not None and error.type == "slipstream.errors.PendingTooLong"
    assert error.message.startswith(f"CrashLoopBackOff: Pod {scheduler}: container 'scheduler'")
    assert "5 restarts, last exit code 1" in error.message
    fake.delete("pod", scheduler)

"""Plain tasks as Pods through the Kubernetes runner: engine + kr8s + test API server + kubelet."""

from __future__ import annotations

import pathlib
import sys
import threading
import time

import psutil
import pytest
from click.testing import CliRunner
from harness import KubeHarness
from runner_support import (
    FLOWS,
    IMAGE,
    created,
    engine,
    env_of,
    managed,
    point_at,
    run,
    start,
    validate_pod,
    wait_until,
)

from slipstream.cli.main import cli
from slipstream.runners.kubernetes.follower import Follower
from slipstream.runners.kubernetes.watches import Watches
from slipstream.runtime_image import default_image
from slipstream.types import ExecutionPhase


@pytest.fixture
def k8s(
    kube: KubeHarness, home: pathlib.Path, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> KubeHarness:
    point_at(kube, monkeypatch, tmp_path)
    return kube


def _pod_running(kube: KubeHarness, index: int = 0) -> dict:
    def ready() -> dict | None:
        pods = created(kube, "pod")
        if len(pods) <= index:
            return None
        name = pods[index]["metadata"]["name"]
        return pods[index] if "waiting for" in kube.logs(name) else None

    return wait_until(ready, 60, "the attempt's Pod never started waiting")


def test_a_plain_task_runs_as_a_pod_which_is_deleted_after(k8s: KubeHarness) -> None:
    eng = engine()
    outcome = run(eng, "add", a=2, b=3)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    assert outcome.outputs["o0"].value == 5
    (pod,) = created(k8s, "pod")
    validate_pod(pod)
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "slipstream",
        "slipstream.io/execution": outcome.execution_id,
        "slipstream.io/node": "add",
        "slipstream.io/attempt": "1",
        "sidecar.istio.io/inject": "false",
    }
    assert meta["name"].startswith(f"ss-{outcome.execution_id}-add-1-")
    assert spec["restartPolicy"] == "Never" and spec["serviceAccountName"] == "slipstream-task"
    assert spec["automountServiceAccountToken"] is False
    assert "nodeSelector" not in spec and "tolerations" not in spec
    (container,) = spec["containers"]
    assert container["image"] == IMAGE
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"memory": "256Mi"},
    }
    env = env_of(container)
    assert env["GREETING"] == "hello from the pod"
    assert env["SLIPSTREAM_EXECUTION_ID"] == outcome.execution_id
    assert (env["SLIPSTREAM_NODE_ID"], env["SLIPSTREAM_ATTEMPT"]) == ("add", "1")
    assert env["SLIPSTREAM_BLOB_URL"] == eng.blobs.root
    assert env["SLIPSTREAM_OFFLOAD_THRESHOLD"] == str(eng.settings.offload_threshold)
    # The code travelled as a content-addressed bundle, uploaded once for the execution.
    record = eng.store.get_execution(outcome.execution_id)
    assert record is not None
    bundle = record.options["bundle_uri"]
    assert bundle.startswith(f"{eng.blobs.root}/bundles/") and eng.blobs.exists(bundle)
    command = container["command"]
    assert command[:3] == ["python", "-m", "slipstream.execute"]
    assert command[command.index("--bundle") + 1] == bundle
    assert command[command.index("--task") + 1] == "k8s_tasks:add"
    # Finished, the Pod is deleted; its log was kept in the blob store first.
    k8s.wait_gone("pod", meta["name"])
    (attempt,) = eng.store.get_attempts(outcome.execution_id)
    assert attempt.runner == "kubernetes"
    assert eng.blobs.exists(f"{attempt.output_prefix}/attempt.log")
    assert "hello from the pod: adding 2 and 3" in (eng.attempt_logs(attempt) or "")


def test_a_user_exception_comes_back_with_type_message_and_traceback(k8s: KubeHarness) -> None:
    eng = engine()
    outcome = run(eng, "explode", message="boom at the pod")
    assert outcome.phase == ExecutionPhase.FAILED
    error = outcome.error
    assert error is not None and error.kind == "user"
    assert error.type.endswith("ValueError") and error.message == "boom at the pod"
    assert "raise ValueError(message)" in error.traceback
    (node,) = eng.store.get_nodes(outcome.execution_id)
    assert (node.user_attempts, node.system_attempts, node.attempts) == (3, 0, 3)  # retries=2
    pods = created(k8s, "pod")
    assert len({p["metadata"]["name"] for p in pods}) == 3
    assert [p["metadata"]["labels"]["slipstream.io/attempt"] for p in pods] == ["1", "2", "3"]
    wait_until(lambda: managed(k8s, "pod") == [], 30, "attempt Pods were left behind")


def test_a_preempted_spot_pod_is_retried_from_the_system_budget_on_demand(
    k8s: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("SLIPSTREAM_SYSTEM_RETRIES", "1")
    eng = engine()
    flag = tmp_path / "go"
    future = start(eng, "spot_wait", path=str(flag))
    first = _pod_running(k8s, 0)
    spot_terms = first["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert {"key": "eks.amazonaws.com/capacityType", "operator": "In", "values": ["SPOT"]} in [
        e for t in spot_terms for e in t["matchExpressions"]
    ]
    assert {t["value"] for t in first["spec"]["tolerations"]} == {"true", "spot"}
    k8s.inject(first["metadata"]["name"], "preempted")
    second = _pod_running(k8s, 1)
    # The last system retry stays off spot nodes, of every provider.
    assert "nodeSelector" not in second["spec"] and "tolerations" not in second["spec"]
    (term,) = second["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert {"key": "node.kubernetes.io/lifecycle", "operator": "NotIn", "values": ["spot"]} in term[
        "matchExpressions"
    ]
    assert all(e["operator"] == "NotIn" for e in term["matchExpressions"])
    validate_pod(second)
    flag.touch()
    outcome = future.result(60)
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    assert outcome.outputs["o0"].value == "survived"
    (node,) = eng.store.get_nodes(outcome.execution_id)
    assert (node.system_attempts, node.user_attempts, node.attempts) == (1, 0, 2)
    first_attempt = eng.store.get_attempts(outcome.execution_id)[0]
    assert first_attempt.phase == "FAILED" and first_attempt.error is not None
    assert "Preempted" in first_attempt.error
    wait_until(lambda: managed(k8s, "pod") == [], 30)


def test_an_oomkilled_pod_is_a_system_failure_naming_the_reason(
    k8s: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("SLIPSTREAM_SYSTEM_RETRIES", "0")
    eng = engine()
    future = start(eng, "wait_for", path=str(tmp_path / "never"))
    pod = _pod_running(k8s)
    k8s.inject(pod["metadata"]["name"], "oomkilled")
    outcome = future.result(60)
    assert outcome.phase == ExecutionPhase.FAILED
    error = outcome.error
    assert error is not None and (error.kind, error.type) == (
        "system",
        "slipstream.errors.OOMKilled",
    )
    assert "OOMKilled" in error.message and pod["metadata"]["name"] in error.message
    (node,) = eng.store.get_nodes(outcome.execution_id)
    assert (node.system_attempts, node.user_attempts) == (1, 0)
    k8s.wait_gone("pod", pod["metadata"]["name"])


def test_an_image_that_cannot_be_pulled_fails_fast_naming_it(k8s: KubeHarness) -> None:
    k8s.fail_image_pulls("*:missing")
    eng = engine()
    began = time.monotonic()
    outcome = run(eng, "unpullable")
    assert time.monotonic() - began < 30
    assert outcome.phase == ExecutionPhase.FAILED
    error = outcome.error
    assert error is not None and error.kind == "system" and not error.recoverable
    assert error.type == "slipstream.errors.ImagePullError"
    assert "registry.example.com/slipstream/missing:missing" in error.message
    (pod,) = created(k8s, "pod")  # not retried: another try would not find it either
    k8s.wait_gone("pod", pod["metadata"]["name"])


def test_a_timeout_stops_and_deletes_the_pod(k8s: KubeHarness, tmp_path: pathlib.Path) -> None:
    eng = engine()
    outcome = run(eng, "overstays", path=str(tmp_path / "never"))
    assert outcome.phase == ExecutionPhase.FAILED
    assert outcome.error is not None and "timed out" in outcome.error.message
    (pod,) = created(k8s, "pod")
    k8s.wait_gone("pod", pod["metadata"]["name"])
    wait_until(
        lambda: (
            not any(
                psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                for p in k8s.started_pids
            )
        ),
        15,
    )


def test_logs_come_from_the_pod_while_it_runs_then_from_the_blob_store(
    k8s: KubeHarness, tmp_path: pathlib.Path
) -> None:
    eng = engine()
    flag = tmp_path / "go"
    future = start(eng, "wait_for", path=str(flag))
    pod = _pod_running(k8s)
    execution_id = pod["metadata"]["labels"]["slipstream.io/execution"]
    node = "wait-for"
    wait_until(lambda: eng.store.get_attempts(execution_id, node)[-1].handle, 30)
    cli_runner = CliRunner()
    live = cli_runner.invoke(cli, ["executions", "logs", execution_id, node])
    assert live.exit_code == 0, live.output
    assert f"waiting for {flag}" in live.output
    (attempt,) = eng.store.get_attempts(execution_id, node)
    assert not eng.blobs.exists(f"{attempt.output_prefix}/attempt.log")  # read from the Pod
    flag.touch()
    assert future.result(60).phase == ExecutionPhase.SUCCEEDED
    k8s.wait_gone("pod", pod["metadata"]["name"])
    kept = cli_runner.invoke(cli, ["executions", "logs", execution_id, node])
    assert kept.exit_code == 0, kept.output
    assert f"waiting for {flag}" in kept.output


def test_a_watch_the_server_ends_is_resumed(
    k8s: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    # Watches end every second and no resync happens: only resumed watches see the end.
    monkeypatch.setattr(Watches, "timeout_seconds", 1.0)
    monkeypatch.setattr(Follower, "resync_seconds", 3600.0)
    eng = engine()
    flag = tmp_path / "go"
    timer = threading.Timer(3.5, flag.touch)
    timer.start()
    try:
        outcome = run(eng, "wait_for", path=str(flag))
    finally:
        timer.cancel()
    assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
    watches = [
        r
        for r in list(k8s.api._requests)
        if r.params.get("watch") == "true" and r.url.path.endswith("/pods")
    ]
    assert len(watches) >= 3
    resumed = [r for r in watches if r.params.get("resourceVersion")]
    assert resumed, "no watch resumed from a resourceVersion"


def test_a_code_change_ships_without_a_new_image(k8s: KubeHarness, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "project" / "greetings_k8s.py"
    source.parent.mkdir()
    template = (
        "from slipstream import task\n\n\n@task\ndef greet(name: str) -> str:\n    return {expr}\n"
    )
    source.write_text(template.format(expr='"hello " + name'))
    eng = engine()
    first = run(eng, "greet", source, name="pod")
    assert first.outputs["o0"].value == "hello pod", first.error
    source.write_text(template.format(expr='"goodbye " + name'))
    sys.modules.pop("greetings_k8s", None)
    second = run(eng, "greet", source, name="pod")
    assert second.outputs["o0"].value == "goodbye pod", second.error
    bundles = [
        eng.store.get_execution(o.execution_id).options["bundle_uri"]  # type: ignore[union-attr]
        for o in (first, second)
    ]
    assert bundles[0] != bundles[1]
    images = {p["spec"]["containers"][0]["image"] for p in created(k8s, "pod")}
    assert images == {IMAGE}


def test_run_backend_kubernetes_without_an_image_setting_uses_the_runtime_image(
    k8s: KubeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLIPSTREAM_IMAGE")
    monkeypatch.delenv("SLIPSTREAM_RUNNER")
    result = CliRunner().invoke(
        cli, ["run", str(FLOWS), "add", "--a", "2", "--b", "5", "--backend", "kubernetes", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"phase": "SUCCEEDED"' in result.stdout.splitlines()[-1]
    (pod,) = created(k8s, "pod")
    assert pod["spec"]["containers"][0]["image"] == default_image()

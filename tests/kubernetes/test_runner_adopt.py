"""KubernetesRunner on its own: re-adoption, cancelling, a silent operator, a missing image."""

from __future__ import annotations

import logging
import pathlib
import queue
from typing import Any

import pytest
from harness import KubeHarness
from runner_support import created, entity, point_at, wait_until

from slipstream.compiler.registry import TransformContext
from slipstream.config import load_settings
from slipstream.engine.local import encode_inputs
from slipstream.ir import Literal, LiteralMapDocument
from slipstream.runners.base import AttemptHandle, AttemptResult, AttemptSpec
from slipstream.runners.kubernetes import KubernetesRunner
from slipstream.runners.kubernetes import runner as runner_module
from slipstream.runners.kubernetes.follower import Follower
from slipstream.sdk.plugins import default_plugins
from slipstream.storage.blobs import BlobStore
from slipstream.types import AttemptPhase


class Recorder:
    """RunnerEvents that keep what the runner reported."""

    def __init__(self) -> None:
        self.info: list[dict[str, Any]] = []
        self.done: queue.Queue[AttemptResult] = queue.Queue()

    def attempt_info(self, spec: AttemptSpec, info: dict[str, Any]) -> None:
        self.info.append(info)

    def attempt_done(self, spec: AttemptSpec, result: AttemptResult) -> None:
        self.done.put(result)


@pytest.fixture
def runners(
    kube: KubeHarness, home: pathlib.Path, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> Any:
    point_at(kube, monkeypatch, tmp_path)
    settings = load_settings()
    blobs = BlobStore(settings.resolved_blob_url)
    made: list[KubernetesRunner] = []

    def make() -> KubernetesRunner:
        runner = KubernetesRunner(settings, blobs, plugins=default_plugins)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


def attempt(blobs: BlobStore, name: str, execution: str, **inputs: Any) -> AttemptSpec:
    loaded = entity(name)
    ctx = TransformContext(blobs=blobs, offload_threshold=1 << 20)
    node = name.replace("_", "-")
    return AttemptSpec(
        execution_id=execution,
        node_id=node,
        attempt=1,
        task=loaded.template,
        inputs=encode_inputs(loaded, inputs, ctx),
        output_prefix=blobs.attempt_prefix(execution, node, 1),
        source_root=loaded.source_root,
    )


def test_an_attempt_that_ended_while_nobody_watched_is_found_by_labels_and_reported(
    runners: Any, kube: KubeHarness, tmp_path: pathlib.Path
) -> None:
    first = runners()
    flag = tmp_path / "go"
    spec = attempt(first.blobs, "wait_for", "eadopt1", path=str(flag))
    handle = first.launch(spec, Recorder())
    assert handle.ref["kind"] == "Pod"
    wait_until(lambda: "waiting for" in kube.logs(handle.ref["name"]), 60)
    first.close()  # its engine died: nobody follows the Pod any more
    flag.touch()
    kube.wait_for_object(
        "pod", handle.ref["name"], lambda p: p["status"].get("phase") == "Succeeded"
    )
    second, events = runners(), Recorder()
    # No handle was saved: the runner finds the Pod by its labels and annotations.
    assert second.adopt(AttemptHandle(runner="kubernetes"), spec, events)
    result = events.done.get(timeout=30)
    assert result.phase == AttemptPhase.SUCCEEDED and result.outputs is not None
    assert result.outputs["o0"].value == "done"
    kube.wait_gone("pod", handle.ref["name"])
    assert "waiting for" in second.logs(handle, spec.output_prefix)  # kept in the blob store


def test_adopting_an_attempt_without_a_trace_says_so(runners: Any) -> None:
    runner = runners()
    spec = attempt(runner.blobs, "add", "eadopt2", a=1, b=2)
    assert not runner.adopt(
        AttemptHandle(runner="kubernetes", ref={"kind": "Pod", "name": "ss-gone"}), spec, Recorder()
    )


def test_cancel_keeps_the_log_deletes_the_pod_and_is_safe_twice(
    runners: Any, kube: KubeHarness, tmp_path: pathlib.Path
) -> None:
    runner, events = runners(), Recorder()
    spec = attempt(runner.blobs, "wait_for", "ecancel1", path=str(tmp_path / "never"))
    handle = runner.launch(spec, events)
    wait_until(lambda: "waiting for" in kube.logs(handle.ref["name"]), 60)
    runner.cancel(handle)
    runner.cancel(handle)
    kube.wait_gone("pod", handle.ref["name"])
    assert events.done.empty()  # a cancelled attempt is not reported
    assert "waiting for" in runner.blobs.read_bytes(f"{spec.output_prefix}/attempt.log").decode()
    assert len(created(kube, "pod")) == 1


def test_a_task_without_an_image_fails_at_once_without_retrying(
    runners: Any, kube: KubeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLIPSTREAM_IMAGE")
    settings = load_settings().with_values(image="")  # set empty on purpose (default: runtime)
    runner = KubernetesRunner(settings, BlobStore(settings.resolved_blob_url))
    try:
        events = Recorder()
        runner.launch(attempt(runner.blobs, "add", "enoimage", a=1, b=2), events)
        result = events.done.get(timeout=5)
    finally:
        runner.close()
    assert result.error is not None and not result.error.recoverable
    assert "has no container image" in result.error.message
    assert "SLIPSTREAM_IMAGE" in result.error.message
    assert created(kube, "pod") == []


def test_a_daskjob_whose_runner_ended_finishes_even_if_the_operator_stays_silent(
    runners: Any, kube: KubeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Follower, "runner_grace_seconds", 0.3)
    runner, events = runners(), Recorder()
    spec = attempt(runner.blobs, "dask_squares", "esilent1", n=2)
    handle = runner.launch(spec, events)
    name = handle.ref["name"]
    assert handle.ref["kind"] == "DaskJob"
    job = kube.get("daskjob", name)
    assert job is not None and "status" not in job  # no operator here: we play its part
    kube.patch("daskjob", name, {"status": {"jobStatus": "ClusterCreated"}}, subresource="status")
    owner = {
        "apiVersion": job["apiVersion"],
        "kind": "DaskJob",
        "name": name,
        "uid": job["metadata"]["uid"],
        "controller": True,
    }
    labels = {
        **job["metadata"]["labels"],
        "dask.org/cluster-name": name,
        "dask.org/component": "job-runner",
    }
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{name}-runner", "labels": labels, "ownerReferences": [owner]},
            "spec": {
                "nodeName": "elsewhere",
                "restartPolicy": "Never",
                "containers": job["spec"]["job"]["spec"]["containers"],
            },
        }
    )
    # The runner wrote its outputs and ended; the operator never says Running or Successful.
    runner.blobs.write_document(
        f"{spec.output_prefix}/outputs.json", LiteralMapDocument(literals={"o0": Literal(value=5)})
    )
    kube.patch("pod", f"{name}-runner", {"status": {"phase": "Succeeded"}}, subresource="status")
    result = events.done.get(timeout=30)
    assert result.phase == AttemptPhase.SUCCEEDED and result.outputs is not None
    assert result.outputs["o0"].value == 5
    kube.wait_gone("daskjob", name)
    kube.wait_gone("pod", f"{name}-runner")  # owned by the DaskJob


def test_a_local_blob_store_is_warned_about_once(
    runners: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runner_module, "_file_store_warned", False)
    with caplog.at_level(logging.WARNING, logger="slipstream.runners.kubernetes"):
        runners()
        runners()
    warnings = [r.getMessage() for r in caplog.records if "is a local folder" in r.getMessage()]
    assert len(warnings) == 1
    assert "only works with it when the Pods share this machine's filesystem" in warnings[0]

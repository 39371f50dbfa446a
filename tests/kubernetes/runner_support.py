"""Helpers for the Kubernetes runner tests: settings pointing at a KubeHarness, runs, waits."""

from __future__ import annotations

import concurrent.futures
import pathlib
import time
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
from harness import KubeHarness

from slipstream.cli.loading import load_entity
from slipstream.compiler.registry import TransformContext
from slipstream.config import load_settings
from slipstream.engine.engine import Engine, ExecutionOutcome
from slipstream.engine.local import encode_inputs, engine_for

FLOWS = pathlib.Path(__file__).parent / "flows" / "k8s_tasks.py"
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
IMAGE = "python:3.11"
KUBERNETES_VERSIONS = ("1.25", "1.37")


def point_at(
    kube: KubeHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path, **settings: str
) -> None:
    """SLIPSTREAM_* settings for the kubernetes runner against this harness (after `home`)."""
    values = {
        "RUNNER": "kubernetes",
        "KUBECONFIG": str(kube.kubeconfig),
        "NAMESPACE": kube.namespace,
        "IMAGE": IMAGE,
        "SERVICE_ACCOUNT": "default",
        **{key.upper(): value for key, value in settings.items()},
    }
    for key, value in values.items():
        monkeypatch.setenv(f"SLIPSTREAM_{key}", value)
    # Pods run on this machine: unpack code bundles under the test's folder.
    monkeypatch.setenv("SLIPSTREAM_BUNDLE_CACHE", str(tmp_path / "bundle-cache"))


def engine() -> Engine:
    return engine_for(load_settings())


def entity(name: str, source: pathlib.Path = FLOWS) -> Any:
    return load_entity(str(source), name)


def start(
    eng: Engine, name: str, source: pathlib.Path = FLOWS, /, **inputs: Any
) -> concurrent.futures.Future[ExecutionOutcome]:
    """Run an entity in a background thread; the future gives its outcome."""
    loaded = entity(name, source)
    ctx = TransformContext(blobs=eng.blobs, offload_threshold=eng.settings.offload_threshold)
    literals = encode_inputs(loaded, inputs, ctx)
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="test-engine")
    future = pool.submit(
        eng.execute,
        loaded.template,
        literals,
        input_values=inputs,
        source_root=loaded.source_root,
        entities={loaded.name: loaded},
    )
    pool.shutdown(wait=False)
    return future


def run(
    eng: Engine, name: str, source: pathlib.Path = FLOWS, timeout: float = 120, /, **inputs: Any
) -> ExecutionOutcome:
    return start(eng, name, source, **inputs).result(timeout)


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(message or f"condition not met within {timeout}s")
        time.sleep(0.05)


def managed(kube: KubeHarness, kind: str) -> list[dict[str, Any]]:
    return kube.list_objects(kind, labels={"app.kubernetes.io/managed-by": "slipstream"})


def created(kube: KubeHarness, kind: str) -> list[dict[str, Any]]:
    """Every object of `kind` created so far (also deleted ones), oldest first."""
    return [c.obj for c in kube.changes(kind) if c.type == "ADDED"]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env") or []}


def validate_pod(pod: dict[str, Any]) -> None:
    """A Pod as built (not as stored, which has status): valid for old and new Kubernetes."""
    body = {key: pod[key] for key in ("apiVersion", "kind", "metadata", "spec")}
    body["metadata"] = {
        k: v
        for k, v in pod["metadata"].items()
        if k in ("name", "namespace", "labels", "annotations")
    }
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(body, desired_version=version, strict=True)

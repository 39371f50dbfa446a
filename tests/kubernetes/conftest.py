"""Fixtures for Kubernetes tests: a test API server + kubelet, with a fake or the real operator.

Each fixture yields a started `harness.KubeHarness` (see harness/cluster.py) and closes it
after the test, failing the test if a process it started is still alive. Options go through
the `kube` marker, e.g. `@pytest.mark.kube(local_dask=True, namespace="team-a")`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from harness import KubeHarness


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kube(**options): KubeHarness keyword arguments for the kube/fake_dask_operator/"
        "real_dask_operator fixtures (namespace=, local_dask=, pod_cwd=, extra_env=, tls=)",
    )


def _dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _harness(
    request: pytest.FixtureRequest, workdir: pathlib.Path, operator: str | None
) -> Iterator[KubeHarness]:
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("kube"))):
        options.update(marker.kwargs)
    harness = KubeHarness(workdir, operator=operator, **options)
    harness.start()
    try:
        yield harness
    finally:
        harness.close()
    _, alive = psutil.wait_procs(
        [
            psutil.Process(pid)
            for pid in [*harness.started_pids, *harness.dask_clusters.pids]
            if not _dead(pid)
        ],
        timeout=5,
    )
    assert not alive, f"processes started by the test kubelet are still running: {alive}"


@pytest.fixture
def kube(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[KubeHarness]:
    """The test API server and kubelet, no Dask operator."""
    yield from _harness(request, tmp_path / "kube", None)


@pytest.fixture
def fake_dask_operator(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[KubeHarness]:
    """Server + kubelet + a stand-in operator giving each DaskJob a real LocalCluster."""
    yield from _harness(request, tmp_path / "kube", "fake")


@pytest.fixture
def real_dask_operator(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[KubeHarness]:
    """Server + kubelet + the real dask-kubernetes operator (kopf), in its own thread.

    With `@pytest.mark.kube(local_dask=True)` each DaskCluster it creates also gets a local
    scheduler and workers, and runner Pods reach them through the cluster-DNS address."""
    yield from _harness(request, tmp_path / "kube", "real")

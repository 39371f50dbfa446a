"""Fixtures for Kubernetes tests: a test API server + kubelet, with a fake or the real operator.

Each fixture yields a started `harness.KubeHarness` (see harness/cluster.py) and closes it
after the test, failing the test if a process it started is still alive.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import psutil
import pytest
from harness import KubeHarness


def _harness(workdir: pathlib.Path, operator: str | None) -> Iterator[KubeHarness]:
    harness = KubeHarness(workdir, operator=operator)
    harness.start()
    try:
        yield harness
    finally:
        harness.close()
    alive = [
        pid
        for pid in harness.started_pids
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert not alive, f"processes started by the test kubelet are still running: {alive}"


@pytest.fixture
def kube(tmp_path: pathlib.Path) -> Iterator[KubeHarness]:
    """The test API server and kubelet, no Dask operator."""
    yield from _harness(tmp_path / "kube", None)


@pytest.fixture
def fake_dask_operator(tmp_path: pathlib.Path) -> Iterator[KubeHarness]:
    """Server + kubelet + a stand-in operator giving each DaskJob a real LocalCluster."""
    yield from _harness(tmp_path / "kube", "fake")


@pytest.fixture
def real_dask_operator(tmp_path: pathlib.Path) -> Iterator[KubeHarness]:
    """Server + kubelet + the real dask-kubernetes operator (kopf) in the harness loop."""
    yield from _harness(tmp_path / "kube", "real")

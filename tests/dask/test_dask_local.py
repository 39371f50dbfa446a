"""local_context with real process-based clusters: shape, Client(), groups, adaptivity, teardown."""

from __future__ import annotations

import json
import logging
import multiprocessing.resource_tracker
import os
import re
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask
import psutil
import pytest
from distributed import Client, LocalCluster, get_worker

from slipstream.dask import Dask, Scheduler, WorkerGroup, keep, local
from slipstream.dask.config import config_to_json
from slipstream.dask.keep import REPORT, SCHEDULER_LOG, SUMMARY, WORKERS_LOG
from slipstream.dask.local import (
    ADDRESS_ENV,
    EXTERNAL_ENV,
    DaskClusterError,
    _claim_process,
    local_context,
)
from slipstream.dask.plan import Machine, plan_cluster
from slipstream.ir import TaskTemplate, TypedInterface
from slipstream.sdk.plugins import AttemptContext, default_plugins
from slipstream.sdk.resources import Resources

pytestmark = pytest.mark.timeout(120)


def template_for(config: Dask) -> TaskTemplate:
    return TaskTemplate(
        name="tests.dask_task",
        function="tests:dask_task",
        interface=TypedInterface(),
        task_type="dask",
        config=config_to_json(config),
    )


def attempt_in(folder: Path, reports: list[dict[str, Any]] | None = None) -> AttemptContext:
    return AttemptContext(
        execution_id="exec1",
        node_id="n0",
        attempt=1,
        output_prefix=f"file://{folder}/out",
        log_dir=str(folder / "logs"),
        report=None if reports is None else reports.append,
    )


def live_children() -> set[int]:
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                pids.add(child.pid)
        except psutil.Error:
            pass
    return pids


@pytest.fixture
def baseline() -> set[int]:
    # multiprocessing's resource tracker is a per-process singleton started on first use and
    # kept for the life of the process: start it first so it is not counted as a leftover.
    multiprocessing.resource_tracker.ensure_running()
    return live_children()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def inc(x: int) -> int:
    return x + 1


def explode(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad value {x}")
    return x


def worker_name(_: Any = None) -> str:
    return str(get_worker().name)


def slow_worker_name(_: Any = None) -> str:
    time.sleep(0.5)
    return str(get_worker().name)


def seed_config() -> Dask:
    return Dask(
        scheduler=Scheduler(requests=Resources(cpu="2")),
        workers=WorkerGroup(number_of_workers=4, limits=Resources(cpu="8", mem="32Gi")),
    )


def test_seed_task_gets_its_own_clamped_cluster_and_plain_client_finds_it(
    tmp_path: Path, baseline: set[int], caplog: pytest.LogCaptureFixture
) -> None:
    config = seed_config()
    expected = plan_cluster(config, Machine.detect())
    reports: list[dict[str, Any]] = []
    attempt = attempt_in(tmp_path, reports)
    caplog.set_level(logging.INFO, logger="slipstream.dask")
    assert dask.config.get("scheduler-address", None) is None

    with default_plugins.local_context(template_for(config), attempt):
        (report,) = reports
        client = Client()  # no address: what the seed's task does
        assert client.scheduler.address == report["scheduler"]
        info = client.scheduler_info()
        workers = info["workers"].values()
        assert sorted(w["name"] for w in workers) == [f"default-{i}" for i in range(4)]
        assert report["workers"] == 4
        # Threads and memory as planned: 8 cpu / 32Gi asked, clamped to this machine.
        assert {w["nthreads"] for w in workers} == {expected.default.nthreads}
        assert {w["memory_limit"] for w in workers} == {expected.default.memory_limit}
        assert len(live_children() - baseline) >= 4  # real worker processes

        assert client.gather(client.map(inc, range(100))) == list(range(1, 101))

        # dask.compute after Client() runs on the task's cluster.
        (name,) = dask.compute(dask.delayed(worker_name)(0))
        assert name.startswith("default-")

        # An exception in a mapped function keeps its type, message and remote traceback.
        with pytest.raises(ValueError, match=r"^bad value 3$") as caught:
            client.gather(client.map(explode, range(5)))
        remote = "".join(traceback.format_exception(caught.value))
        assert "in explode" in remote
        assert 'raise ValueError(f"bad value {x}")' in remote

        # The dashboard link is served.
        assert report["dashboard"].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(report["dashboard"], timeout=10) as response:
            assert response.status == 200

    # One line says what was asked and what was given (and the engine hears it).
    assert report["notice"] == expected.summary
    lines = [r.getMessage() for r in caplog.records if r.name == "slipstream.dask"]
    assert lines == [expected.summary]
    assert lines[0].startswith("dask: asked for 4 workers x 8 threads, 32Gi each;")
    assert attempt.notices == [expected.summary]

    # Torn down: the user's client closed, the environment and config restored.
    assert client.status == "closed"
    assert ADDRESS_ENV not in os.environ
    assert dask.config.get("scheduler-address", None) is None
    assert live_children() == baseline

    scheduler_log = (tmp_path / "logs" / SCHEDULER_LOG).read_text()
    workers_log = (tmp_path / "logs" / WORKERS_LOG).read_text()
    assert "Register worker" in scheduler_log
    assert scheduler_log.index("Scheduler at") < scheduler_log.index("Register worker")
    for i in range(4):
        assert f"==> worker default-{i} (tcp://" in workers_log
    assert "Start worker at" in workers_log


@pytest.mark.parametrize("outcome", ["success", "user exception", "KeyboardInterrupt"])
def test_the_cluster_is_always_torn_down(outcome: str, tmp_path: Path, baseline: set[int]) -> None:
    raised: BaseException | None = {
        "success": None,
        "user exception": ValueError("user code failed"),
        "KeyboardInterrupt": KeyboardInterrupt(),
    }[outcome]
    attempt = attempt_in(tmp_path)
    inside: set[int] = set()
    try:
        with local_context(template_for(Dask()), attempt):
            inside = live_children()
            client = Client()
            assert client.submit(inc, 1).result() == 2
            if raised is not None:
                raise raised
    except BaseException as exc:
        assert exc is raised  # the same exception reaches the caller, untouched
    else:
        assert raised is None
    assert inside - baseline, "the cluster had no worker process"
    assert live_children() == baseline
    assert client.status == "closed"
    assert ADDRESS_ENV not in os.environ
    assert (tmp_path / "logs" / WORKERS_LOG).read_text().count("==> worker default-0") == 1


def test_extra_worker_groups_are_targeted_with_resources(tmp_path: Path) -> None:
    config = Dask(
        workers=[
            WorkerGroup(name="cpu", number_of_workers=1),
            WorkerGroup(name="gpu", number_of_workers=1, limits=Resources(cpu="1", mem="1Gi")),
        ]
    )
    with local_context(template_for(config), attempt_in(tmp_path)):
        client = Client()
        workers = client.scheduler_info()["workers"].values()
        by_name = {w["name"]: w for w in workers}
        assert sorted(by_name) == ["cpu-0", "gpu-0"]
        assert by_name["gpu-0"]["resources"] == {"gpu": 1}
        assert by_name["gpu-0"]["memory_limit"] == 2**30
        assert by_name["cpu-0"]["resources"] == {"cpu": 1}

        for group in ("gpu", "cpu"):
            futures = [
                client.submit(worker_name, i, resources={group: 1}, pure=False) for i in range(6)
            ]
            assert set(client.gather(futures)) == {f"{group}-0"}

        with dask.annotate(resources={"gpu": 1}):
            tasks = [dask.delayed(worker_name)(i) for i in range(6)]
        assert set(dask.compute(*tasks, optimize_graph=False)) == {"gpu-0"}


def test_adaptive_group_scales_between_its_bounds_and_keeps_other_groups(
    tmp_path: Path,
) -> None:
    config = Dask(
        workers=[
            WorkerGroup(number_of_workers=1, min_workers=1, max_workers=2),
            WorkerGroup(name="gpu", number_of_workers=1),
        ]
    )
    fast = {
        "distributed.adaptive.interval": "100ms",
        "distributed.adaptive.wait-count": 2,
        "distributed.adaptive.target-duration": "1s",
    }
    seen: list[list[str]] = []
    with dask.config.set(fast), local_context(template_for(config), attempt_in(tmp_path)):
        client = Client()

        def names() -> list[str]:
            current = sorted(w["name"] for w in client.scheduler_info()["workers"].values())
            seen.append(current)
            return current

        assert names() == ["default-0", "gpu-0"]
        futures = client.map(slow_worker_name, range(24), pure=False)
        wait_until(lambda: len(names()) == 3, 60, "the default group to grow to max_workers=2")
        done = client.gather(futures)
        assert {"default-0", "default-1"} <= set(done)
        wait_until(lambda: len(names()) == 2, 60, "the default group to shrink to min_workers=1")
        assert "gpu-0" in names()

    default_counts = [sum(1 for n in current if n.startswith("default-")) for current in seen]
    assert max(default_counts) == 2  # never beyond max_workers
    assert min(default_counts) == 1  # never below min_workers
    assert all("gpu-0" in current for current in seen)  # the other group is never retired


def test_kubernetes_runner_connects_to_the_daskjob_cluster_instead(
    tmp_path: Path, baseline: set[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    reports: list[dict[str, Any]] = []
    with LocalCluster(
        n_workers=1, processes=False, protocol="tcp://", dashboard_address=":0"
    ) as operator_cluster:
        address = operator_cluster.scheduler_address
        monkeypatch.setenv(EXTERNAL_ENV, "1")
        monkeypatch.setenv(ADDRESS_ENV, address)
        with local_context(template_for(seed_config()), attempt_in(tmp_path, reports)):
            client = Client()
            assert client.scheduler.address == address
            assert len(client.scheduler_info()["workers"]) == 1
            assert live_children() == baseline  # no cluster of our own
            assert client.submit(inc, 41).result() == 42
        assert reports[0]["scheduler"] == address
        assert client.status == "closed"
        # The operator owns the cluster: it is still there.
        assert len(operator_cluster.scheduler_info["workers"]) == 1
        assert os.environ[ADDRESS_ENV] == address
        assert "Receive client connection" in (tmp_path / "logs" / SCHEDULER_LOG).read_text()
    # Its report's page was built where the scheduler runs (a DaskJob's pod, here this process).
    page = (tmp_path / "logs" / REPORT).read_text()
    assert "number of tasks: 1" in page and "inc" in page
    assert '"title":"Task Stream"' in page and '"title":"System"' not in page  # page.py's
    summary = json.loads((tmp_path / "logs" / SUMMARY).read_text())
    assert summary["report"] == REPORT and summary["tasks"] == 1


def test_kubernetes_runner_without_a_scheduler_address_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EXTERNAL_ENV, "1")
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    with (
        pytest.raises(DaskClusterError, match=r"DASK_SCHEDULER_ADDRESS is empty"),
        local_context(template_for(Dask()), attempt_in(tmp_path)),
    ):
        pass


def test_two_dask_attempts_in_one_process_are_refused(tmp_path: Path) -> None:
    holding = threading.Event()
    release = threading.Event()

    def other_attempt() -> None:
        with _claim_process():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=other_attempt)
    thread.start()
    try:
        assert holding.wait(10)
        with (
            pytest.raises(DaskClusterError, match=r"each Dask attempt needs its own process"),
            local_context(template_for(Dask()), attempt_in(tmp_path)),
        ):
            pass
    finally:
        release.set()
        thread.join()


def test_a_worker_busy_in_user_code_does_not_keep_the_attempt_alive(
    tmp_path: Path, baseline: set[int]
) -> None:
    started = time.monotonic()
    with local_context(template_for(Dask()), attempt_in(tmp_path)):
        client = Client()
        future = client.submit(time.sleep, 600)
        wait_until(
            lambda: bool(client.processing().get(next(iter(client.scheduler_info()["workers"])))),
            30,
            "the long task to start",
        )
        del future
    assert time.monotonic() - started < 60
    assert live_children() == baseline


def hold_the_gil(_: Any = None) -> None:
    # Catastrophic backtracking in C with the GIL held: the worker's event loop stops.
    re.fullmatch(r"(a+)+$", "a" * 64 + "b")


def test_a_worker_that_stops_answering_cannot_hang_the_teardown(
    tmp_path: Path, baseline: set[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keep, "LOGS_TIMEOUT", 2.0)
    monkeypatch.setattr(local, "CLOSE_TIMEOUT", 3.0)
    attempt = attempt_in(tmp_path)
    with local_context(template_for(Dask(workers=WorkerGroup(number_of_workers=2))), attempt):
        client = Client()
        workers = client.scheduler_info()["workers"]
        stuck = next(a for a, w in workers.items() if w["name"] == "default-0")
        future = client.submit(hold_the_gil, workers=[stuck], pure=False)
        wait_until(lambda: bool(client.processing().get(stuck)), 30, "the stuck task to start")
        time.sleep(0.5)
        started = time.monotonic()
    assert time.monotonic() - started < 30
    assert future.status != "finished"
    assert live_children() == baseline
    workers_log = (tmp_path / "logs" / WORKERS_LOG).read_text()
    stuck_part, healthy_part = workers_log.split("==> worker default-1")
    assert "slipstream: no logs from this worker (TimeoutError" in stuck_part
    assert "Start worker at" in healthy_part


@pytest.fixture(autouse=True)
def _graceful_teardown(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every cluster closes in order: nothing had to be killed, no close failed."""
    caplog.set_level(logging.INFO, logger="slipstream.dask")
    yield
    for record in caplog.records:
        if record.name == "slipstream.dask" and record.levelno >= logging.WARNING:
            assert record.getMessage().startswith("dask: asked for"), record.getMessage()
    assert ADDRESS_ENV not in os.environ or os.environ.get(EXTERNAL_ENV)


def test_kubernetes_runner_ships_the_code_bundle_to_the_operators_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import sys

    from distributed import LocalCluster

    from slipstream.dask.local import BUNDLE_ENV

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "shipped_only_here.py").write_text("def triple(x):\n    return 3 * x\n")
    os.utime(bundle / "shipped_only_here.py", (0, 0))  # as unpacked from a bundle: mtime 0
    # The operator's workers start without the bundle on their path, as in a real DaskJob.
    with LocalCluster(n_workers=1, processes=True, dashboard_address=":0") as operator_cluster:
        monkeypatch.syspath_prepend(str(bundle))
        module = importlib.import_module("shipped_only_here")
        monkeypatch.setenv(EXTERNAL_ENV, "1")
        monkeypatch.setenv(ADDRESS_ENV, operator_cluster.scheduler_address)
        monkeypatch.setenv(BUNDLE_ENV, str(bundle))
        try:
            with local_context(template_for(seed_config()), attempt_in(tmp_path)):
                client = Client()
                assert client.gather(client.map(module.triple, [1, 2])) == [3, 6]
        finally:
            sys.modules.pop("shipped_only_here", None)

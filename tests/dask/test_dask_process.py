"""Dask attempts in processes of their own: isolation, Ctrl-C and a killed attempt process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from slipstream.dask import Dask, WorkerGroup
from slipstream.dask.config import config_to_json
from slipstream.dask.keep import SCHEDULER_LOG, WORKERS_LOG

HARNESS = str(Path(__file__).with_name("dask_harness.py"))
pytestmark = pytest.mark.timeout(180)


def start(config: Dask, log_dir: Path, mode: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, HARNESS, json.dumps(config_to_json(config)), str(log_dir), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )


def first_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        _, err = process.communicate(timeout=30)
        raise AssertionError(f"harness exited with {process.returncode}: {err[-3000:]}")
    return dict(json.loads(line))


def live_in_session(session: int, timeout: float) -> list[int]:
    """PIDs still running in the session after waiting up to `timeout` for them to go."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for process in psutil.process_iter():
            try:
                if os.getsid(process.pid) == session and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process.pid)
            except (psutil.Error, ProcessLookupError):
                pass
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.Error:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def test_two_dask_tasks_at_once_each_see_only_their_own_workers(
    tmp_path: Path, repo_env: dict[str, str]
) -> None:
    one = start(Dask(workers=WorkerGroup(number_of_workers=1)), tmp_path / "a", "workers", repo_env)
    two = start(Dask(workers=WorkerGroup(number_of_workers=2)), tmp_path / "b", "workers", repo_env)
    a, b = first_line(one), first_line(two)
    assert one.wait(60) == 0 and two.wait(60) == 0
    assert a["scheduler"] == a["reported"] and b["scheduler"] == b["reported"]
    assert a["scheduler"] != b["scheduler"]
    assert len(a["workers"]) == 1 and len(b["workers"]) == 2
    assert not set(a["workers"]) & set(b["workers"])
    assert not set(a["pids"]) & set(b["pids"])
    for folder in ("a", "b"):
        assert (tmp_path / folder / WORKERS_LOG).exists()


def test_ctrl_c_closes_the_cluster_and_every_worker_process(
    tmp_path: Path, repo_env: dict[str, str]
) -> None:
    process = start(Dask(workers=WorkerGroup(number_of_workers=2)), tmp_path, "wait", repo_env)
    info = first_line(process)
    assert len(info["pids"]) == 2
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGINT, err  # KeyboardInterrupt went all the way up
    assert wait_gone(info["pids"], 10) == []
    assert live_in_session(process.pid, 10) == []
    # Workers left Ctrl-C to the attempt (no traceback of theirs), whose teardown saved the
    # cluster's logs (written only on the way out) before closing it.
    assert err.count("KeyboardInterrupt") == 1, err
    workers_log = (tmp_path / WORKERS_LOG).read_text()
    assert workers_log.count("Start worker at") == 2
    assert "Receive client connection" in (tmp_path / SCHEDULER_LOG).read_text()


def test_a_runner_stopping_the_process_group_gets_an_orderly_teardown(
    tmp_path: Path, repo_env: dict[str, str]
) -> None:
    # The process runner stops an attempt (abort, timeout) with SIGTERM to its process group.
    process = start(Dask(workers=WorkerGroup(number_of_workers=2)), tmp_path, "wait", repo_env)
    info = first_line(process)
    os.killpg(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert wait_gone(info["pids"], 10) == []
    assert live_in_session(process.pid, 10) == []
    assert "Traceback" not in err, err  # no worker died on the signal by itself
    assert (tmp_path / WORKERS_LOG).read_text().count("Start worker at") == 2


def test_a_killed_attempt_process_takes_its_workers_with_it(
    tmp_path: Path, repo_env: dict[str, str]
) -> None:
    process = start(Dask(workers=WorkerGroup(number_of_workers=2)), tmp_path, "wait", repo_env)
    info = first_line(process)
    process.kill()  # OOM killer, or a runner that gave up waiting: no teardown code runs
    process.communicate(timeout=30)
    assert wait_gone(info["pids"], 30) == []

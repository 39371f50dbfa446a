"""Drills: kill the engine (SIGKILL, SIGTERM) mid-run and resume, in-process and isolated.

What must hold after every round: nothing recorded as succeeded runs again, the resumed
execution ends SUCCEEDED with the right output, and no process of the run is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from drills import FLOWS, run_cli, slipstream_command

from slipstream.storage.metadata import MetadataStore


def _log_lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def _succeeded(home: Path, execution_id: str) -> set[str]:
    with MetadataStore(f"sqlite:///{home / 'slipstream.db'}", read_only=True) as store:
        return {n.node_id for n in store.get_nodes(execution_id) if n.phase == "SUCCEEDED"}


def _execution_id(home: Path) -> str:
    with MetadataStore(f"sqlite:///{home / 'slipstream.db'}", read_only=True) as store:
        (record,) = store.list_executions()
        return record.id


def _wait_for_starts(log: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while sum(1 for line in _log_lines(log) if line[0] == "start") < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.02)


def _left_behind(home: Path) -> list[psutil.Process]:
    left = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("SLIPSTREAM_HOME") == str(home):
                left.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return left


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        slipstream_command(*args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("isolate", "how"),
    [
        (False, signal.SIGKILL),
        (True, signal.SIGKILL),
        (False, signal.SIGTERM),
        (True, signal.SIGTERM),
    ],
    ids=["inprocess-kill", "process-kill", "inprocess-term", "process-term"],
)
def test_killed_runs_resume_without_rerunning_successes(
    home: Path, cli_env: dict[str, str], tmp_path: Path, isolate: bool, how: signal.Signals
) -> None:
    log = tmp_path / "bodies.log"
    env = {**cli_env, "FAULTS_LOG": str(log)}
    args = ["run", str(FLOWS), "chain", "--nap", "0.25", "--json"]
    args += ["--isolate"] if isolate else []
    process = _start(args, env)
    checks: list[tuple[int, set[str]]] = []
    for starts in (2, 5):  # kill the first run, then the first resume
        _wait_for_starts(log, starts, process)
        process.send_signal(how)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == (-how if how == signal.SIGKILL else 143), stderr
        execution = _execution_id(home)
        if how == signal.SIGTERM:
            assert f"go on with: slipstream executions resume {execution}" in stderr
        checks.append((len(_log_lines(log)), _succeeded(home, execution)))
        process = _start(["executions", "resume", execution, "--json"], env)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    outcome = json.loads(stdout.strip().splitlines()[-1])
    assert (outcome["phase"], outcome["outputs"]) == ("SUCCEEDED", {"o0": 6})
    lines = _log_lines(log)
    for mark, recorded in checks:  # nothing recorded as succeeded before a kill ran again
        assert not {line[1] for line in lines[mark:] if line[0] == "start"} & recorded
    deadline = time.monotonic() + 15
    while _left_behind(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _left_behind(home)


def test_concurrent_runs_on_one_sqlite_home(home: Path, cli_env: dict[str, str]) -> None:
    runs = [
        _start(["run", str(FLOWS), "chain", "--nap", "0.01", "--json"], cli_env) for _ in range(4)
    ]
    results = [run.communicate(timeout=180) for run in runs]
    for run, (stdout, stderr) in zip(runs, results, strict=True):
        assert run.returncode == 0, stderr
        assert "database is locked" not in stderr
        assert json.loads(stdout.strip().splitlines()[-1])["phase"] == "SUCCEEDED"
    listed = run_cli("executions", "list", "--json", env=cli_env)
    assert [e["phase"] for e in json.loads(listed.stdout)] == ["SUCCEEDED"] * 4
    assert os.path.isfile(home / "slipstream.db")

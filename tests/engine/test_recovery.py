"""Restart safety: an engine killed with SIGKILL leaves a resumable execution; aborts stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import flows_engine
import pytest

FLOWS = str(Path(flows_engine.__file__))


def _slipstream(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "slipstream", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def _start_run(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    paths = {name: str(tmp_path / name) for name in ("first", "second", "flag")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slipstream",
            "run",
            FLOWS,
            "crash_and_resume",
            "--first-counter",
            paths["first"],
            "--second-counter",
            paths["second"],
            "--flag",
            paths["flag"],
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, paths


def _wait_for(path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _only_execution() -> dict:  # type: ignore[type-arg]
    listed = _slipstream("executions", "list", "--json")
    [execution] = json.loads(listed.stdout)
    return execution


def _wait_for_handle(node: str, timeout: float = 60) -> None:
    """Until the engine has recorded where node's running attempt runs (its process): a
    body may start before that row is committed, and an engine killed in between cannot
    know its attempt to take it up again (it runs again: at least once)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = _slipstream("executions", "show", _only_execution()["execution"], "--json")
        nodes = {n["node"]: n for n in json.loads(shown.stdout)["nodes"]} if shown.stdout else {}
        history = nodes.get(node, {}).get("attempt_history") or [{}]
        if (history[-1].get("handle") or {}).get("pid"):
            return
        assert time.monotonic() < deadline, f"{node}'s attempt was never recorded with its pid"
        time.sleep(0.1)


@pytest.mark.parametrize("runner", ["inprocess", "process"])
def test_sigkilled_engine_resumes_without_rerunning_succeeded_nodes(
    home: Path, tmp_path: Path, runner: str
) -> None:
    extra = ("--isolate",) if runner == "process" else ()
    process, paths = _start_run(tmp_path, *extra)
    _wait_for(paths["second"])  # the second node is running: the first has succeeded
    if runner == "process":
        _wait_for_handle("wait-for")
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    execution = _only_execution()
    assert execution["phase"] == "RUNNING"
    Path(paths["flag"]).write_text("go")
    resumed = _slipstream("executions", "resume", execution["execution"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert result == {
        "execution": execution["execution"],
        "phase": "SUCCEEDED",
        "outputs": {"o0": "released"},
    }
    assert Path(paths["first"]).read_text() == "x"  # the succeeded node did not run again
    shown = json.loads(_slipstream("executions", "show", execution["execution"], "--json").stdout)
    phases = {n["node"]: n["phase"] for n in shown["nodes"]}
    assert phases == {"counted": "SUCCEEDED", "wait-for": "SUCCEEDED"}
    waiting = next(n for n in shown["nodes"] if n["node"] == "wait-for")
    if runner == "process":
        # Its process outlived the engine: re-adopted, so its body ran once, in one attempt.
        assert Path(paths["second"]).read_text() == "x"
        assert [a["phase"] for a in waiting["attempt_history"]] == ["SUCCEEDED"]
    else:  # its thread died with the engine: it was lost and ran again
        assert Path(paths["second"]).read_text() == "xx"


def test_resume_refuses_an_execution_whose_engine_is_alive(home: Path, tmp_path: Path) -> None:
    process, paths = _start_run(tmp_path)
    try:
        _wait_for(paths["second"])
        execution = _only_execution()
        refused = _slipstream("executions", "resume", execution["execution"])
        assert refused.returncode != 0
        assert "is still being run by process" in refused.stderr
    finally:
        Path(paths["flag"]).write_text("go")
        process.wait(60)


def test_abort_stops_a_running_execution_and_its_process(home: Path, tmp_path: Path) -> None:
    process, paths = _start_run(tmp_path, "--isolate")
    _wait_for(paths["second"])
    execution = _only_execution()
    aborted = _slipstream("executions", "abort", execution["execution"])
    assert aborted.returncode == 0, aborted.stderr
    assert "ABORTED" in aborted.stdout
    process.wait(30)
    assert process.returncode != 0
    shown = json.loads(_slipstream("executions", "show", execution["execution"], "--json").stdout)
    assert shown["phase"] == "ABORTED"
    waiting = next(n for n in shown["nodes"] if n["node"] == "wait-for")
    assert waiting["phase"] == "ABORTED"
    pid = waiting["attempt_history"][-1]["handle"]["pid"]
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the attempt was sent SIGTERM, then SIGKILL after a grace period
    assert not Path(f"/proc/{pid}").exists()


def test_abort_of_an_orphaned_execution(home: Path, tmp_path: Path) -> None:
    process, paths = _start_run(tmp_path, "--isolate")
    _wait_for(paths["second"])
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    execution = _only_execution()
    aborted = _slipstream("executions", "abort", execution["execution"])
    assert aborted.returncode == 0, aborted.stderr
    shown = json.loads(_slipstream("executions", "show", execution["execution"], "--json").stdout)
    assert shown["phase"] == "ABORTED"


def test_two_runs_at_once_on_one_sqlite_home_both_finish(home: Path, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    flag.write_text("go")
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "slipstream",
                "run",
                FLOWS,
                "crash_and_resume",
                "--first-counter",
                str(tmp_path / f"a{i}"),
                "--second-counter",
                str(tmp_path / f"b{i}"),
                "--flag",
                str(flag),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        assert "database is locked" not in err
        assert json.loads(out.strip().splitlines()[-1])["phase"] == "SUCCEEDED"

"""A Dask task's cluster is always torn down: on a timeout, on an abort from another process,
and when the engine is interrupted with Ctrl-C (success and failure: the cluster and errors
tests). Counted by every process started with the test's SLIPSTREAM_HOME, orphans included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from flows_dask import HOLD_TIMEOUT, hold_too_long, leftovers, processes_of, wait_for_file

from slipstream import TaskTimeoutError
from slipstream.cli.main import cli

FLOWS = str(Path(__file__).with_name("flows_dask.py"))
STARTUP_SECONDS = 90.0  # engine, warm interpreter and cluster up, on a loaded 2-core machine
pytestmark = pytest.mark.timeout(240)


def _gone(pids: list[int]) -> bool:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.Error:
            pass
    return not alive


def test_a_timed_out_dask_task_leaves_no_process(home: Path, tmp_path: Path) -> None:
    assert processes_of(home) == []
    with pytest.raises(TaskTimeoutError, match=r"timed out after 10 s"):
        hold_too_long(folder=str(tmp_path))
    returned = time.time()
    # The cluster was up, its workers busy in user code, when the timeout stopped it. Counted
    # from then (not from the call: the engine's and the cluster's start-up vary with the
    # machine's load), the caller does not wait for the teardown.
    holding_since = (tmp_path / "running.json").stat().st_mtime
    assert returned - holding_since < HOLD_TIMEOUT + 5
    running = json.loads((tmp_path / "running.json").read_text())
    assert len(running["workers"]) == 2
    assert leftovers(home, engine_pid=os.getpid()) == []
    assert _gone([running["attempt"], *running["workers"]])

    runner = CliRunner()
    [execution] = json.loads(runner.invoke(cli, ["executions", "list", "--json"]).stdout)
    assert execution["phase"] == "FAILED"
    logs = runner.invoke(cli, ["executions", "logs", execution["execution"], "hold-too-long"])
    assert logs.exit_code == 0, logs.output
    # The stop reached the task (an orderly unwind, not a kill), the cluster's logs were kept,
    # and the worker busy in user code got a short grace, not the 4 s of a graceful close.
    assert "AttemptTerminated: terminated by signal 15" in logs.stdout
    assert logs.stdout.count("Start worker at") == 2
    assert "Worker process still alive after 0.8 seconds, killing" in logs.stdout


@pytest.mark.parametrize("stop", ["abort", "ctrl-c", "ctrl-c twice"])
def test_stopping_running_dask_tasks_leaves_no_process(
    stop: str, home: Path, tmp_path: Path, repo_env: dict[str, str]
) -> None:
    # "ctrl-c twice": an impatient user presses Ctrl-C again while two attempts are stopping.
    entity, markers = ("hold_both", ["left", "right"]) if "twice" in stop else ("hold", ["running"])
    assert processes_of(home) == []
    engine = subprocess.Popen(
        [
            *(sys.executable, "-m", "slipstream", "run", FLOWS, entity),
            *("--folder", str(tmp_path), "--json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=repo_env,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        pids: list[int] = []
        for marker in markers:
            text = wait_for_file(tmp_path / f"{marker}.json", STARTUP_SECONDS, engine)
            running = json.loads(text)
            pids += [running["attempt"], *running["workers"]]
        # The finder sees the attempts and their workers (so it would see them left behind).
        assert set(pids) <= {p.pid for p in processes_of(home)}

        runner = CliRunner()
        [execution] = json.loads(runner.invoke(cli, ["executions", "list", "--json"]).stdout)
        if stop == "abort":
            aborted = runner.invoke(cli, ["executions", "abort", execution["execution"]])
            assert aborted.exit_code == 0, aborted.output
            assert aborted.stdout.strip() == f"execution {execution['execution']} ABORTED"
        else:
            os.killpg(engine.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            if "twice" in stop:
                time.sleep(0.2)
                os.killpg(engine.pid, signal.SIGINT)
        out, err = engine.communicate(timeout=60)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.communicate()

    if stop == "abort":
        assert engine.returncode == 1, err
        assert json.loads(out.strip().splitlines()[-1])["phase"] == "ABORTED"
    elif stop == "ctrl-c":
        assert engine.returncode == 130, err
        assert "interrupted: the execution was aborted" in err
    else:  # the second Ctrl-C may also land as the interpreter waits for the stops to finish
        assert engine.returncode in (130, -signal.SIGINT), err
    assert leftovers(home) == []  # the engine is gone: nothing of it may remain
    assert _gone(pids)
    shown = json.loads(
        CliRunner().invoke(cli, ["executions", "show", execution["execution"], "--json"]).stdout
    )
    assert shown["phase"] == "ABORTED"
    assert {n["phase"] for n in shown["nodes"]} == {"ABORTED"}

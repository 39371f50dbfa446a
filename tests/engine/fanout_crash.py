"""Helpers of the fan-out resume tests: run a flow in a child engine, SIGKILL it, resume it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flows_fanout

FLOWS = str(Path(flows_fanout.__file__))


def slipstream(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slipstream", *args], capture_output=True, text=True, timeout=120
    )


def start(entity: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "slipstream", "run", FLOWS, entity, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def only_execution() -> str:
    listed = slipstream("executions", "list", "--json")
    [execution] = json.loads(listed.stdout)
    return str(execution["execution"])


def show(execution: str) -> dict[str, Any]:
    shown = slipstream("executions", "show", execution, "--json")
    assert shown.returncode == 0, shown.stderr
    document: dict[str, Any] = json.loads(shown.stdout)
    return document


def nodes(execution: str) -> dict[str, dict[str, Any]]:
    return {node["node"]: node for node in show(execution)["nodes"]}


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)


def resume(execution: str) -> dict[str, Any]:
    resumed = slipstream("executions", "resume", execution, "--json")
    assert resumed.returncode == 0, resumed.stderr
    document: dict[str, Any] = json.loads(resumed.stdout.strip().splitlines()[-1])
    return document

"""A killed or stopped server: its running executions finish after a restart, nothing re-runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from server_helpers import Live, free_port, register

from slipstream.storage.metadata import MetadataStore


def spawn(port: int) -> subprocess.Popen[bytes]:
    command = "from slipstream.cli.main import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", command, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the server did not start: {process.communicate()[0].decode()}")


def _live(port: int) -> Live:
    url = f"http://127.0.0.1:{port}"
    return Live(url, None, httpx.Client(base_url=url, timeout=30))  # type: ignore[arg-type]


def _wait_node(live: Live, execution_id: str, node: str, phase: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        doc = live.client.get(f"/api/v1/executions/{execution_id}").json()
        if any(n["id"] == node and n["phase"] == phase for n in doc.get("nodes", [])):
            return
        time.sleep(0.05)
    raise AssertionError(f"node {node} of {execution_id} never reached {phase}")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_restarted_server_finishes_what_was_running(
    how: str, home: Path, project: tuple[Path, str], tmp_path: Path
) -> None:
    root, module = project
    markers = tmp_path / "markers"
    markers.mkdir()
    port = free_port()
    server = spawn(port)
    live = _live(port)
    try:
        register(live, root)
        body = {
            "workflow": f"{module}.marked",
            "inputs": {"folder": str(markers), "seconds": 2.0},
        }
        execution_id = live.client.post("/api/v1/executions", json=body).json()["execution"]
        _wait_node(live, execution_id, "wait-then", "RUNNING")
        started = time.monotonic()
        server.send_signal(getattr(signal, how))
        output = server.communicate(timeout=30)[0].decode()
        if how == "SIGTERM":
            assert server.returncode == 0, output
            assert time.monotonic() - started < 15
            assert "left to resume" in output
        with MetadataStore(f"sqlite:///{home / 'slipstream.db'}") as store:
            record = store.get_execution(execution_id)
            assert record is not None and record.phase == "RUNNING"  # not failed, not aborted

        server = spawn(port)
        doc = live.wait_phase(execution_id, "SUCCEEDED", timeout=60)
        assert doc["outputs"] == {"o0": "first-second"}
        assert (markers / "first").read_text() == "ran\n"  # succeeded before: not run again
        assert (markers / "first-second").read_text() == "ran\n"
    finally:
        live.client.close()
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
            server.communicate(timeout=30)

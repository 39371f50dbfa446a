"""The drill: two `slipstream serve` on one PostgreSQL, 20 executions in flight on the process
runner, one server killed with SIGKILL midway. The other takes each of its executions over
within the lease time, re-adopts their running attempts, and finishes them: all 20 SUCCEEDED,
every node body that succeeded ran exactly once (marker files), no node had two attempts.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
from server_helpers import Live, free_port, register, spawn_serve, wait_healthy

from slipstream.storage.metadata import MetadataStore

EXECUTIONS = 20
LEASE_SECONDS = 2.0


def _live(port: int) -> Live:
    url = f"http://127.0.0.1:{port}"
    return Live(url, None, httpx.Client(base_url=url, timeout=60))  # type: ignore[arg-type]


def test_a_killed_server_s_executions_are_finished_by_the_other(
    home: Path, project: tuple[Path, str], tmp_path: Path, fresh_postgres_url: str
) -> None:
    root, module = project
    env = {
        "SLIPSTREAM_DATABASE_URL": fresh_postgres_url,
        "SLIPSTREAM_RUNNER": "process",
        "SLIPSTREAM_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    ports = free_port(), free_port()
    servers = [spawn_serve(port, env) for port in ports]
    lives = [_live(port) for port in ports]
    try:
        for server, port in zip(servers, ports, strict=True):
            wait_healthy(server, port, timeout=60)
        register(lives[0], root)
        launched: list[tuple[int, str, Path]] = []
        for i in range(EXECUTIONS):
            folder = tmp_path / f"markers-{i}"
            folder.mkdir()
            body = {"workflow": f"{module}.marked", "inputs": {"folder": str(folder), "seconds": 6}}
            response = lives[i % 2].client.post("/api/v1/executions", json=body)
            assert response.status_code == 201, response.text
            launched.append((i % 2, response.json()["execution"], folder))
        # Midway: every execution's first body has run, its second is running (read from
        # the database at once: one slow round of API calls could outlast the sleep).
        deadline = time.monotonic() + 60
        with MetadataStore(fresh_postgres_url) as store:
            while time.monotonic() < deadline:
                states = [
                    {n.node_id: n.phase for n in store.get_nodes(eid)} for _, eid, _ in launched
                ]
                if all(s.get("wait-then") == "RUNNING" for s in states):
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(f"the executions never got midway: {states}")
        servers[0].send_signal(signal.SIGKILL)
        servers[0].communicate(timeout=30)

        for _, execution_id, _ in launched:
            doc = lives[1].wait_phase(execution_id, "SUCCEEDED", "FAILED", "ABORTED", timeout=60)
            assert doc["phase"] == "SUCCEEDED", doc.get("error")
            assert doc["outputs"] == {"o0": "first-second"}

        with MetadataStore(fresh_postgres_url) as store:
            for owner, execution_id, folder in launched:
                assert (folder / "first").read_text() == "ran\n"
                assert (folder / "first-second").read_text() == "ran\n"
                attempts = store.get_attempts(execution_id)
                per_node = [a.node_id for a in attempts]
                assert len(per_node) == len(set(per_node)) == 3, attempts  # one attempt each
                assert all(a.phase == "SUCCEEDED" for a in attempts)
                phases = [e.phase for e in store.get_events(execution_id) if not e.node_id]
                if owner == 0:  # the killed server's: taken over, not finished before the kill
                    assert "RESUMED" in phases, phases
    finally:
        for live in lives:
            live.client.close()
        for server in servers:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.communicate(timeout=30)
                except Exception:
                    server.kill()

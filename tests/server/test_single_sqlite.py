"""SQLite means one server: a second `slipstream serve` on the same SQLite home says why it
refuses to start; once the first is gone (even killed), a new one starts."""

from __future__ import annotations

import signal
from pathlib import Path

from server_helpers import free_port, spawn_serve, wait_healthy


def test_a_second_server_on_one_sqlite_home_refuses_to_start(home: Path) -> None:
    first_port = free_port()
    first = spawn_serve(first_port)
    try:
        wait_healthy(first, first_port)
        second = spawn_serve(free_port())
        output = second.communicate(timeout=60)[0].decode()
        assert second.returncode != 0
        assert f"(process {first.pid}) already serves the SQLite database" in output
        assert str(home / "slipstream.db") in output
        assert "PostgreSQL" in output and "Traceback" not in output
        first.send_signal(signal.SIGKILL)  # the lock goes with the process
        first.communicate(timeout=30)
        third_port = free_port()
        third = spawn_serve(third_port)
        try:
            wait_healthy(third, third_port)
        finally:
            third.send_signal(signal.SIGTERM)
            third.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=30)

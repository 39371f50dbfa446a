"""Helpers of the server tests: the flows registered, a live server handle, registering."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from slipstream.server.services import Services

FLOWS = """
import time
from datetime import datetime, timedelta

from slipstream import FixedRate, LaunchPlan, task, workflow


@task
def add(a: int, b: int = 2) -> int:
    return a + b


@task
def boom(x: int) -> int:
    raise ValueError(f"boom on {x}")


@task
def nap(seconds: float) -> float:
    print(f"napping {seconds:g}", flush=True)
    time.sleep(seconds)
    return seconds


@workflow
def pipeline(a: int, b: int = 3) -> int:
    return add(a=add(a=a, b=b), b=1)


@workflow
def fails(a: int) -> int:
    return boom(x=add(a=a))


@workflow
def sleepy(seconds: float = 30.0) -> float:
    return nap(seconds=seconds)


@task
def stamp(when: datetime, note: str) -> str:
    return f"{note}@{when.isoformat()}"


@workflow
def stamped(when: datetime, note: str = "tick") -> str:
    return stamp(when=when, note=note)


every_second = LaunchPlan.get_or_create(
    stamped,
    name=__name__ + ".every_second",
    fixed_inputs={"note": "fixed"},
    schedule=FixedRate(duration=timedelta(seconds=1), kickoff_time_input_arg="when"),
    labels={"origin": "plan"},
)
big_add = LaunchPlan.get_or_create(pipeline, name=__name__ + ".big_add", default_inputs={"b": 100})


@task
def mark(folder: str, tag: str) -> str:
    with open(f"{folder}/{tag}", "a") as out:
        out.write("ran\\n")
    return tag


@task
def wait_then(tag: str, seconds: float) -> str:
    time.sleep(seconds)
    return tag + "-second"


@workflow
def marked(folder: str, seconds: float = 3.0) -> str:
    first = mark(folder=folder, tag="first")
    waited = wait_then(tag=first, seconds=seconds)
    return mark(folder=folder, tag=waited)
"""


def spawn_serve(port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`slipstream serve --port PORT` in a process of its own (its output piped)."""
    command = "from slipstream.cli.main import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", command, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


def wait_healthy(process: subprocess.Popen[bytes], port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the server did not start: {process.communicate()[0].decode()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    url: str
    services: Services
    client: httpx.Client

    def wait_phase(self, execution_id: str, *phases: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = self.client.get(f"/api/v1/executions/{execution_id}")
            if response.status_code == 200:
                doc = response.json()
                if doc["phase"] in phases:
                    return doc
            time.sleep(0.05)
        raise AssertionError(
            f"{execution_id} never reached {phases}: {doc.get('phase')} {doc.get('error')}"
        )


def register(live: Live, root: Path, **options: Any) -> dict[str, Any]:
    from slipstream.cli.register import collect, register_entities
    from slipstream.cli.remote import RemoteClient

    source_root, entities = collect([str(root)])
    with RemoteClient(live.url, live.client.headers.get("authorization", "")[7:] or None) as c:
        return register_entities(
            c,
            source_root,
            entities,
            options.get("project", "default"),
            options.get("domain", "development"),
            options.get("version"),
        )

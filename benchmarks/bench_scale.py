"""Several servers on one PostgreSQL: noop throughput with one and with two, takeover time.

Runs real `slipstream serve` processes on loopback ports, all on one PostgreSQL database (a
fresh schema per scenario) and one blob store. Figures:
- noop executions per second, sustained (first POST to all SUCCEEDED), launched from
  `--clients` threads through one server, then spread round-robin over two (as a load
  balancer would), in-process runner;
- takeover after a SIGKILL: executions running on server A (process runner, attempts
  sleeping), A killed; the time from the kill to the first state write of server B on each
  of them (its RESUMED event), first and last; then each must finish with one attempt per
  node (re-adopted, not run again).

Usage: python benchmarks/bench_scale.py [--launches N] [--clients N] [--lease S ...]
       [--database-url postgresql://...]   (default: $SLIPSTREAM_TEST_POSTGRES_URL, else a
       throwaway server started with .ci/postgres.sh)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

REPO = Path(__file__).resolve().parent.parent
FLOWS = """
import time

from slipstream import task, workflow


@task
def noop(x: int) -> int:
    return x


@workflow
def one(x: int = 0) -> int:
    return noop(x=x)


@task
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@workflow
def napping(seconds: float = 20.0) -> float:
    return nap(seconds=seconds)
"""


def fresh_schema(url: str) -> str:
    """A new empty schema on the server at url, seen through search_path."""
    import psycopg

    rest = url.split("://", 1)[1]
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("postgresql://" + rest, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    parts = urlsplit(url)
    option = f"options=-csearch_path%3D{schema}"
    return urlunsplit(parts._replace(query=f"{parts.query}&{option}" if parts.query else option))


class Servers:
    def __init__(self, work: Path, database_url: str, runner: str, lease: float) -> None:
        self.env = {
            **os.environ,
            "SLIPSTREAM_HOME": str(work / "home"),
            "SLIPSTREAM_DATABASE_URL": database_url,
            "SLIPSTREAM_RUNNER": runner,
            "SLIPSTREAM_LEASE_SECONDS": str(lease),
        }
        for name in ("SLIPSTREAM_BLOB_URL", "SLIPSTREAM_SERVER_URL"):
            self.env.pop(name, None)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []

    def start(self, count: int) -> None:
        command = "from slipstream.cli.main import main; main()"
        for _ in range(count):
            port = free_port()
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", command, "serve", "--port", str(port)],
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/api/v1/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)

    def register(self, project: Path) -> None:
        from slipstream.cli.register import collect, register_entities
        from slipstream.cli.remote import RemoteClient

        root, entities = collect([str(project)])
        with RemoteClient(self.urls[0]) as remote:
            register_entities(remote, root, entities, "default", "development", None)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def throughput(servers: Servers, launches: int, clients: int) -> float:
    ids: list[str] = []
    lock = threading.Lock()

    def launcher(index: int) -> None:
        url = servers.urls[index % len(servers.urls)]
        with httpx.Client(base_url=url, timeout=60) as mine:
            for i in range(launches // clients):
                response = mine.post(
                    "/api/v1/executions",
                    json={"workflow": "bench_scale_flows.one", "inputs": {"x": i}},
                )
                response.raise_for_status()
                with lock:
                    ids.append(response.json()["execution"])

    began = time.perf_counter()
    threads = [threading.Thread(target=launcher, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with httpx.Client(base_url=servers.urls[0], timeout=60) as client:
        while True:
            counts = client.get(
                "/api/v1/executions/counts", params={"name": "bench_scale_flows.one"}
            ).json()["counts"]
            if counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0) >= len(ids):
                break
            time.sleep(0.05)
    elapsed = time.perf_counter() - began
    assert counts.get("FAILED", 0) == 0, counts
    return len(ids) / elapsed


def takeover(servers: Servers, database_url: str, count: int, nap: float) -> dict[str, Any]:
    from slipstream.storage.metadata import MetadataStore

    with httpx.Client(base_url=servers.urls[0], timeout=60) as a:
        ids = [
            a.post(
                "/api/v1/executions",
                json={"workflow": "bench_scale_flows.napping", "inputs": {"seconds": nap}},
            ).json()["execution"]
            for _ in range(count)
        ]
    store = MetadataStore(database_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = [a for eid in ids for a in store.get_attempts(eid) if a.handle]
            if len(running) == count:
                break
            time.sleep(0.1)
        killed = time.time()
        servers.processes[0].send_signal(signal.SIGKILL)
        servers.processes[0].wait(30)
        first_writes: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while len(first_writes) < count and time.monotonic() < deadline:
            for eid in ids:
                if eid not in first_writes:
                    for event in store.get_events(eid):
                        if event.phase == "RESUMED" and not event.node_id:
                            first_writes[eid] = event.at - killed
            time.sleep(0.05)

        def phase(eid: str) -> str:
            record = store.get_execution(eid)
            return record.phase if record is not None else "missing"

        for eid in ids:
            while phase(eid) not in ("SUCCEEDED", "FAILED", "ABORTED"):
                time.sleep(0.1)
        phases = {phase(eid) for eid in ids}
        attempts = max(len(store.get_attempts(eid)) for eid in ids)
    finally:
        store.close()
    took = sorted(first_writes.values())
    return {"first": took[0], "last": took[-1], "phases": phases, "attempts": attempts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--launches", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--lease", type=float, nargs="*", default=[15.0, 2.0])
    parser.add_argument("--takeovers", type=int, default=10)
    parser.add_argument("--database-url", default=os.environ.get("SLIPSTREAM_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    started_pg = ""
    base = args.database_url
    if not base:
        started_pg = str(work / "postgres")
        base = subprocess.run(
            ["bash", str(REPO / ".ci" / "postgres.sh"), "--dir", started_pg],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    project = work / "project"
    project.mkdir()
    (project / "bench_scale_flows.py").write_text(textwrap.dedent(FLOWS))
    try:
        rates = {}
        for count in (1, 2):
            servers = Servers(work / f"noop-{count}", fresh_schema(base), "inprocess", 15.0)
            try:
                servers.start(count)
                servers.register(project)
                rates[count] = throughput(servers, args.launches, args.clients)
            finally:
                servers.stop()
            print(
                f"{count} server(s), one PostgreSQL: {args.launches} noop executions from "
                f"{args.clients} clients, {rates[count]:.1f} executions/s sustained"
            )
        print(f"two servers / one server: {rates[2] / rates[1]:.2f}x")
        for lease in args.lease:
            url = fresh_schema(base)
            servers = Servers(work / f"takeover-{lease:g}", url, "process", lease)
            try:
                servers.start(2)
                servers.register(project)
                found = takeover(servers, url, args.takeovers, nap=lease + 10)
            finally:
                servers.stop()
            print(
                f"takeover, lease {lease:g} s, {args.takeovers} executions on the killed server: "
                f"first state write by the new owner {found['first']:.2f} s after the SIGKILL, "
                f"last {found['last']:.2f} s; all {'/'.join(sorted(found['phases']))}, "
                f"at most {found['attempts']} attempt(s) per execution"
            )
    finally:
        if started_pg:
            subprocess.run(["bash", str(REPO / ".ci" / "postgres.sh"), "--stop", started_pg])


if __name__ == "__main__":
    main()

"""The server under load: launch throughput and latency, list and detail reads at scale, RSS.

Runs a real `slipstream serve` (in-process runner, SQLite) on a loopback port and talks to it
over HTTP. Figures:
- noop executions launched through the API per second, sustained (POST to SUCCEEDED), and
  the POST latency p50/p99 (goals: >= 50/s, p99 <= 50 ms);
- GET /executions?limit=50 and GET /executions/{id} p50/p99 with 10,000 executions stored,
  and the detail of one execution holding a 1,000-node workflow and a 10,000-item map (goal:
  p99 <= 100 ms);
- the server's RSS idle and after that load.

Usage: python benchmarks/bench_server.py [--launches N] [--stored N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx

FLOWS = """
from slipstream import map_task, task, workflow


@task
def noop(x: int) -> int:
    return x


@workflow
def one(x: int = 0) -> int:
    return noop(x=x)


@workflow
def big(xs: list[int]) -> list[int]:
    for i in range(1000):
        noop(x=i)
    return map_task(noop)(x=xs)
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_gets(client: httpx.Client, path: str, n: int, **params: Any) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path, params=params)
        out.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return out


def show(label: str, values: list[float], unit: str = "ms") -> None:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    print(f"{label:<58} p50 {p50:7.1f} {unit}   p99 {p99:7.1f} {unit}")


def wait_until(client: httpx.Client, execution_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc: dict[str, Any] = client.get(f"/api/v1/executions/{execution_id}").json()
        if doc["phase"] in ("SUCCEEDED", "FAILED", "ABORTED"):
            return doc
        time.sleep(0.2)
    raise SystemExit(f"{execution_id} did not finish")


def seed(home: Path, template_id: str, count: int) -> None:
    """Store `count` more finished executions, copies of a real one with their own ids."""
    import msgspec

    from slipstream.engine.ids import new_execution_id
    from slipstream.storage.metadata import MetadataStore
    from slipstream.storage.metadata.server_store import ServerStore

    url = f"sqlite:///{home / 'slipstream.db'}"
    store, index = MetadataStore(url), ServerStore(url)
    record = store.get_execution(template_id)
    nodes = store.get_nodes(template_id)
    info = index.get_info(template_id)
    assert record is not None and info is not None
    start = time.time() - count
    for i in range(count):
        eid = new_execution_id() + f"{i:05d}"
        at = start + i
        store.create_execution(
            msgspec.structs.replace(
                record, id=eid, created_at=at, started_at=at, ended_at=at + 0.01
            ),
            [msgspec.structs.replace(n, execution_id=eid) for n in nodes],
        )
        labels = {"team": f"t{i % 10}"}
        index.add_execution(
            msgspec.structs.replace(info, execution_id=eid, created_at=at, labels=labels)
        )
    store.close()
    index.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--launches", type=int, default=500)
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-server-"))
    home, project = work / "home", work / "project"
    project.mkdir()
    (project / "bench_server_flows.py").write_text(textwrap.dedent(FLOWS))
    env = {**os.environ, "SLIPSTREAM_HOME": str(home), "SLIPSTREAM_RUNNER": "inprocess"}
    for name in ("SLIPSTREAM_DATABASE_URL", "SLIPSTREAM_BLOB_URL", "SLIPSTREAM_SERVER_URL"):
        env.pop(name, None)
    os.environ.update({k: v for k, v in env.items() if k.startswith("SLIPSTREAM_")})
    port = 18000 + os.getpid() % 2000
    command = "from slipstream.cli.main import main; main()"
    server = subprocess.Popen(
        [sys.executable, "-c", command, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=60)
    try:
        for _ in range(300):
            try:
                if client.get("/api/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from slipstream.cli.register import collect, register_entities
        from slipstream.cli.remote import RemoteClient

        root, entities = collect([str(project)])
        with RemoteClient(url) as remote:
            register_entities(remote, root, entities, "default", "development", None)
        time.sleep(1.0)
        idle = rss_mib(server.pid)
        print(f"server RSS idle (registered, nothing run): {idle:.0f} MiB")

        # -- launch throughput ------------------------------------------------------------
        latencies: list[float] = []
        ids: list[str] = []
        lock = threading.Lock()
        per_client = args.launches // args.clients

        def launcher() -> None:
            with httpx.Client(base_url=url, timeout=60) as mine:
                for i in range(per_client):
                    start = time.perf_counter()
                    response = mine.post(
                        "/api/v1/executions",
                        json={"workflow": "bench_server_flows.one", "inputs": {"x": i}},
                    )
                    elapsed = (time.perf_counter() - start) * 1000
                    response.raise_for_status()
                    with lock:
                        latencies.append(elapsed)
                        ids.append(response.json()["execution"])

        began = time.perf_counter()
        threads = [threading.Thread(target=launcher) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        posted = time.perf_counter() - began
        while True:
            counts = client.get(
                "/api/v1/executions/counts", params={"name": "bench_server_flows.one"}
            ).json()["counts"]
            if counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0) >= len(ids):
                break
            time.sleep(0.05)
        done = time.perf_counter() - began
        print(
            f"launched {len(ids)} noop executions with {args.clients} clients: all SUCCEEDED "
            f"in {done:.2f} s = {len(ids) / done:.1f} executions/s sustained "
            f"(POSTs took {posted:.2f} s, {counts.get('FAILED', 0)} failed)"
        )
        show("POST /api/v1/executions latency", latencies)

        # -- reads at scale ---------------------------------------------------------------
        started = time.perf_counter()
        seed(home, ids[0], max(0, args.stored - len(ids)))
        total = sum(client.get("/api/v1/executions/counts").json()["counts"].values())
        print(f"stored {total} executions (seeding took {time.perf_counter() - started:.1f} s)")
        show("GET /executions?limit=50", timed_gets(client, "/api/v1/executions", 200, limit=50))
        show(
            "GET /executions?limit=50&label=team=t3",
            timed_gets(client, "/api/v1/executions", 200, limit=50, label="team=t3"),
        )
        page = client.get("/api/v1/executions", params={"limit": 50}).json()
        show(
            "GET /executions?limit=50&cursor=(page 2)",
            timed_gets(client, "/api/v1/executions", 200, limit=50, cursor=page["next_cursor"]),
        )
        show(
            "GET /executions/{id} (2 nodes)",
            timed_gets(client, f"/api/v1/executions/{ids[0]}", 200),
        )

        started = time.perf_counter()
        big = client.post(
            "/api/v1/executions",
            json={"workflow": "bench_server_flows.big", "inputs": {"xs": list(range(10_000))}},
        ).json()["execution"]
        doc = wait_until(client, big)
        nodes = len(doc["nodes"])
        map_node = next(n for n in doc["nodes"] if n["kind"] == "map")
        print(
            f"1,000-node workflow + 10,000-item map ran {doc['phase']} in "
            f"{time.perf_counter() - started:.1f} s: {nodes} nodes in the detail, map items "
            f"{map_node['info'].get('succeeded')} succeeded"
        )
        size = len(client.get(f"/api/v1/executions/{big}").content)
        show(
            f"GET /executions/{{id}} (1,001 nodes + map; {size / 1024:.0f} KiB)",
            timed_gets(client, f"/api/v1/executions/{big}", 50),
        )
        print(
            f"server RSS after the load: {rss_mib(server.pid):.0f} MiB "
            f"(peak {rss_mib(server.pid, 'VmHWM'):.0f} MiB)"
        )
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

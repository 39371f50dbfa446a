"""Dask benchmark: the seed example through slipstream against the same work in raw dask.

Run with `python3 dev.py bench` (or `.venv/bin/python benchmarks/bench_dask.py [--rounds N]`).
The work: increment 1,000 numbers with client.map on a fresh 4-worker cluster, then close it.
Runs alternate (slipstream, raw, raw, slipstream, ...) so a noisy machine slows both alike;
figures are medians of this run, ratios compare with raw dask measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "increment_numbers.py"
LENGTH = 1000
EXPECTED = list(range(1, LENGTH + 1))
GOAL = 1.1

# The same work in raw dask, for a fresh interpreter (what `slipstream run` is compared with).
RAW_SCRIPT = f"""
from distributed import Client, LocalCluster

def inc(x):
    return x + 1

if __name__ == "__main__":
    cluster = LocalCluster(n_workers=4, dashboard_address=":0")
    client = Client(cluster)
    result = client.gather(client.map(inc, range({LENGTH})))
    client.close()
    cluster.close()
    assert result == list(range(1, {LENGTH} + 1))
"""


def inc(x: int) -> int:
    return x + 1


def raw_dask() -> None:
    """LocalCluster(n_workers=4) + client.map + gather + close, in this process."""
    from distributed import Client, LocalCluster

    # The dashboard on a free port, as slipstream's clusters have one too.
    cluster = LocalCluster(n_workers=4, dashboard_address=":0")
    client = Client(cluster)
    try:
        result = client.gather(client.map(inc, range(LENGTH)))
    finally:
        client.close()
        cluster.close()
    assert result == EXPECTED


def raw_dask_process() -> None:
    subprocess.run(
        [sys.executable, "-c", RAW_SCRIPT],
        check=True,
        capture_output=True,
        cwd=tempfile.gettempdir(),
    )


def slipstream_call() -> None:
    from increment_numbers import increment_numbers

    assert increment_numbers(list_length=LENGTH) == EXPECTED


def slipstream_run() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "slipstream", "run", str(EXAMPLE), "increment_numbers", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1])["outputs"]["o0"] == EXPECTED


def raw_cluster() -> tuple[float, float]:
    """(start, close) seconds of a raw LocalCluster(n_workers=4)."""
    from distributed import LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(n_workers=4, dashboard_address=":0")
    up = time.perf_counter()
    cluster.close()
    return up - started, time.perf_counter() - up


def slipstream_cluster(log_dir: str) -> tuple[float, float]:
    """(start, teardown) seconds of the seed task's own cluster (plugin context, logs kept)."""
    from increment_numbers import increment_numbers

    from slipstream.sdk.plugins import AttemptContext, default_plugins

    attempt = AttemptContext(
        execution_id="bench",
        node_id="increment-numbers",
        attempt=1,
        output_prefix=f"file://{log_dir}",
        log_dir=log_dir,
    )
    context = default_plugins.local_context(increment_numbers.template, attempt)
    started = time.perf_counter()
    context.__enter__()
    up = time.perf_counter()
    context.__exit__(None, None, None)
    return up - started, time.perf_counter() - up


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    rounds = parser.parse_args().rounds
    if rounds < 1:
        parser.error(f"--rounds {rounds}: expected a positive number of rounds")

    # The clamping line (4 workers x 8 threads asked on a small machine) once, not every round.
    logging.getLogger("slipstream.dask").setLevel(logging.ERROR)
    home = tempfile.mkdtemp(prefix="slipstream-bench-dask-")
    os.environ["SLIPSTREAM_HOME"] = home
    sys.path.insert(0, str(EXAMPLE.parent))
    import distributed  # noqa: F401 - both sides find it imported, as in a long session

    from slipstream.engine.local import reset_engines

    cold = _timed(slipstream_call)  # opens the stores, starts the warm interpreter
    times: dict[str, list[float]] = {
        name: [] for name in ("call", "raw", "run", "raw_process", "cluster", "raw_cluster")
    }
    teardowns: dict[str, list[float]] = {"cluster": [], "raw_cluster": []}
    for i in range(rounds):
        pairs: list[tuple[str, Callable[[], Any]]] = [
            ("call", slipstream_call),
            ("raw", raw_dask),
            ("run", slipstream_run),
            ("raw_process", raw_dask_process),
        ]
        if i % 2:  # alternate who goes first
            pairs = [pairs[1], pairs[0], pairs[3], pairs[2]]
        for name, fn in pairs:
            times[name].append(_timed(fn))
        clusters: list[tuple[str, Callable[[], tuple[float, float]]]] = [
            ("cluster", lambda: slipstream_cluster(tempfile.mkdtemp(dir=home))),
            ("raw_cluster", raw_cluster),
        ]
        for name, measure in clusters if i % 2 == 0 else clusters[::-1]:
            start, close = measure()
            times[name].append(start)
            teardowns[name].append(close)
    reset_engines()

    med = {name: statistics.median(values) for name, values in times.items()}
    down = {name: statistics.median(values) for name, values in teardowns.items()}
    call_ratio = med["call"] / med["raw"]
    run_ratio = med["run"] / med["raw_process"]
    print(
        f"dask: the seed example, increment {LENGTH:,} numbers on a fresh 4-worker cluster "
        f"({rounds} alternating rounds, medians; {os.cpu_count()} cores)"
    )
    rows = [
        ("raw dask in this process (LocalCluster + map + gather + close)", med["raw"], ""),
        (
            "slipstream, increment_numbers() called as a function",
            med["call"],
            f"ratio {call_ratio:.2f}x (goal <= {GOAL}x)",
        ),
        ("slipstream, the first call (opens stores, warms interpreter)", cold, ""),
        ("raw dask in a fresh python process", med["raw_process"], ""),
        ("`slipstream run` in a fresh process", med["run"], f"ratio {run_ratio:.2f}x"),
    ]
    for label, seconds, note in rows:
        print(f"  {label:<62} {seconds:6.2f} s   {note}".rstrip())
    print(
        f"  cluster start-up: raw LocalCluster(n_workers=4) {med['raw_cluster']:.2f} s "
        f"(close {down['raw_cluster']:.2f} s); slipstream's per-task cluster "
        f"{med['cluster']:.2f} s (teardown with logs saved {down['cluster']:.2f} s)"
    )


if __name__ == "__main__":
    main()

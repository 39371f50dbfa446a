"""Seed phase benchmark: where the time of the seed example goes, phase by phase, against raw dask.

Run with `python3 dev.py bench seed_phases` (or `.venv/bin/python benchmarks/bench_seed_phases.py
[--rounds N]`). Four fresh processes a round, in alternating order: `slipstream run` of
examples/increment_numbers.py, the same with Dask(report=False) (what the report costs), a
script calling increment_numbers() as a function, and the same work in raw dask
(LocalCluster(n_workers=4) + client.map + gather + close). Each process marks its phases in a
trace file (SLIPSTREAM_TRACE, see slipstream/trace.py); the execution's own created/ended times
come from the metadata store. Times are seconds since the process was started, medians of the
rounds; ratios compare whole processes measured in the same run. Each round also runs a
workflow of two Dask tasks one after the other: when each attempt was launched, and how soon
after that its process was ready (the second is forked from the warm interpreter the first
one started) and its cluster up.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "increment_numbers.py"
LENGTH = 1000
GOAL = 1.1

RAW_SCRIPT = f"""
from slipstream.trace import mark
from distributed import Client, LocalCluster
mark("imported")

def inc(x):
    return x + 1

if __name__ == "__main__":
    cluster = LocalCluster(n_workers=4, dashboard_address=":0")
    client = Client(cluster)
    mark("cluster up")
    result = client.gather(client.map(inc, range({LENGTH})))
    mark("body done")
    client.close()
    cluster.close()
    mark("cluster down")
    assert result == list(range(1, {LENGTH} + 1))
"""

CALL_SCRIPT = f"""
import sys
sys.path.insert(0, {str(EXAMPLE.parent)!r})
from slipstream.trace import mark
from increment_numbers import increment_numbers
mark("imported")
assert increment_numbers(list_length={LENGTH}) == list(range(1, {LENGTH} + 1))
mark("call returned")
"""

TWICE_SCRIPT = """
from typing import List
from increment_numbers import increment_numbers
from slipstream import task, workflow

@task
def count(numbers: List[int]) -> int:
    return len(numbers)

@workflow
def increment_twice(list_length: int = 1000) -> List[int]:
    first = increment_numbers(list_length=list_length)
    return increment_numbers(list_length=count(numbers=first))
"""

# (label, trace phase or a source of our own); in the order they happen.
SLIPSTREAM_PHASES = [
    ("process start + imports", "imported"),
    ("engine ready (execution created)", "@created"),
    ("warm interpreter ready", "warm interpreter ready"),
    ("attempt process ready", "attempt process ready"),
    ("task module imported", "task imported"),
    ("cluster up (scheduler + all workers)", "cluster up"),
    ("body done", "body done"),
    ("cluster torn down", "cluster down"),
    ("outputs stored", "outputs stored"),
    ("execution recorded", "@ended"),
    ("report written (by its own process)", "report written"),
    ("process exit", "@exit"),
]
RAW_PHASES = [
    ("import distributed", "imported"),
    ("cluster up", "cluster up"),
    ("map + gather", "body done"),
    ("close", "cluster down"),
    ("process exit", "@exit"),
]


def run_traced(
    argv: list[str], env: dict[str, str], home: str, every: list[tuple[str, float]] | None = None
) -> dict[str, float]:
    """Run one process; its phases in seconds since it was started (the first time each is
    reached; `every` gets each mark in order, as (phase, seconds))."""
    trace = tempfile.mktemp(prefix="trace-", suffix=".jsonl", dir=home)
    env = {**env, "SLIPSTREAM_TRACE": trace}
    started = time.time()
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=tempfile.gettempdir())
    phases = {"@exit": time.time() - started}
    with open(trace) as lines:
        for line in lines:
            item = json.loads(line)
            name = "imported" if item["phase"] == "cli imported" else item["phase"]
            phases.setdefault(name, item["t"] - started)
            if every is not None:
                every.append((name, item["t"] - started))
    os.unlink(trace)
    return phases


def attempt_starts(marks: list[tuple[str, float]]) -> list[tuple[float, float, float]]:
    """Per Dask attempt, in order: (launched, process ready, cluster up) in seconds."""
    found: dict[str, list[float]] = {}
    for name, at in marks:
        found.setdefault(name, []).append(at)
    return list(
        zip(
            found.get("attempt launched", []),
            found.get("attempt process ready", []),
            found.get("cluster up", []),
            strict=False,
        )
    )


def latest_execution(home: str, started: float) -> tuple[float, float]:
    with sqlite3.connect(Path(home) / "slipstream.db") as db:
        created, ended = db.execute(
            "SELECT created_at, ended_at FROM executions ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    return created - started, ended - started


def slipstream_process(argv: list[str], env: dict[str, str], home: str) -> dict[str, float]:
    started = time.time()
    phases = run_traced(argv, env, home)
    phases["@created"], phases["@ended"] = latest_execution(home, started)
    return phases


def table(title: str, phases: list[tuple[str, str]], runs: list[dict[str, float]]) -> None:
    print(f"  {title}")
    previous = 0.0
    for label, key in phases:
        values = [run[key] for run in runs if key in run]
        if not values:
            continue
        at = statistics.median(values)
        print(f"    {label:<40} {at:6.2f} s  (+{at - previous:5.2f})")
        previous = at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    rounds = parser.parse_args().rounds
    if rounds < 1:
        parser.error(f"--rounds {rounds}: expected a positive number of rounds")
    home = tempfile.mkdtemp(prefix="slipstream-bench-phases-")
    env = {**os.environ, "SLIPSTREAM_HOME": home}
    python = sys.executable
    # The same example with Dask(report=False): what the Dask report costs.
    unreported = Path(home) / "increment_numbers_unreported.py"
    unreported.write_text(EXAMPLE.read_text().replace("Dask(", "Dask(report=False, ", 1))
    twice = Path(home) / "increment_twice.py"  # a second Dask task in the same execution
    twice.write_text(TWICE_SCRIPT)
    commands = {
        "run": [python, "-m", "slipstream", "run", str(EXAMPLE), "increment_numbers", "--json"],
        "run_unreported": [
            *(python, "-m", "slipstream", "run", str(unreported), "increment_numbers", "--json"),
        ],
        "call": [python, "-c", CALL_SCRIPT],
        "raw": [python, "-c", RAW_SCRIPT],
    }
    twice_command = [python, "-m", "slipstream", "run", str(twice), "increment_twice", "--json"]
    starts: list[list[tuple[float, float, float]]] = []
    slipstream_process(commands["run"], env, home)  # creates the store: not a user's every run
    results: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    load = []
    for i in range(rounds):
        order = ["run", "raw", "call", "run_unreported"]
        if i % 2:
            order.reverse()
        for name in order:
            if name == "raw":
                results[name].append(run_traced(commands[name], env, home))
            else:
                results[name].append(slipstream_process(commands[name], env, home))
        marks: list[tuple[str, float]] = []
        run_traced(twice_command, {**env, "PYTHONPATH": str(EXAMPLE.parent)}, home, marks)
        starts.append(attempt_starts(marks))
        load.append(os.getloadavg()[0])

    print(
        f"seed phases: increment {LENGTH:,} numbers on a fresh 4-worker cluster, fresh processes "
        f"({rounds} alternating rounds, medians; {os.cpu_count()} cores, "
        f"load {min(load):.1f}-{max(load):.1f})"
    )
    table(
        "`slipstream run examples/increment_numbers.py increment_numbers`",
        SLIPSTREAM_PHASES,
        results["run"],
    )
    table(
        "a script calling increment_numbers(list_length=1000)", SLIPSTREAM_PHASES, results["call"]
    )
    table(
        "the same `slipstream run` with Dask(report=False)",
        SLIPSTREAM_PHASES,
        results["run_unreported"],
    )
    table("raw dask (LocalCluster(n_workers=4) + map + gather + close)", RAW_PHASES, results["raw"])
    print("  two Dask tasks, one after the other, in one `slipstream run`:")
    for index in range(min(len(found) for found in starts)):
        launched, ready, up = (statistics.median(s[index][k] for s in starts) for k in range(3))
        print(
            f"    attempt {index + 1}: launched at {launched:5.2f} s; its process ready "
            f"{ready - launched:+.3f} s later, its cluster up {up - launched:+.2f} s later"
        )
    raw = statistics.median(r["@exit"] for r in results["raw"])
    for name, label in (("run", "`slipstream run`"), ("call", "function call")):
        total = statistics.median(r["@exit"] for r in results[name])
        print(
            f"  {label:<16} {total:6.2f} s against raw dask {raw:6.2f} s: "
            f"ratio {total / raw:.2f}x (goal <= {GOAL}x)"
        )
    run = statistics.median(r["@exit"] for r in results["run"])
    unreported_run = statistics.median(r["@exit"] for r in results["run_unreported"])
    # The report is recorded from its cluster's start; before that both runs do the same, and
    # their start-up's noise (a tenth of a second either way) would swamp what it costs. Its
    # writer runs on after its attempt, beside the engine's ending; the process waits for it.
    with_it, without = (
        statistics.median(r["@exit"] - r["cluster up"] for r in results[name])
        for name in ("run", "run_unreported")
    )
    extra = with_it - without
    written = [r for r in results["run"] if "report written" in r]
    late = statistics.median(r["report written"] - r["@ended"] for r in written) if written else 0
    spare = statistics.median(r["@exit"] - r["report written"] for r in written) if written else 0
    print(
        f"  the Dask report costs {extra:+.2f} s ({100 * extra / run:+.1f} % of the run; goal "
        f"<= 5 %): from its cluster up to the process's exit `slipstream run` takes "
        f"{with_it:.2f} s with it, {without:.2f} s with Dask(report=False) (whole runs "
        f"{run:.2f} s and {unreported_run:.2f} s); its writer ended {late:.2f} s after the "
        f"execution was recorded and {spare:.2f} s before the process exited"
    )
    print(f"  load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

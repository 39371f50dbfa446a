"""Fan-out benchmarks: compiling a 10,000-node workflow, and map_task over 100,000 items.

Run with `.venv/bin/python benchmarks/bench_fanout.py` (each map runs in a fresh child
process so its peak memory is its own). Every figure is measured in this run.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

from slipstream import dynamic, map_task, task, workflow


@task
def ident(x: int) -> int:
    return x


def bench_compile(n: int = 10_000) -> None:
    def wide(x: int) -> list[int]:
        return [ident(x=x) for _ in range(n)]

    def chain(x: int) -> int:
        for _ in range(n):
            x = ident(x=x)
        return x

    for body in (wide, chain):
        started = time.perf_counter()
        defined = workflow(body)
        seconds = time.perf_counter() - started
        assert len(defined.template.nodes) == n
        print(
            f"compile a {n:,}-node workflow ({body.__name__}): {seconds:.3f} s "
            "(trace + type checks + cycle check)"
        )


@dynamic
def fan_out(n: int) -> list[int]:
    return [ident(x=i) for i in range(n)]


def bench_dynamic(n: int = 10_000) -> None:
    from slipstream.engine.local import reset_engines

    os.environ["SLIPSTREAM_HOME"] = tempfile.mkdtemp(prefix="slipstream-bench-")
    os.environ["SLIPSTREAM_RUNNER"] = "inprocess"
    reset_engines()
    assert fan_out(n=2) == [0, 1]
    started = time.perf_counter()
    assert fan_out(n=n) == list(range(n))
    seconds = time.perf_counter() - started
    reset_engines()
    print(
        f"@dynamic fanning out to {n:,} task nodes (inprocess): {seconds:.2f} s, "
        f"{seconds / n * 1e6:.0f} us/node (trace, check, expand, run, record every node)"
    )


def _map_in_this_process(n: int, runner: str, traced: bool) -> dict[str, float]:
    """One map of n items; the figures of this process only."""
    from slipstream.engine.local import reset_engines

    os.environ["SLIPSTREAM_HOME"] = tempfile.mkdtemp(prefix="slipstream-bench-")
    os.environ["SLIPSTREAM_RUNNER"] = runner
    reset_engines()
    mapped = map_task(ident)
    assert mapped(x=[1, 2]) == [1, 2]  # warm: stores open, warm interpreter started
    xs = list(range(n))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    result = mapped(x=xs)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    assert result == xs
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline
    reset_engines()
    return {
        "seconds": seconds,
        "traced_peak_mib": peak / 2**20,
        "rss_growth_mib": grown / 1024,
        "rss_before_mib": baseline / 1024,
    }


def bench_map(n: int, runner: str, traced: bool = False) -> None:
    child = subprocess.run(
        [sys.executable, __file__, "--map", str(n), runner, "traced" if traced else "plain"],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    seconds = figures["seconds"]
    memory = (
        f"peak traced Python memory {figures['traced_peak_mib']:.1f} MiB (tracemalloc on)"
        if traced
        else f"peak RSS {figures['rss_before_mib'] + figures['rss_growth_mib']:.0f} MiB "
        f"(before the map: {figures['rss_before_mib']:.0f} MiB)"
    )
    print(
        f"map_task over {n:,} items of a trivial task ({runner}): {seconds:.2f} s, "
        f"{seconds / n * 1e6:.0f} us/item; {memory}"
    )


def main() -> None:
    if sys.argv[1:2] == ["--map"]:
        n, runner, mode = int(sys.argv[2]), sys.argv[3], sys.argv[4]
        print(json.dumps(_map_in_this_process(n, runner, mode == "traced")))
        return
    bench_compile()
    bench_dynamic()
    bench_map(10_000, "inprocess")
    bench_map(100_000, "inprocess")
    bench_map(100_000, "inprocess", traced=True)
    bench_map(2_000, "process")


if __name__ == "__main__":
    main()

"""Core benchmarks: per-task overhead, import time, cached re-run, DataFrame hand-off.

Run with `python3 dev.py bench` (or `.venv/bin/python benchmarks/bench_core.py`). Every figure
is measured in this run; ratios compare with raw pyarrow in the same run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _fresh_home() -> str:
    home = tempfile.mkdtemp(prefix="slipstream-bench-")
    os.environ["SLIPSTREAM_HOME"] = home
    return home


def _timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_overhead(runner: str) -> None:
    from slipstream.engine.local import reset_engines

    _fresh_home()
    os.environ["SLIPSTREAM_RUNNER"] = runner
    reset_engines()
    import bench_flows

    bench_flows.inc(x=0)  # warm: open stores, start the warm interpreter
    chain = _timed(lambda: bench_flows.chain_100(x=0), repeat=3 if runner == "inprocess" else 1)
    fan_in = _timed(bench_flows.fan_in_1000, repeat=3 if runner == "inprocess" else 1)
    print(
        f"overhead {runner:9}: 100-task chain {chain / 100 * 1000:7.3f} ms/task   "
        f"1,000-item fan-in {fan_in / 1001 * 1000:7.3f} ms/task"
    )
    reset_engines()
    os.environ.pop("SLIPSTREAM_RUNNER")


def bench_import() -> None:
    code = "import slipstream"
    runs = []
    for _ in range(7):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        runs.append(time.perf_counter() - started)
    baseline = []
    for _ in range(7):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - started)
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, slipstream; print(' '.join(sorted(m for m in "
            "('dask','distributed','pandas','pyarrow','sqlalchemy','fastapi','kr8s','numpy',"
            "'fsspec') if m in sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"import slipstream: {statistics.median(runs) - statistics.median(baseline):.3f} s "
        f"(process {statistics.median(runs):.3f} s, bare python "
        f"{statistics.median(baseline):.3f} s); heavy modules imported: {heavy or 'none'}"
    )


def bench_cached_rerun() -> None:
    _fresh_home()
    command = [
        str(Path(sys.executable).with_name("slipstream")),
        "run",
        str(HERE / "bench_cached_flow.py"),  # a light module: measures slipstream's own start-up
        "cached_square",
        "--n",
        "12",
    ]
    subprocess.run(command, check=True, capture_output=True)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        runs.append(time.perf_counter() - started)
        assert "cache hit" in result.stderr
    print(f"whole-process cached re-run (slipstream run ...): {statistics.median(runs):.3f} s")


def bench_frame_handoff(rows: int = 1_000_000, columns: int = 10) -> None:
    import bench_flows
    import pyarrow as pa
    import pyarrow.parquet as pq

    from slipstream.engine.local import reset_engines

    frame = bench_flows.make_frame.function(rows=rows, columns=columns)
    folder = tempfile.mkdtemp()

    def raw() -> None:
        path = os.path.join(folder, "raw.parquet")
        pq.write_table(pa.Table.from_pandas(frame), path)
        pq.read_table(path).to_pandas()

    raw_seconds = _timed(raw)

    def producer_consumer(runner: str) -> float:
        _fresh_home()
        os.environ["SLIPSTREAM_RUNNER"] = runner
        reset_engines()
        bench_flows.inc(x=0)
        seconds = _timed(lambda: bench_flows.frame_rows(frame=frame), repeat=3)
        # a task's own work (len) is nothing: what is measured is encode + store + decode
        os.environ.pop("SLIPSTREAM_RUNNER")
        return seconds

    handoff_inprocess = producer_consumer("inprocess")
    handoff_process = producer_consumer("process")
    print(
        f"DataFrame hand-off {rows:,} x {columns}: raw parquet write+read {raw_seconds:.3f} s; "
        f"slipstream in-process {handoff_inprocess:.3f} s ({handoff_inprocess / raw_seconds:.2f}x),"
        f" isolated {handoff_process:.3f} s ({handoff_process / raw_seconds:.2f}x)"
    )
    reset_engines()


def main() -> None:
    bench_import()
    bench_overhead("inprocess")
    bench_overhead("process")
    bench_cached_rerun()
    bench_frame_handoff()


if __name__ == "__main__":
    main()

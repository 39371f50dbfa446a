"""An opt-in phase trace for benchmarks: SLIPSTREAM_TRACE=FILE appends a JSON line per phase.

Called at the phases of a run (CLI imported, warm interpreter ready, attempt launched, attempt
process ready, cluster up, body done, outputs stored, cluster down);
benchmarks/bench_seed_phases.py reads the file. Off, a mark costs one environment lookup. A
leaf: imports nothing of slipstream.
"""

from __future__ import annotations

import json
import os
import time

TRACE_ENV = "SLIPSTREAM_TRACE"


def mark(phase: str) -> None:
    """Append {"phase", "t" (unix seconds), "pid"} to $SLIPSTREAM_TRACE, if it is set."""
    path = os.environ.get(TRACE_ENV)
    if not path:
        return
    line = json.dumps({"phase": phase, "t": time.time(), "pid": os.getpid()}) + "\n"
    with open(path, "a") as out:  # one write of one short line: whole lines from every process
        out.write(line)

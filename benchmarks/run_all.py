"""Runs every benchmark in benchmarks/ in turn and prints its figures: `python3 dev.py bench`.

A benchmark is a bench_*.py file that runs as a script (it has a `__main__` block); the others
(e.g. bench_flows.py, the workflows they share) are helpers. Each runs with this interpreter, in
a process of its own, one after the other so they do not slow each other down.

Usage: python benchmarks/run_all.py [NAME ...]   (NAME: e.g. dask or bench_dask; default all)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmarks() -> list[Path]:
    return [
        path
        for path in sorted(HERE.glob("bench_*.py"))
        if 'if __name__ == "__main__":' in path.read_text()
    ]


def main(argv: list[str]) -> int:
    found = {path.stem: path for path in benchmarks()}
    wanted = [name if name.startswith("bench_") else f"bench_{name}" for name in argv]
    unknown = [name for name in wanted if name not in found]
    if unknown:
        print(
            f"no benchmark {', '.join(unknown)}; expected one of: {', '.join(found)}",
            file=sys.stderr,
        )
        return 2
    failed = []
    for name in wanted or list(found):
        print(f"== {name} ==", flush=True)
        started = time.perf_counter()
        code = subprocess.run([sys.executable, str(found[name])], cwd=HERE.parent).returncode
        print(f"   ({name} took {time.perf_counter() - started:.0f} s)", flush=True)
        if code:
            failed.append(f"{name} (exit code {code})")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

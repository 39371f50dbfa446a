#!/usr/bin/env python3
"""Developer entry point: `python3 dev.py example` (the main job), `python3 dev.py test`.

Each command creates the virtual environment in .venv (from constraints.txt) when it is missing
or out of date, so a fresh machine needs nothing but Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".slipstream-installed"


def _run(*command: str | Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(c) for c in command], cwd=ROOT, env=env)
    if result.returncode:
        sys.exit(result.returncode)


def _wanted_stamp() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    """Create .venv and install slipstream with its test tools, pinned by constraints.txt."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by an older python3
        sys.exit(f"slipstream needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = _wanted_stamp()
    if STAMP.is_file() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating {VENV} ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(
        "installing slipstream and its dependencies (pinned by constraints.txt) ...",
        file=sys.stderr,
    )
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(PYTHON, "-m", "pip", "install", "--quiet", "-c", "constraints.txt", "-e", ".[test]")
    STAMP.write_text(wanted)


def example(args: list[str]) -> None:
    """The seed's Dask example: increment_numbers on its own 4-worker cluster."""
    _run(BIN / "slipstream", "run", "examples/increment_numbers.py", "increment_numbers", *args)


def test(args: list[str]) -> None:
    """Lint, format check, types, import layers, then the whole test suite."""
    _run(BIN / "ruff", "check", "slipstream", "tests", "benchmarks", "examples", "dev.py")
    _run(
        BIN / "ruff", "format", "--check", "slipstream", "tests", "benchmarks", "examples", "dev.py"
    )
    _run(BIN / "mypy")
    _run(BIN / "lint-imports")
    _run(PYTHON, "-m", "pytest", *(args or ["-q"]))


def bench(args: list[str]) -> None:
    """Every benchmark in benchmarks/, each printing its figures."""
    _run(PYTHON, "benchmarks/run_all.py", *args)


COMMANDS = {"example": example, "test": test, "bench": bench}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        names = ", ".join(COMMANDS)
        sys.exit(f"usage: python3 dev.py {{{names}}} [args...]")
    ensure_venv()
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()

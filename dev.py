#!/usr/bin/env python3
"""Developer entry point: `python3 dev.py example` (the main job), `python3 dev.py test`.

Each command creates the virtual environment in .venv (from constraints.txt) when it is missing
or out of date, so a fresh machine needs nothing but Python 3.11+. `test` also brings the
services the tests need (a throwaway PostgreSQL, Chromium) through the scripts in .ci/.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".slipstream-installed"
INSTALL_LOG = VENV / "install.log"
REQUIRE_ALL = "--require-all"


def _say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


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
    started = time.monotonic()
    if not PYTHON.exists():
        _say(f"creating the environment in {VENV} ...")
        venv.EnvBuilder(with_pip=True).create(VENV)
    _say("installing slipstream and its dependencies, pinned by constraints.txt ...")
    with INSTALL_LOG.open("w") as log:
        for command in (
            ("install", "--upgrade", "pip"),
            ("install", "-c", "constraints.txt", "-e", ".[test]"),
        ):
            log.flush()
            result = subprocess.run(
                [str(PYTHON), "-m", "pip", *command], cwd=ROOT, stdout=log, stderr=log
            )
            if result.returncode:
                log.flush()
                sys.stderr.write(INSTALL_LOG.read_text()[-8000:])
                _say(f"the install failed (pip exit {result.returncode}); log: {INSTALL_LOG}")
                sys.exit(result.returncode)
    STAMP.write_text(wanted)
    _say(f"environment ready in {time.monotonic() - started:.0f} s (pip's log: {INSTALL_LOG})")


def example(args: list[str]) -> None:
    """The seed's Dask example: increment_numbers on its own 4-worker cluster."""
    _run(BIN / "slipstream", "run", "examples/increment_numbers.py", "increment_numbers", *args)


def _service(script: str, *args: str, what: str) -> tuple[str, str]:
    """Run .ci/<script> quietly: (its one line of stdout, "") or ("", why it could not)."""
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / script), *args], cwd=ROOT, capture_output=True, text=True
    )
    value = result.stdout.strip()
    if result.returncode == 0 and value:
        _say(f"{what}: {value} (ready in {time.monotonic() - started:.0f} s)")
        return value, ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if result.returncode != 3:  # 3: not found and may not install, said in one line
        sys.stderr.write("\n".join(lines[-30:]) + "\n")
    why = lines[-1] if lines else f".ci/{script} exited {result.returncode}"
    return "", why


@contextlib.contextmanager
def test_services(require_all: bool) -> Iterator[dict[str, str]]:
    """The environment for pytest: a throwaway PostgreSQL (stopped and removed afterwards)
    unless SLIPSTREAM_TEST_POSTGRES_URL is given, and Chromium's path."""
    env = dict(os.environ)
    missing: list[str] = []
    folder = ""
    if not env.get("SLIPSTREAM_TEST_POSTGRES_URL"):
        folder = tempfile.mkdtemp(prefix="slipstream-pg.")
        _say("starting a throwaway PostgreSQL (.ci/postgres.sh) ...")
        url, why = _service("postgres.sh", "--dir", folder, what="PostgreSQL")
        if url:
            env["SLIPSTREAM_TEST_POSTGRES_URL"] = url
        else:
            env["SLIPSTREAM_TEST_POSTGRES_MISSING"] = why
            missing.append(f"PostgreSQL: {why}")
    try:
        chromium, why = _service("chromium.sh", what="Chromium")
        if chromium:
            env["SLIPSTREAM_TEST_CHROMIUM"] = chromium
        else:
            env["SLIPSTREAM_TEST_CHROMIUM_MISSING"] = why
            missing.append(f"Chromium: {why}")
        if missing and require_all:
            sys.exit("dev.py: --require-all, but " + "; ".join(missing))
        yield env
    finally:
        if folder:
            subprocess.run(
                ["bash", str(ROOT / ".ci" / "postgres.sh"), "--stop", folder],
                cwd=ROOT,
                capture_output=True,
            )
            shutil.rmtree(folder, ignore_errors=True)


def test(args: list[str]) -> None:
    """Lint, format check, types, import layers, repeated logic, then the whole test suite.

    `--require-all` (what CI uses) fails where a service cannot be had instead of skipping.
    """
    require_all = REQUIRE_ALL in args
    pytest_args = [a for a in args if a != REQUIRE_ALL] or ["-q"]
    _run(BIN / "ruff", "check", "slipstream", "tests", "benchmarks", "examples", "dev.py")
    _run(
        BIN / "ruff", "format", "--check", "slipstream", "tests", "benchmarks", "examples", "dev.py"
    )
    _run(BIN / "mypy")
    _run(BIN / "lint-imports")
    _run(BIN / "pylint", "slipstream")  # repeated logic only (see [tool.pylint] in pyproject)
    with test_services(require_all) as env:
        extra = [REQUIRE_ALL] if require_all else []
        _run(PYTHON, "-m", "pytest", *pytest_args, *extra, env=env)


def bench(args: list[str]) -> None:
    """Every benchmark in benchmarks/, each printing its figures."""
    _run(PYTHON, "benchmarks/run_all.py", *args)


COMMANDS = {"example": example, "test": test, "bench": bench}


def _stop_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)  # unwinds: a running child is killed, services are stopped


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        names = ", ".join(COMMANDS)
        sys.exit(f"usage: python3 dev.py {{{names}}} [args...]")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    ensure_venv()
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()

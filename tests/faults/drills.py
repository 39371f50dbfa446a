"""The fault drills' tools: the real `slipstream` command in a subprocess, and stores that fail.

A read-only or full folder is real when the tests run as root: a read-only bind mount or a
small tmpfs inside a private mount namespace (`unshare -m`), so nothing outside the test sees
it and nothing is left mounted. Without root, a read-only folder is chmod'ed, and a full store
is a process whose file-size limit (RLIMIT_FSIZE) makes every large write fail with EFBIG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FLOWS = Path(__file__).with_name("flows_faults.py")
IS_ROOT = os.geteuid() == 0


def _can_unshare() -> bool:
    if not IS_ROOT or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


CAN_MOUNT = _can_unshare()


def slipstream_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "slipstream", *args]


def run_cli(
    *args: str,
    env: dict[str, str],
    prefix: list[str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), *slipstream_command(*args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def full(folder: Path, size_kib: int = 256) -> list[str]:
    """A command prefix under which writes to folder fail once about size_kib were written."""
    folder.mkdir(parents=True, exist_ok=True)
    if CAN_MOUNT:
        script = f'mount -t tmpfs -o size={size_kib}k tmpfs "$0" && exec "$@"'
        return ["unshare", "-m", "sh", "-c", script, str(folder)]
    limit = (
        "import resource, signal, sys, os; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size_kib * 1024}, {size_kib * 1024})); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", limit]

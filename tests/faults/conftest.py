"""Fixtures of the fault drills: the environment of a `slipstream` subprocess, read-only folders."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from drills import CAN_MOUNT, IS_ROOT


@pytest.fixture
def cli_env(home: Path) -> dict[str, str]:
    """The environment of a `slipstream` subprocess using the test's own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM_")}
    env.update(SLIPSTREAM_HOME=str(home), SLIPSTREAM_RETRY_BACKOFF="0.01")
    return env


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], list[str]]]:
    """read_only(folder) -> a command prefix under which folder cannot be written."""
    chmodded: list[Path] = []

    def make(folder: Path) -> list[str]:
        if CAN_MOUNT:
            script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
            return ["unshare", "-m", "sh", "-c", script, str(folder)]
        if IS_ROOT:
            pytest.skip("root without mount namespaces: chmod cannot stop root writing")
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
            chmodded.append(path)
        return []

    yield make
    for path in chmodded:
        path.chmod(path.stat().st_mode | 0o200)

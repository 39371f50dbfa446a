"""Tasks and workflows the engine tests run out of process (they must import by module name)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from slipstream import Cache, task, workflow


def _bump(path: str) -> int:
    """Count a call in a file shared between processes."""
    with open(path, "a") as f:
        f.write("x")
    return Path(path).stat().st_size


@task(timeout=2)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task
def dies_once(counter: str) -> str:
    """Kills its own process on the first call: a system failure, not a user error."""
    if _bump(counter) == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


@task
def counted(counter: str, value: int) -> int:
    _bump(counter)
    return value * 10


@task
def wait_for(flag: str, counter: str) -> str:
    _bump(counter)
    deadline = time.monotonic() + 60
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.05)
    return "released"


@workflow
def crash_and_resume(first_counter: str, second_counter: str, flag: str) -> str:
    first = counted(counter=first_counter, value=1)
    second = wait_for(flag=flag, counter=second_counter)
    first >> second
    return second


@task(cache=Cache(version="1", serialize=True))
def slow_cached(counter: str, value: int) -> int:
    _bump(counter)
    time.sleep(0.5)
    return value + 1


@workflow
def slow_pair(counter: str, value: int) -> int:
    return counted(counter=counter, value=slow_cached(counter=counter, value=value))

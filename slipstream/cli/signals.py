"""SIGTERM to `slipstream run` or `executions resume`: a clean stop that leaves a resumable run.

The first SIGTERM raises Terminated in the engine's thread, which stops launching and commits
what it has recorded (the loop's `finally`); attempts in their own processes go on and are
adopted by `executions resume`, attempts in this process stop with it and are retried there
from the system budget (never the user's). Ctrl-C keeps its meaning: abort.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, NoReturn

import click

from slipstream.cli.errors import EXIT_TERMINATED


class Terminated(BaseException):
    """SIGTERM arrived while an execution ran (a BaseException: no `except Exception` eats it)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the flush
    raise Terminated


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    """While inside, SIGTERM raises Terminated in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_resumable(execution_id: str) -> NoReturn:
    """Say how to go on, then end the process at once with 143 (128 + SIGTERM).

    os._exit: the threads of attempts running in this process must not hold the exit up.
    """
    click.secho(
        f"stopped by SIGTERM: execution {execution_id} was left resumable; "
        f"go on with: slipstream executions resume {execution_id}",
        fg="yellow",
        err=True,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_TERMINATED)

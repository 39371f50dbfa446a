"""Workflows the fault drills run; each body notes its runs in $FAULTS_LOG (one line each)."""

from __future__ import annotations

import os
import time

from slipstream import current_context, task, workflow


def _note(what: str) -> None:
    """Append "<what> <node id> <attempt> <unix time>" to $FAULTS_LOG."""
    path = os.environ.get("FAULTS_LOG")
    if path:
        context = current_context()
        with open(path, "a") as log:
            log.write(f"{what} {context.node_id} {context.attempt} {time.time():.3f}\n")


@task
def step(i: int, nap: float) -> int:
    _note("start")
    time.sleep(nap)
    _note("end")
    return i + 1


@workflow
def chain(nap: float = 0.3) -> int:
    """Six steps one after another, and a seventh beside the fourth."""
    a = step(i=0, nap=nap)
    b = step(i=a, nap=nap)
    c = step(i=b, nap=nap)
    d = step(i=c, nap=nap)
    step(i=c, nap=nap)
    e = step(i=d, nap=nap)
    return step(i=e, nap=nap)


@task
def blob(size: int) -> str:
    """A string big enough to be stored as a blob (with a small offload threshold)."""
    return "x" * size


@task(cache=True, cache_version="1")
def cached_blob(size: int) -> str:
    _note("start")
    return "y" * size


@task
def length(text: str) -> int:
    return len(text)


@workflow
def cached_then_length(size: int = 4000) -> int:
    return length(text=cached_blob(size=size))

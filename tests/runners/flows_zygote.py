"""Tasks the warm-interpreter tests run on the process runner: what an attempt sees of the
interpreter it was forked from, and children it leaves behind."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psutil

from slipstream import task


@task
def facts() -> str:
    """The attempt's view of its warm interpreter (its parent) and of its own modules."""
    zygote = psutil.Process().parent()
    assert zygote is not None
    return json.dumps(
        {
            "attempt": os.getpid(),
            "zygote": zygote.pid,
            "zygote_cmdline": zygote.cmdline(),
            "zygote_parent": zygote.ppid(),
            "zygote_session": os.getsid(zygote.pid),
            "engine_imports": "wave" in sys.modules,  # imported by the engine's script only
            "main_names": sorted(name for name in vars(sys.modules["__main__"]) if name[0] != "_"),
            "env": os.environ.get("SLIPSTREAM_ZYGOTE_TEST", ""),
        }
    )


@task
def leaves_a_child(folder: str, seconds: float, detached: bool) -> int:
    """Return at once, leaving a child that writes `done-PID` after `seconds` (a report writer
    does that); `detached`: the child starts a session of its own, like a user's daemon."""
    pid = os.fork()
    if pid == 0:
        try:
            if detached:
                os.setsid()
            time.sleep(seconds)
            (Path(folder) / f"done-{os.getpid()}").write_text("done")
        finally:
            os._exit(0)
    return pid

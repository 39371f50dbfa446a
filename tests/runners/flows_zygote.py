"""Tasks the warm-interpreter tests run on the process runner: what an attempt sees of the
interpreter it was forked from, and children it leaves behind; `warmed_facts` is of a task
type whose plugin asks for a module ahead (as the Dask plugin does)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from slipstream import task
from slipstream.sdk.plugins import default_plugins


@dataclass(frozen=True)
class Warmed:
    """The task config of the plugin below."""


class WarmedPlugin:
    """A plugin with modules to import ahead: its attempts are worth a warm interpreter now."""

    task_type = "zygote-test"
    config_type = Warmed
    warm_modules = ("colorsys",)

    def config_to_json(self, config: Any) -> dict[str, Any]:
        return {}

    def needs_own_process(self, template: Any) -> bool:
        return True

    def local_context(self, template: Any, attempt: Any) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def kubernetes_objects(self, template: Any, attempt: Any, settings: Any) -> None:
        return None


default_plugins.register(WarmedPlugin())


def _facts() -> str:
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
            "preloaded": "colorsys" in sys.modules,
        }
    )


@task
def facts() -> str:
    """A plain task's view: its warm interpreter started fresh at the first attempt."""
    return _facts()


@task(task_config=Warmed())
def warmed_facts() -> str:
    """A plugin task's view: its warm interpreter started at once, forked when it can be."""
    return _facts()


@task(task_config=Warmed())
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

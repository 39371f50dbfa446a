"""The warm interpreter: for a plugin's tasks (Dask) forked from the engine's process at once
when it runs one thread (everything it imported is imported there); a fresh `python -m
slipstream.execute --zygote` when threads run (the server) and for plain tasks (a small heap);
either way it waits, bounded, for what ended attempts left running (a Dask report's writer)
and nothing of it outlives the engine's process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psutil
import pytest

from slipstream.runners.zygote import can_fork

HERE = Path(__file__).parent
REPO = HERE.parents[1]
pytestmark = pytest.mark.timeout(180)

SCRIPT = textwrap.dedent(
    """
    import sys, threading, time, wave  # wave: only this script imports it
    sys.path.insert(0, {here!r})
    ENGINE_ONLY = 1
    from flows_zygote import facts, leaves_a_child, warmed_facts
    if "--thread" in sys.argv:  # like the server: a thread runs when the engine starts
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    if "--child" in sys.argv:
        print(leaves_a_child(folder={folder!r}, seconds=float(sys.argv[-1]),
                             detached="--detached" in sys.argv))
    else:
        print(warmed_facts() if "--warmed" in sys.argv else facts())
    """
)


def _run(tmp_path: Path, *args: str) -> str:
    """Run the script as a fresh process on the process runner; its last line of output."""
    env = {
        **os.environ,
        "SLIPSTREAM_HOME": str(tmp_path / "home"),
        "SLIPSTREAM_RUNNER": "process",
        "SLIPSTREAM_ZYGOTE_TEST": "from the runner's environment",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    script = SCRIPT.format(here=str(HERE), folder=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _processes_of(home: Path) -> list[str]:
    found = []
    for process in psutil.process_iter():
        try:
            if (
                process.environ().get("SLIPSTREAM_HOME") == str(home)
                and process.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(f"{process.pid}: {' '.join(process.cmdline())[:200]}")
        except psutil.Error:
            pass
    return found


def test_a_single_threaded_engine_forks_its_warm_interpreter_for_a_plugin(tmp_path: Path) -> None:
    out = _run(tmp_path, "--warmed")
    facts = json.loads(out)
    # A fork of the engine's process: no new interpreter, no second import.
    assert "--zygote" not in facts["zygote_cmdline"]
    assert facts["zygote_cmdline"][:2] == [sys.executable, "-c"]
    assert facts["engine_imports"] is True
    assert facts["preloaded"] is True  # the plugin's warm module
    # Of its own: a session, the runner's environment, an empty __main__ (no engine script).
    assert facts["zygote_session"] == facts["zygote"]
    assert facts["env"] == "from the runner's environment"
    assert "ENGINE_ONLY" not in facts["main_names"]
    assert _processes_of(tmp_path / "home") == []  # gone with the engine's process


def test_plain_tasks_get_a_fresh_warm_interpreter(tmp_path: Path) -> None:
    # Not the engine's heap, which each attempt's fork would copy: a fresh python.
    facts = json.loads(_run(tmp_path))
    assert "--zygote" in facts["zygote_cmdline"]
    assert facts["engine_imports"] is False
    assert facts["preloaded"] is False
    assert facts["zygote_session"] == facts["zygote"]
    assert facts["env"] == "from the runner's environment"
    assert _processes_of(tmp_path / "home") == []


def test_with_threads_running_the_warm_interpreter_is_a_fresh_python(tmp_path: Path) -> None:
    out = _run(tmp_path, "--warmed", "--thread")
    facts = json.loads(out)
    assert "--zygote" in facts["zygote_cmdline"]
    assert facts["engine_imports"] is False
    assert facts["preloaded"] is True
    assert facts["zygote_session"] == facts["zygote"]
    assert facts["env"] == "from the runner's environment"
    assert _processes_of(tmp_path / "home") == []


def test_can_fork_only_while_one_thread_runs() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not can_fork()
    finally:
        release.set()
        thread.join()


@pytest.mark.parametrize("mode", ["forked", "fresh"])
def test_what_an_ended_attempt_leaves_running_ends_before_the_engine(
    mode: str, tmp_path: Path
) -> None:
    # The attempt returns at once; its child (as a Dask report's writer) finishes 2 s later.
    args = ["--child", *(["--thread"] if mode == "fresh" else []), "2"]
    out = _run(tmp_path, *args)
    child = int(out)
    assert (tmp_path / f"done-{child}").read_text() == "done"  # it was waited for, not killed
    assert _processes_of(tmp_path / "home") == []
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_a_detached_child_of_an_attempt_is_not_waited_for(tmp_path: Path) -> None:
    # A session of its own (a user's daemon) is not the attempt's to finish: no waiting on it.
    out = _run(tmp_path, "--child", "--detached", "60")
    child = int(out)
    try:
        assert psutil.Process(child).status() != psutil.STATUS_ZOMBIE
        assert not (tmp_path / f"done-{child}").exists()
    finally:
        psutil.Process(child).kill()

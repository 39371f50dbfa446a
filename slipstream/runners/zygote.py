"""A warm interpreter that forks one fresh process per attempt (`slipstream.execute --zygote`).

Started and driven by the process runner: forked from the engine's own process when that is
safe (one thread: then everything the engine imported, the user's modules and dask among
them, is imported already), else a fresh `python -m slipstream.execute --zygote`. Requests
and replies are JSON lines on its stdin/stdout.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import types
from typing import IO, Any

from slipstream.runners.contract import ENV_ORPHANS_REAPED

PR_SET_CHILD_SUBREAPER = 36  # prctl(2)
ORPHANS_GRACE_SECONDS = 20.0  # longer than a Dask report's writer may take (it stops at 15 s)


def _write(message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        written = os.write(1, data)
        data = data[written:]


def _child(request: dict[str, Any]) -> None:
    """Runs in the forked child: becomes its own session, logs to a file, runs the attempt."""
    code = 70
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        for fd in request.get("_close", ()):
            os.close(fd)
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        os.close(null_fd)
        os.environ.update(request.get("env", {}))
        if request.get("_reaped"):
            os.environ[ENV_ORPHANS_REAPED] = "1"
        root = request.get("env", {}).get("SLIPSTREAM_SOURCE_ROOT", "")
        if root and root not in sys.path:
            sys.path.insert(0, root)
        from slipstream.runners.entrypoint import run_attempt_command

        code = run_attempt_command(request["argv"])
    except BaseException as exc:
        with contextlib.suppress(Exception):
            print(f"slipstream: attempt failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(argv: list[str]) -> int:
    preload = argv[argv.index("--preload") + 1].split(",") if "--preload" in argv else []
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    sys.stdout.flush()
    # Ready at once: the engine goes on while this imports; its first request waits in the pipe.
    _write({"ready": os.getpid()})
    for name in filter(None, preload):
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module that fails here fails again, loudly, in the attempt
            print(f"slipstream zygote: cannot preload {name}: {exc}", file=sys.stderr)
    import slipstream.runners.entrypoint  # noqa: F401 - warm the attempt's own imports
    from slipstream.trace import mark

    # What is imported now is never garbage: full collections in the attempts (a Dask
    # scheduler allocates a lot) skip it, and forks share its pages.
    gc.collect()
    gc.freeze()
    reaper = _become_subreaper()
    # A child's exit must wake the loop at once: SIGCHLD writes to this pipe.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    mark("warm interpreter ready")
    attempts: set[int] = set()
    ended: set[int] = set()  # attempts that ended: what is left of their process group is ours
    buffer = b""
    while True:
        readable, _, _ = select.select([0, wake_read], [], [], 1.0)
        if wake_read in readable:
            os.read(wake_read, 4096)
        if 0 in readable:
            chunk = os.read(0, 65536)
            if not chunk:  # the engine is gone; running attempts carry on by themselves
                _wait_orphans(attempts, ended, wake_read)
                return 0
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                request["_close"] = (wake_read, wake_write)
                request["_reaped"] = reaper
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(request)
                attempts.add(pid)
                _write({"id": request["id"], "pid": pid})
        for pid, code in _reap():
            if pid in attempts:  # else an orphan of an attempt's group, adopted as subreaper
                attempts.discard(pid)
                ended.add(pid)
                _write({"pid": pid, "exit": code})


def _reap() -> list[tuple[int, int]]:
    """(pid, exit code) of every child that has ended."""
    found: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:
            return found
        found.append((pid, os.waitstatus_to_exitcode(status)))


def _become_subreaper() -> bool:
    """Adopt the orphans of our attempts (Linux): a Dask report's writer outlives its attempt
    by a second, and must not outlive the engine. True if this process is a subreaper now."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _children() -> list[int]:
    """This process's live children (Linux's /proc)."""
    found = []
    try:
        for thread in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{thread}/children") as children:
                found += [int(pid) for pid in children.read().split()]
        return found
    except OSError:  # a kernel without children files: look at every process's parent
        pass
    me = os.getpid()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == me:
                found.append(int(entry))
    return found


def _wait_orphans(attempts: set[int], ended: set[int], wake: int) -> None:
    """Before exiting: wait, bounded, for the adopted orphans of ended attempts (a report's
    writer finishing its file), then kill what is left of them. Other orphans are not ours:
    one in a process group of its own (a user's daemon) stays, as it would without us."""
    deadline = time.monotonic() + ORPHANS_GRACE_SECONDS
    while True:
        for pid, _ in _reap():
            if pid in attempts:
                attempts.discard(pid)
                ended.add(pid)
        left = []
        for pid in _children():
            with contextlib.suppress(OSError):
                if pid not in attempts and os.getpgid(pid) in ended:
                    left.append(pid)
        if not left:
            return
        if time.monotonic() > deadline:
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
            _reap()
            return
        if wake in select.select([wake], [], [], 0.05)[0]:  # woken by SIGCHLD
            os.read(wake, 4096)


class ForkedInterpreter:
    """A warm interpreter forked from this process: what the runner uses of a Popen."""

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["slipstream zygote"], timeout or 0.0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def can_fork() -> bool:
    """True if this process can be forked safely: it has fork, runs one thread, and its
    sys.stdout/stderr are its own (not replaced, as by pytest's capture: an attempt must
    write to its log file)."""
    return (
        hasattr(os, "fork")
        and threading.active_count() == 1
        and sys.stdout is sys.__stdout__
        and sys.stderr is sys.__stderr__
    )


def fork_interpreter(
    preload: list[str], paths: list[str], env: dict[str, str]
) -> ForkedInterpreter | None:
    """This process forked as a warm interpreter, if that is safe here (else None).

    Safe: one thread (a lock another thread holds would stay locked in the child for good).
    The child gets a session of its own, the runner's environment and paths, and an empty
    __main__ (worker processes must not run the engine's main script again).
    """
    if not can_fork():
        return None
    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.setsid()
            for signum in signal.valid_signals():  # the engine's handlers are not ours
                with contextlib.suppress(OSError, ValueError):
                    if callable(signal.getsignal(signum)):
                        signal.signal(signum, signal.SIG_DFL)
            os.dup2(requests_read, 0)
            os.dup2(replies_write, 1)
            for fd in {requests_read, requests_write, replies_read, replies_write} - {0, 1, 2}:
                os.close(fd)
            os.environ.update(env)
            for path in reversed(paths):
                if path and path not in sys.path:
                    sys.path.insert(0, path)
            if paths:  # as for `python -m slipstream.execute --zygote`: for what attempts start
                os.environ["PYTHONPATH"] = os.pathsep.join(
                    [*paths, *filter(None, [os.environ.get("PYTHONPATH", "")])]
                )
            sys.modules["__main__"] = types.ModuleType("__main__")
            code = serve(["--preload", ",".join(preload)])
        except BaseException as exc:
            with contextlib.suppress(Exception):
                print(f"slipstream zygote: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            os._exit(code)
    os.close(requests_read)
    os.close(replies_write)
    return ForkedInterpreter(pid, os.fdopen(requests_write, "wb"), os.fdopen(replies_read, "rb"))

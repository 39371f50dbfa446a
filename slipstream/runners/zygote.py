"""A warm interpreter that forks one fresh process per attempt (`slipstream.execute --zygote`).

Started and driven by the process runner. Requests and replies are JSON lines on stdin/stdout.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import sys
from typing import Any


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
    sys.stdout.flush()
    for name in filter(None, preload):
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module that fails here fails again, loudly, in the attempt
            print(f"slipstream zygote: cannot preload {name}: {exc}", file=sys.stderr)
    import slipstream.runners.entrypoint  # noqa: F401 - warm the attempt's own imports

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    # A child's exit must wake the loop at once: SIGCHLD writes to this pipe.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    from slipstream.trace import mark

    mark("warm interpreter ready")
    _write({"ready": os.getpid()})
    buffer = b""
    while True:
        readable, _, _ = select.select([0, wake_read], [], [], 1.0)
        if wake_read in readable:
            os.read(wake_read, 4096)
        if 0 in readable:
            chunk = os.read(0, 65536)
            if not chunk:
                return 0  # the engine is gone; running attempts carry on by themselves
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                request["_close"] = (wake_read, wake_write)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(request)
                _write({"id": request["id"], "pid": pid})
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            _write({"pid": pid, "exit": os.waitstatus_to_exitcode(status)})

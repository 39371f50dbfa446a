"""The local-process runner: each attempt is its own OS process running slipstream.execute."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from slipstream.ir import failures
from slipstream.runners.base import (
    AttemptHandle,
    AttemptResult,
    AttemptSpec,
    Runner,
    RunnerCapabilities,
    RunnerEvents,
)
from slipstream.runners.contract import (
    ENV_SOURCE_ROOT,
    LOG,
    MODULE,
    RUNTIME,
    execute_arguments,
    execute_environment,
    left_a_result,
    read_result,
    write_inputs,
)
from slipstream.runners.zygote import ORPHANS_GRACE_SECONDS, can_fork, fork_interpreter
from slipstream.trace import mark
from slipstream.types import AttemptPhase

TERMINATE_GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.05


class Zygote:
    """A warm `python -m slipstream.execute --zygote` that forks attempts on request."""

    def __init__(
        self, preload: list[str], paths: list[str], env: dict[str, str], *, fork: bool = False
    ) -> None:
        command = [sys.executable, "-m", MODULE, "--zygote"]
        if preload:
            command += ["--preload", ",".join(preload)]
        full_env = {**os.environ, **env}
        if paths:  # so the user's modules can be imported ahead of the first attempt
            full_env["PYTHONPATH"] = os.pathsep.join(
                [*paths, *filter(None, [full_env.get("PYTHONPATH", "")])]
            )
        # Forked from this process if asked and safe: everything imported here is there too.
        self._process: Any = (fork and fork_interpreter(preload, paths, env)) or subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=full_env,
            start_new_session=True,
        )
        assert self._process.stdout is not None
        self._out = self._process.stdout
        ready = json.loads(self._out.readline() or b"{}")
        if "ready" not in ready:
            raise RuntimeError("the warm interpreter failed to start")
        self._lock = threading.Lock()
        self._next_id = 0
        self._pids: dict[int, threading.Event | int] = {}
        self._spawned: dict[int, tuple[threading.Event, list[int]]] = {}
        self._exits: dict[int, int] = {}
        self._exit_events: dict[int, threading.Event] = {}
        threading.Thread(target=self._read, name="slipstream-zygote", daemon=True).start()

    def _read(self) -> None:
        for line in self._out:
            message = json.loads(line)
            with self._lock:
                if "id" in message:
                    event, box = self._spawned.pop(message["id"])
                    box.append(message["pid"])
                    event.set()
                else:
                    self._exits[message["pid"]] = message["exit"]
                    waiting = self._exit_events.pop(message["pid"], None)
                    if waiting is not None:
                        waiting.set()

    def spawn(self, argv: list[str], env: dict[str, str], log: str) -> int:
        event, box = threading.Event(), []  # type: ignore[var-annotated]
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            self._spawned[request_id] = (event, box)
            assert self._process.stdin is not None
            request = {"id": request_id, "argv": argv, "env": env, "log": log}
            self._process.stdin.write((json.dumps(request) + "\n").encode())
            self._process.stdin.flush()
        if not event.wait(30):
            raise RuntimeError("the warm interpreter did not answer")
        return box[0]

    def wait(self, pid: int) -> int:
        with self._lock:
            if pid in self._exits:
                return self._exits.pop(pid)
            event = self._exit_events.setdefault(pid, threading.Event())
        event.wait()
        with self._lock:
            return self._exits.pop(pid)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:  # it waits for what is left of ended attempts (a Dask report's writer), bounded
            self._process.wait(ORPHANS_GRACE_SECONDS + 5)
        except subprocess.TimeoutExpired:
            self._process.kill()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return ""


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


class ProcessRunner(Runner):
    """Runs attempts as processes forked from a warm interpreter (or fresh, if warm is off)."""

    name = "process"
    capabilities = RunnerCapabilities(warmable=True)

    def __init__(
        self,
        blobs: Any,
        *,
        preload: list[str] | None = None,
        paths: list[str] | None = None,
        warm: bool = True,
        env: dict[str, str] | None = None,
        offload_threshold: int = 1 << 20,
    ) -> None:
        self.blobs = blobs
        self.offload_threshold = offload_threshold
        self.warm = warm
        self.preload = list(preload or [])
        self.paths = list(paths or [])
        self.env = dict(env or {})
        self._zygote: Zygote | None = None
        self._zygote_lock = threading.Lock()
        self._cancelled: set[int] = set()

    def _warm_interpreter(self) -> Zygote:
        with self._zygote_lock:
            if self._zygote is None or not self._zygote.alive:
                self._zygote = Zygote(self.preload, self.paths, self.env)
            return self._zygote

    def warm_up(self, modules: list[str], paths: list[str], *, eager: bool = False) -> None:
        """Import these modules in the warm interpreter, if it has not started yet.

        Eager: it starts now, forked from this process when that is safe (ready at once, with
        everything imported here). Else it starts fresh at the first attempt: a smaller heap,
        which each attempt's fork and exit copy and free (about 2 ms less per attempt)."""
        with self._zygote_lock:
            if self._zygote is None:
                self.preload = sorted(set(self.preload) | set(modules))
                self.paths = [*self.paths, *(p for p in paths if p and p not in self.paths)]
                if eager and self.warm and can_fork():
                    self._zygote = Zygote(self.preload, self.paths, self.env, fork=True)

    def _log_path(self, prefix: str) -> str:
        local = self.blobs.local_path(prefix)
        if local is None:
            local = str(Path.home() / ".slipstream" / "attempt-logs" / prefix.split("/runs/")[-1])
        Path(local).mkdir(parents=True, exist_ok=True)
        return str(Path(local) / LOG)

    def launch(self, spec: AttemptSpec, events: RunnerEvents) -> AttemptHandle:
        prefix = spec.output_prefix
        write_inputs(self.blobs, spec, spec.inputs)
        argv = execute_arguments(spec)
        env = {
            **self.env,
            **spec.task.environment,
            **execute_environment(spec, self.blobs.root, self.offload_threshold),
            ENV_SOURCE_ROOT: spec.source_root,
        }
        log = self._log_path(prefix)
        mark("attempt launched")
        wait: Any
        if self.warm:
            zygote = self._warm_interpreter()
            pid = zygote.spawn(argv, env, log)

            def wait() -> int | None:
                return zygote.wait(pid)
        else:
            with open(log, "ab") as log_file:
                process = subprocess.Popen(
                    [sys.executable, "-m", MODULE, *argv],
                    env={**os.environ, **env},
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            pid = process.pid
            wait = process.wait
        handle = AttemptHandle(
            runner=self.name,
            ref={"pid": pid, "start": _start_time(pid), "prefix": prefix, "log": log},
        )
        self._watch(spec, events, pid, prefix, wait)
        return handle

    def _watch(
        self, spec: AttemptSpec, events: RunnerEvents, pid: int, prefix: str, wait: Any
    ) -> None:
        done = threading.Event()
        exit_code: list[int | None] = []

        def waiter() -> None:
            exit_code.append(wait())
            done.set()

        def watcher() -> None:
            runtime_uri = f"{prefix}/{RUNTIME}"
            reported = False
            while not done.wait(0.25 if not reported else 1.0):
                if not reported and self.blobs.exists(runtime_uri):
                    try:
                        events.attempt_info(spec, json.loads(self.blobs.read_bytes(runtime_uri)))
                        reported = True
                    except ValueError:
                        pass  # half-written: read it on the next turn
            if not reported and self.blobs.exists(runtime_uri):
                events.attempt_info(spec, json.loads(self.blobs.read_bytes(runtime_uri)))
            if pid in self._cancelled:
                return
            events.attempt_done(spec, self.collect(prefix, exit_code[0]))

        threading.Thread(target=waiter, daemon=True, name=f"slipstream-wait-{pid}").start()
        threading.Thread(target=watcher, daemon=True, name=f"slipstream-watch-{pid}").start()

    def collect(self, prefix: str, exit_code: int | None) -> AttemptResult:
        """The attempt's result from what it left in the blob store."""
        found = read_result(self.blobs, prefix)
        if found is not None:
            return found
        how = "ended" if exit_code is None else _describe_exit(exit_code)
        return AttemptResult(AttemptPhase.FAILED, error=failures.attempt_died(how))

    def cancel(self, handle: AttemptHandle) -> None:
        pid = int(handle.ref["pid"])
        self._cancelled.add(pid)
        if not _pid_alive(pid) or (
            handle.ref.get("start") and _start_time(pid) != handle.ref["start"]
        ):
            return
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + TERMINATE_GRACE_SECONDS
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(_POLL_SECONDS)
        _signal_group(pid, signal.SIGKILL)

    def adopt(self, handle: AttemptHandle, spec: AttemptSpec, events: RunnerEvents) -> bool:
        pid = int(handle.ref.get("pid", 0))
        prefix = str(handle.ref.get("prefix") or spec.output_prefix)
        alive = pid > 0 and _pid_alive(pid) and _start_time(pid) == handle.ref.get("start")
        if not alive and not left_a_result(self.blobs, prefix):
            return False

        def wait() -> None:
            while alive and _pid_alive(pid):
                time.sleep(0.1)

        self._watch(spec, events, pid, prefix, wait)
        return True

    def close(self) -> None:
        with self._zygote_lock:
            if self._zygote is not None:
                self._zygote.close()
                self._zygote = None


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"

"""What a Dask attempt keeps once its cluster is gone: logs, performance report, JSON summary.

Called by local.py while the attempt's cluster winds down (local clusters and a DaskJob's):
`begin` when the cluster is up, `keep` before its workers stop. Everything goes into the
attempt's log folder, beside attempt.log, and to the blob store when that is not a local
folder (a DaskJob's runner on Kubernetes). Every step is bounded in time and only warns on
failure: what the attempt keeps must never hold up or fail its teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipstream.sdk.plugins import AttemptContext
from slipstream.trace import mark

log = logging.getLogger("slipstream.dask")

SCHEDULER_LOG = "dask-scheduler.log"
WORKERS_LOG = "dask-workers.log"
REPORT = "dask-report.html"  # distributed's performance report: task stream, profiles, bandwidth
SUMMARY = "dask-summary.json"
LOGS_TIMEOUT = 5.0  # seconds for the scheduler and each worker to answer
REPORT_TIMEOUT = 15.0  # seconds for the scheduler to build the report's HTML
SPILL_ACTIONS = ("disk-read", "disk-write")
MAX_ERRORS = 20  # erred tasks listed in the summary


@dataclass(frozen=True)
class Recording:
    """Where the attempt's part of the cluster's history begins."""

    start: float  # unix seconds: profiles are taken from here
    index: int  # the scheduler's task stream position


async def _begin(scheduler: Any) -> Recording:
    # Also installs the scheduler's task stream plugin, so every task from here on is recorded.
    index = await asyncio.wait_for(scheduler.get_task_stream_index(), LOGS_TIMEOUT)
    return Recording(start=time.time(), index=int(index))


def begin(sync: Callable[..., Any], scheduler: Any) -> Recording | None:
    """Start recording (None if the scheduler does not answer: no report then)."""
    try:
        return sync(_begin, scheduler)
    except Exception as exc:
        log.warning("dask: cannot record a performance report: %r", exc)
        return None


async def _logs(scheduler: Any) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """The scheduler's and every worker's log lines; a worker that does not answer is noted."""
    lines = await asyncio.wait_for(scheduler.get_logs(), LOGS_TIMEOUT)
    identity = await asyncio.wait_for(scheduler.identity(), LOGS_TIMEOUT)
    names = {
        address: str(info.get("name", address)) for address, info in identity["workers"].items()
    }

    async def one(address: str) -> tuple[str, Any]:
        try:
            logs = await asyncio.wait_for(scheduler.worker_logs(workers=[address]), LOGS_TIMEOUT)
            return address, logs[address]
        except Exception as exc:  # busy in code that holds the GIL, or gone
            note = f"slipstream: no logs from this worker ({type(exc).__name__}: {exc})"
            return address, [("WARNING", note)]

    workers = dict(await asyncio.gather(*(one(address) for address in names)))
    return lines, workers, names


async def _report(
    scheduler: Any, recording: Recording, code: str, local: Any, path: Path
) -> dict[str, Any]:
    """The task stream, each worker's memory history, and the report's HTML (or its writer).

    With `local` (the cluster's own Scheduler, in this process) the HTML is built in a forked
    child from a copy of the scheduler's state, while the cluster is torn down: building it
    is a second of CPU (bokeh) for a thousand tasks. Otherwise the scheduler builds it.
    """

    async def html() -> str | int | BaseException:
        try:
            if local is not None:
                return await _fork_writer(local, recording, code, path)
            return str(
                await asyncio.wait_for(
                    scheduler.performance_report(
                        start=recording.start, last_count=0, code=code, mode=None
                    ),
                    REPORT_TIMEOUT,
                )
            )
        except Exception as exc:
            return exc

    async def memory() -> dict[str, Any]:
        try:
            return dict(
                await asyncio.wait_for(
                    scheduler.broadcast(msg={"op": "get_monitor_info"}), LOGS_TIMEOUT
                )
            )
        except Exception as exc:
            log.debug("dask: no memory history from the workers: %r", exc)
            return {}

    stream = asyncio.wait_for(scheduler.get_task_stream(start_index=recording.index), LOGS_TIMEOUT)
    tasks, monitors, page = await asyncio.gather(stream, memory(), html())
    return {"tasks": tasks, "monitors": monitors, "html": page}


async def _fork_writer(local: Any, recording: Recording, code: str, path: Path) -> int:
    """Fork a child that writes the report to `path`; its pid. Runs on the cluster's loop.

    The profiles come from the workers first (the child has no connections of its own); the
    fork happens on the loop's own thread, so the child's copy of the scheduler is whole.
    """
    profiles = await asyncio.wait_for(
        asyncio.gather(
            local.get_profile(start=recording.start),
            local.get_profile(scheduler=True, start=recording.start),
            local.get_profile(server=True, start=recording.start),
        ),
        LOGS_TIMEOUT,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.fork()
    if pid == 0:
        _write_report(local, recording, code, list(profiles), path)
    return pid


def _write_report(
    scheduler: Any, recording: Recording, code: str, profiles: list[Any], path: Path
) -> None:
    """In the forked child: build the HTML on a fresh event loop, write it, exit."""
    status = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.alarm(int(REPORT_TIMEOUT))

        async def fetched(scheduler: bool = False, server: bool = False, **_: Any) -> Any:
            return profiles[2 if server else 1 if scheduler else 0]

        scheduler.get_profile = fetched  # this copy of the scheduler has no workers to ask
        done: list[str] = []

        def build() -> None:
            report = scheduler.performance_report(
                start=recording.start, last_count=0, code=code, mode=None
            )
            done.append(asyncio.run(report))

        builder = threading.Thread(target=build)  # this thread is inside the cluster's loop
        builder.start()
        builder.join()
        partial = path.with_suffix(".partial")
        partial.write_text(done[0])
        partial.rename(path)
        status = 0
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            print(f"slipstream: the Dask report was not written: {exc!r}", file=sys.stderr)
    finally:
        os._exit(status)


def _wait_writer(pid: int, path: Path, deadline: float) -> str | BaseException:
    """The HTML the forked writer left, once it exits (killed at the deadline)."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return TimeoutError(f"not written within {REPORT_TIMEOUT:.0f} s")
        time.sleep(0.02)
    if not path.exists():
        return RuntimeError(f"its writer exited with code {os.waitstatus_to_exitcode(status)}")
    return path.read_text()


def summarize(
    tasks: list[dict[str, Any]],
    monitors: dict[str, Any],
    names: dict[str, str],
    error: BaseException | None,
) -> dict[str, Any]:
    """The summary: tasks by prefix, time by kind, peak worker memory, workers, errors."""
    from dask.utils import key_split

    by_prefix: dict[str, dict[str, Any]] = {}
    seconds = {"compute": 0.0, "transfer": 0.0, "spill": 0.0}
    workers_seen = set(names.values())
    errors: list[dict[str, str]] = []
    for task in tasks:
        prefix = key_split(task.get("key"))
        entry = by_prefix.setdefault(prefix, {"tasks": 0, "compute_seconds": 0.0, "errors": 0})
        entry["tasks"] += 1
        worker = task.get("worker")
        if worker:
            workers_seen.add(names.get(worker, str(worker)))
        for startstop in task.get("startstops", ()):
            action, spent = startstop.get("action"), startstop["stop"] - startstop["start"]
            if action == "compute":
                seconds["compute"] += spent
                entry["compute_seconds"] += spent
            elif action == "transfer":
                seconds["transfer"] += spent
            elif action in SPILL_ACTIONS:
                seconds["spill"] += spent
        if task.get("status") == "error":
            entry["errors"] += 1
            if len(errors) < MAX_ERRORS:
                text = task.get("exception_text") or task.get("exception") or ""
                errors.append({"key": str(task.get("key")), "error": str(text)})
    peaks = {}
    for address, info in monitors.items():
        history = (info or {}).get("range_query", {}).get("memory") or [0]
        peaks[names.get(address, address)] = int(max(history))
    for entry in by_prefix.values():
        entry["compute_seconds"] = round(entry["compute_seconds"], 6)
    return {
        "tasks": len(tasks),
        "by_prefix": dict(sorted(by_prefix.items())),
        "seconds": {kind: round(value, 6) for kind, value in seconds.items()},
        "peak_worker_memory": max(peaks.values(), default=0),
        "peak_memory_by_worker": dict(sorted(peaks.items())),
        "workers_seen": len(workers_seen),
        "workers": sorted(workers_seen),
        "errors": errors,
        "task_error": None if error is None else f"{type(error).__name__}: {error}",
    }


async def _gather(
    scheduler: Any, recording: Recording | None, code: str, local: Any, path: Path
) -> tuple[tuple[Any, dict[str, Any], dict[str, str]] | BaseException, dict[str, Any] | None]:
    async def logs() -> tuple[Any, dict[str, Any], dict[str, str]] | BaseException:
        try:
            return await _logs(scheduler)
        except Exception as exc:
            return exc

    async def report() -> dict[str, Any] | None:
        if recording is None:
            return None
        try:
            return await _report(scheduler, recording, code, local, path)
        except Exception as exc:
            log.warning("dask: could not collect the performance report: %r", exc)
            return None

    found_logs, found_report = await asyncio.gather(logs(), report())
    return found_logs, found_report


class Kept:
    """What `keep` collected; `finish` writes it once the report's writer is done."""

    def __init__(
        self,
        attempt: AttemptContext,
        found_logs: Any,
        found_report: dict[str, Any] | None,
        error: BaseException | None,
        path: Path,
    ) -> None:
        self.attempt = attempt
        self.found_logs = found_logs
        self.found_report = found_report
        self.error = error
        self.path = path
        self.deadline = time.monotonic() + REPORT_TIMEOUT

    def finish(self) -> None:
        """Write the logs, the report and the summary (waits for the writer, bounded)."""
        files: dict[str, str] = {}
        names: dict[str, str] = {}
        if isinstance(self.found_logs, BaseException):
            log.warning("dask: could not save the cluster's logs: %r", self.found_logs)
        elif self.found_logs is not None:
            lines, workers, names = self.found_logs
            files[SCHEDULER_LOG] = _lines(lines)
            parts = []
            for address in sorted(workers, key=lambda a: names.get(a, a)):
                parts.append(f"==> worker {names.get(address, address)} ({address}) <==\n")
                parts.append(_lines(workers[address]))
            files[WORKERS_LOG] = "".join(parts)
        found = self.found_report
        if found is not None:
            summary = summarize(found["tasks"], found["monitors"], names, self.error)
            page = found["html"]
            if isinstance(page, int):
                page = _wait_writer(page, self.path, self.deadline)
            if isinstance(page, BaseException):
                summary["report"] = f"not written: {type(page).__name__}: {page}"
                log.warning("dask: could not write the performance report: %r", page)
            else:
                files[REPORT] = page
                summary["report"] = REPORT
            files[SUMMARY] = json.dumps(summary, indent=1) + "\n"
            mark("report written")
        _write(self.attempt, files)


def keep(
    sync: Callable[..., Any],
    scheduler: Any,
    attempt: AttemptContext,
    recording: Recording | None,
    *,
    code: str = "",
    error: BaseException | None = None,
    local: Any = None,
) -> Kept:
    """Collect the cluster's logs, and its report and summary if `recording` (in parallel).

    Call before the workers stop, then `finish()` the result after the cluster is gone.
    `sync` runs a coroutine function on the cluster's (or client's) event loop; `scheduler`
    is an RPC handle to the scheduler; `local` the Scheduler itself when it runs here.
    """
    path = Path(attempt.log_dir or ".") / REPORT
    if not attempt.log_dir:
        return Kept(attempt, None, None, error, path)
    try:
        found_logs, found_report = sync(_gather, scheduler, recording, code, local, path)
    except Exception as exc:
        log.warning("dask: could not save the cluster's logs in %s: %r", attempt.log_dir, exc)
        return Kept(attempt, None, None, error, path)
    return Kept(attempt, found_logs, found_report, error, path)


def _lines(entries: Any) -> str:
    """Dask keeps log lines newest first as (level, line) pairs."""
    return "".join(line + "\n" for _level, line in reversed(list(entries)))


def _write(attempt: AttemptContext, files: dict[str, str]) -> None:
    """Into the log folder; also to the blob store when the attempt's folder is not local."""
    if not attempt.log_dir or not files:
        return
    try:
        folder = Path(attempt.log_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            if name != REPORT or not (folder / name).exists():  # the writer's is there
                (folder / name).write_text(text)
        blob_url = os.environ.get("SLIPSTREAM_BLOB_URL", "")
        if not blob_url:
            return
        from slipstream.storage.blobs import BlobStore

        blobs = BlobStore(blob_url)
        if blobs.local_path(attempt.output_prefix) is not None:
            return  # the log folder is the attempt's folder in the store
        for name, text in files.items():
            blobs.write_bytes(f"{attempt.output_prefix}/{name}", text.encode())
    except Exception as exc:
        log.warning("dask: could not keep %s: %r", ", ".join(files), exc)

"""What a Dask attempt keeps once its cluster is gone: logs, performance report, JSON summary.

Called by local.py while the attempt's cluster winds down (local clusters and a DaskJob's):
`begin` when the cluster is up, `keep` before its workers stop. Everything goes into the
attempt's log folder, beside attempt.log, and to the blob store when that is not a local
folder (a DaskJob's runner on Kubernetes). Every step is bounded in time and only warns on
failure: what the attempt keeps must never hold up or fail its teardown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipstream.dask import page
from slipstream.dask.writer import (
    REPORT,
    REPORT_TIMEOUT,
    SUMMARY,
    Writer,
    fork_writer,
    to_json,
    wait_writer,
    write_files,
)
from slipstream.sdk.plugins import AttemptContext
from slipstream.trace import mark

log = logging.getLogger("slipstream.dask")

SCHEDULER_LOG = "dask-scheduler.log"
WORKERS_LOG = "dask-workers.log"
LOGS_TIMEOUT = 5.0  # seconds for the scheduler and each worker to answer
SPILL_ACTIONS = ("disk-read", "disk-write")
MAX_ERRORS = 20  # erred tasks listed in the summary


@dataclass(frozen=True)
class SchedulerAccess:
    """How keep reaches a cluster's scheduler."""

    sync: Callable[..., Any]  # runs a coroutine function on the cluster's (or client's) loop
    rpc: Any  # an RPC handle to the scheduler
    local: Any = None  # the Scheduler itself, when it runs in this process
    # Else: Client.run_on_scheduler, asynchronous (the report's page is built there).
    run_on_scheduler: Callable[..., Awaitable[Any]] | None = None


@dataclass(frozen=True)
class Recording:
    """Where the attempt's part of the cluster's history begins."""

    start: float  # unix seconds: the profile is taken from here
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


async def _report(access: SchedulerAccess, recording: Recording, code: str) -> dict[str, Any]:
    """The task stream, each worker's memory history, and the report's page or, for a local
    Scheduler (in this process), the profile its forked writer needs."""
    scheduler, local = access.rpc, access.local

    async def html() -> str | BaseException | None:
        if local is not None:
            return None  # built by a forked writer (writer.py)
        try:  # built where the scheduler is: a DaskJob's scheduler runs the task's image
            if access.run_on_scheduler is None:
                raise RuntimeError("no way to run code where the scheduler is")
            built = access.run_on_scheduler(
                page.build_on_scheduler, start=recording.start, code=code
            )
            return str(await asyncio.wait_for(built, REPORT_TIMEOUT))
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

    async def profile() -> Any:  # None: not needed; an exception: not had
        if local is None:
            return None
        try:  # the writer has no connections of its own: fetch the profile for it
            return await asyncio.wait_for(page.fetch_profile(local, recording.start), LOGS_TIMEOUT)
        except Exception as exc:
            return exc

    stream = asyncio.wait_for(scheduler.get_task_stream(start_index=recording.index), LOGS_TIMEOUT)
    tasks, monitors, built, fetched = await asyncio.gather(stream, memory(), html(), profile())
    return {"tasks": tasks, "monitors": monitors, "html": built, "profile": fetched}


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
    access: SchedulerAccess, recording: Recording | None, code: str, writer: Writer
) -> tuple[Any, dict[str, Any] | None, int | None]:
    """Logs and report data at once; then, for a local cluster, the report's writer forked."""

    async def logs() -> tuple[Any, dict[str, Any], dict[str, str]] | BaseException:
        try:
            return await _logs(access.rpc)
        except Exception as exc:
            return exc

    async def report() -> dict[str, Any] | None:
        if recording is None:
            return None
        try:
            return await _report(access, recording, code)
        except Exception as exc:
            log.warning("dask: could not collect the performance report: %r", exc)
            return None

    found_logs, found_report = await asyncio.gather(logs(), report())
    profile = None if found_report is None else found_report["profile"]
    if recording is None or found_report is None or profile is None:
        return found_logs, found_report, None
    names = {} if isinstance(found_logs, BaseException) else found_logs[2]
    writer.summary = summarize(found_report["tasks"], found_report["monitors"], names, writer.error)
    if isinstance(profile, BaseException):
        found_report["html"] = profile
        return found_logs, found_report, None
    try:
        pid = fork_writer(access.local, recording.start, code, profile, writer)
        return found_logs, found_report, pid
    except Exception as exc:
        found_report["html"] = exc
        return found_logs, found_report, None


class Kept:
    """What `keep` collected; `finish` writes it once the cluster is gone."""

    def __init__(
        self,
        attempt: AttemptContext,
        found_logs: Any,
        found_report: dict[str, Any] | None,
        writer: Writer,
        writer_pid: int | None = None,
    ) -> None:
        self.attempt = attempt
        self.found_logs = found_logs
        self.found_report = found_report
        self.writer = writer
        self.writer_pid = writer_pid
        self.deadline = time.monotonic() + REPORT_TIMEOUT

    def finish(self) -> None:
        """Write the logs, and the report and summary unless a forked writer does.

        That writer is waited for (bounded) only when no runner waits for it: a warm
        interpreter adopts it as this attempt ends, and the engine waits before it ends.
        """
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
        if found is not None and self.writer_pid is None:
            summary = summarize(found["tasks"], found["monitors"], names, self.writer.error)
            page = found["html"]
            if isinstance(page, BaseException) or page is None:
                summary["report"] = f"not written: {type(page).__name__}: {page}"
                log.warning("dask: could not write the performance report: %r", page)
            else:
                files[REPORT] = page
                summary["report"] = REPORT
            files[SUMMARY] = to_json(summary)
        write_files(self.attempt, files)
        if self.writer_pid is None:
            if found is not None:
                mark("report written")
        elif not self.attempt.orphans_reaped:
            wait_writer(self.writer_pid, self.deadline)
            mark("report waited for")


def keep(
    access: SchedulerAccess,
    attempt: AttemptContext,
    recording: Recording | None,
    *,
    code: str = "",
    error: BaseException | None = None,
) -> Kept:
    """Collect the cluster's logs, and its report and summary if `recording` (in parallel).

    Call before the workers stop, then `finish()` the result after the cluster is gone.
    """
    writer = Writer(Path(attempt.log_dir or "."), attempt, {}, error)
    if not attempt.log_dir:
        return Kept(attempt, None, None, writer)
    try:
        found_logs, found_report, pid = access.sync(_gather, access, recording, code, writer)
    except Exception as exc:
        log.warning("dask: could not save the cluster's logs in %s: %r", attempt.log_dir, exc)
        return Kept(attempt, None, None, writer)
    return Kept(attempt, found_logs, found_report, writer, pid)


def _lines(entries: Any) -> str:
    """Dask keeps log lines newest first as (level, line) pairs."""
    return "".join(line + "\n" for _level, line in reversed(list(entries)))

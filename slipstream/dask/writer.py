"""The Dask report's writer: a child forked from a Dask attempt builds the report's page
(page.py) from its copy of the scheduler, and writes it and the attempt's summary.

Used by keep.py. Building the page is a few tenths of a second of bokeh CPU for a thousand
tasks: the attempt tears its cluster down and ends meanwhile. Files go to the attempt's log folder
(beside attempt.log), and to the blob store when that is not a local folder. While the writer
runs, the summary's "report" is "being written" and "report_by" says until when (unix time).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipstream.dask.page import build
from slipstream.sdk.plugins import AttemptContext
from slipstream.trace import mark

log = logging.getLogger("slipstream.dask")

REPORT = "dask-report.html"  # task stream, compute profile, bandwidth: see page.py
SUMMARY = "dask-summary.json"
REPORT_TIMEOUT = 15.0  # seconds to build the report's HTML
BEING_WRITTEN = "being written"  # the summary's "report" while its writer runs (see report_by)


@dataclass
class Writer:
    """What the forked writer writes: where, for which attempt, and the summary to finish."""

    folder: Path
    attempt: AttemptContext
    summary: dict[str, Any]
    error: BaseException | None  # what the body raised, for the summary


def fork_writer(local: Any, start: float, code: str, compute_profile: Any, writer: Writer) -> int:
    """Fork the child that writes the report and the final summary; its pid.

    Called on the cluster's event loop, so the child's copy of the scheduler is whole. The
    summary saying "being written" (until when) is on disk before the child exists.
    """
    writer.folder.mkdir(parents=True, exist_ok=True)
    pending = {**writer.summary, "report": BEING_WRITTEN, "report_by": time.time() + REPORT_TIMEOUT}
    atomic_write(writer.folder / SUMMARY, to_json(pending))
    pid = os.fork()
    if pid == 0:
        _write_report(local, start, code, compute_profile, writer)
    return pid


def _write_report(
    scheduler: Any, start: float, code: str, compute_profile: Any, writer: Writer
) -> None:
    """In the forked child: build the page from this copy of the scheduler, write it and the
    summary. (This child has no connections of its own: the profile was fetched for it.)"""
    status = 1
    summary = dict(writer.summary)
    page = ""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGALRM, _out_of_time)
        signal.alarm(int(REPORT_TIMEOUT))
        _no_bokeh_validation()
        page = build(scheduler, start, code, compute_profile)
        summary["report"] = REPORT
        status = 0
    except BaseException as exc:
        summary["report"] = f"not written: {type(exc).__name__}: {exc}"
        with contextlib.suppress(BaseException):
            print(f"slipstream: the Dask report was not written: {exc!r}", file=sys.stderr)
    finally:
        try:
            signal.alarm(0)
            files = {REPORT: page} if status == 0 else {}
            write_files(writer.attempt, {**files, SUMMARY: to_json(summary)})  # in this order
            mark("report written")
        finally:
            os._exit(status)


def _out_of_time(signum: int, frame: Any) -> None:
    raise TimeoutError(f"not written within {REPORT_TIMEOUT:.0f} s")


def _no_bokeh_validation() -> None:
    """Bokeh checks the whole document before it writes the page: the report's models are
    distributed's own, checked by its tests. (Property checks stay: they also convert.)"""
    with contextlib.suppress(Exception):
        from bokeh.settings import settings

        settings.perform_document_validation.set_value(False)


def wait_writer(pid: int, deadline: float) -> None:
    """Wait for the forked writer to exit (killed at the deadline)."""
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.02)


def to_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=1) + "\n"


def atomic_write(path: Path, text: str) -> None:
    """Readers see the old file or the whole new one, never half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.rename(path)


def write_files(attempt: AttemptContext, files: dict[str, str]) -> None:
    """Into the log folder; also to the blob store when the attempt's folder is not local."""
    if not attempt.log_dir or not files:
        return
    try:
        folder = Path(attempt.log_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            atomic_write(folder / name, text)
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

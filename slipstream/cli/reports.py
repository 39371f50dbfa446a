"""`slipstream executions report ID NODE`: the Dask report an attempt kept; names for `show`.

The Dask plugin keeps dask-report.html (Dask's performance report, dask/page.py) and
dask-summary.json beside an attempt's logs; executions.py lists them and adds this command to
its group.
"""

from __future__ import annotations

import json
import time
import webbrowser
from pathlib import Path
from typing import Any

import click

from slipstream.cli.attempts import chosen_attempt

REPORT = "dask-report.html"
SUMMARY = "dask-summary.json"


def kept_reports(blobs: Any, attempt: Any) -> dict[str, str]:
    """{"report": where, "summary": where} of the files the attempt kept (local paths if local)."""
    found = {}
    for key, name in (("report", REPORT), ("summary", SUMMARY)):
        uri = f"{attempt.output_prefix}/{name}"
        if blobs.exists(uri):
            found[key] = blobs.local_path(uri) or uri
    return found


def missing_report(summary: dict[str, Any] | None, now: float) -> str:
    """Why there is no report file: still being written, not written (and why), or none kept.

    While the Dask plugin's writer builds the page its summary says "being written" until
    `report_by` (unix seconds); after that time the writer is gone without finishing.
    """
    state = str((summary or {}).get("report", ""))
    if state == "being written":
        by = float((summary or {}).get("report_by", 0.0))
        if now <= by:
            return f"its Dask report is still being written (for up to {by - now:.0f} s more)"
        return "its Dask report was not written: its writer stopped before it finished"
    if state.startswith("not written"):
        return f"its Dask report was {state}"
    return (
        "kept no Dask report: it is not a Dask task, its Dask(report=False), or it was "
        "stopped before its body ended"
    )


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary for people: tasks by prefix, where the time went, memory, workers, errors."""
    prefixes = ", ".join(
        f"{name} {entry['tasks']:,}" for name, entry in summary.get("by_prefix", {}).items()
    )
    seconds = summary.get("seconds", {})
    lines = [
        f"tasks {summary.get('tasks', 0):,}" + (f" ({prefixes})" if prefixes else ""),
        "compute {:.2f} s, transfer {:.2f} s, spill {:.2f} s".format(
            seconds.get("compute", 0.0), seconds.get("transfer", 0.0), seconds.get("spill", 0.0)
        ),
        f"peak worker memory {summary.get('peak_worker_memory', 0) / (1 << 20):,.0f} MiB, "
        f"workers seen {summary.get('workers_seen', 0)}",
    ]
    errors = summary.get("errors") or []
    if errors:
        lines.append(f"erred tasks {len(errors)}: first {errors[0]['key']}: {errors[0]['error']}")
    if summary.get("task_error"):
        lines.append(f"the task raised {summary['task_error']}")
    return lines


@click.command("report")
@click.argument("execution_id", metavar="ID")
@click.argument("node")
@click.option("--attempt", type=int, default=None, help="Which attempt (default: the last).")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the HTML (default: dask-report-ID-NODE.html here).",
)
@click.option("--open", "open_it", is_flag=True, help="Open the report in a web browser.")
def report(
    execution_id: str, node: str, attempt: int | None, output: Path | None, open_it: bool
) -> None:
    """Write the Dask performance report a Dask task's attempt kept (task stream, profiles)."""
    from slipstream.cli.context import engine as make_engine

    engine = make_engine()
    if engine.store.get_execution(execution_id) is None:
        raise click.BadParameter(f"no execution {execution_id!r}", param_hint="ID")
    chosen = chosen_attempt(engine.store, execution_id, node, attempt)
    uri = f"{chosen.output_prefix}/{REPORT}"
    summary_uri = f"{chosen.output_prefix}/{SUMMARY}"
    summary = (
        json.loads(engine.blobs.read_bytes(summary_uri))
        if engine.blobs.exists(summary_uri)
        else None
    )
    if not engine.blobs.exists(uri):
        raise click.ClickException(
            f"attempt {chosen.attempt} of {node!r}: {missing_report(summary, time.time())}"
        )
    target = output or Path(f"dask-report-{execution_id}-{node.replace('/', '-')}.html")
    target.write_bytes(engine.blobs.read_bytes(uri))
    click.echo(str(target))
    if summary is not None:
        for line in summary_lines(summary):
            click.echo(f"  {line}", err=True)
    if open_it and not webbrowser.open(target.resolve().as_uri()):
        raise click.ClickException(f"no web browser to open {target}; it is written there")

"""Live progress of an execution on stderr: a rich table on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from typing import Any

import click

from slipstream.engine.observer import Observer

MAX_ROWS = 20
SUMMARY_LINE_SECONDS = 2.0  # off a terminal, a map's item counts at most this often
_COLOURS = {
    "QUEUED": "dim",
    "RUNNING": "cyan",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "SKIPPED": "yellow",
    "ABORTED": "magenta",
}


class _Row:
    __slots__ = ("attempts", "cached", "dashboard", "ended", "node", "phase", "started", "summary")

    def __init__(self, node: str) -> None:
        self.node = node
        self.phase = "QUEUED"
        self.attempts = 0
        self.cached = False
        self.dashboard = ""
        self.summary = ""  # a map node's item counts
        self.started: float | None = None
        self.ended: float | None = None

    def elapsed(self, now: float) -> str:
        if self.started is None:
            return ""
        return f"{(self.ended or now) - self.started:.1f}s"


class Progress(Observer):
    """Shows nodes, phases, attempts, cache hits, elapsed time and Dask dashboard links."""

    def __init__(self, live: bool | None = None) -> None:
        self.live = sys.stderr.isatty() if live is None else live
        self.rows: dict[str, _Row] = {}
        self.started = time.monotonic()
        self.execution_id = ""
        self._lock = threading.Lock()
        self._display: Any = None
        self._summary_printed: dict[str, float] = {}

    def execution_started(self, run: Any) -> None:
        self.execution_id = run.record.id
        self.started = time.monotonic()
        with self._lock:
            for node_id, state in run.states.items():
                self._row(node_id, state)
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._display = Live(
                self._render(),
                console=Console(stderr=True),
                refresh_per_second=4,
                transient=False,
                get_renderable=self._render,
            )
            self._display.start()
        else:
            click.echo(f"execution {self.execution_id} ({run.record.name}) started", err=True)

    def _row(self, node_id: str, state: Any) -> _Row:
        row = self.rows.get(node_id)
        if row is None:
            row = self.rows[node_id] = _Row(node_id)
        record = state.record
        row.phase, row.attempts, row.cached = record.phase, record.attempts, record.cached
        row.started, row.ended = record.started_at, record.ended_at
        return row

    def node_changed(self, run: Any, state: Any) -> None:
        with self._lock:
            before = self.rows.get(state.id)
            old = (before.phase, before.attempts) if before else None
            row = self._row(state.id, state)
        quiet = row.phase == "QUEUED" or (row.phase == "RUNNING" and not row.attempts)
        if not self.live and old != (row.phase, row.attempts) and not quiet:
            extra = " (cache hit)" if row.cached else ""
            if row.phase == "RUNNING" and row.attempts:
                extra = f" (attempt {row.attempts})"
            click.echo(
                f"[{time.monotonic() - self.started:7.2f}s] {row.node}: {row.phase}{extra}",
                err=True,
            )

    def node_info(self, run: Any, state: Any, info: dict[str, Any]) -> None:
        if "items" in info:
            summary = _items_summary(info)
            with self._lock:
                self._row(state.id, state).summary = summary
            now = time.monotonic()
            quiet_until = self._summary_printed.get(state.id, 0.0) + SUMMARY_LINE_SECONDS
            if not self.live and (now >= quiet_until or not info.get("running")):
                self._summary_printed[state.id] = now
                click.echo(f"[{self._elapsed()}] {state.id}: {summary}", err=True)
            return
        dashboard = info.get("dashboard", "")
        with self._lock:
            self._row(state.id, state).dashboard = dashboard
        notice = info.get("notice", "")
        if notice:  # e.g. the Dask plugin saying how it clamped the cluster to this machine
            if self._display is not None:
                self._display.console.print(f"{state.id}: {notice}")
            else:
                click.echo(f"[{self._elapsed()}] {state.id}: {notice}", err=True)
        if dashboard and not self.live:
            click.echo(f"[{self._elapsed()}] {state.id}: Dask dashboard {dashboard}", err=True)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started:7.2f}s"

    def execution_changed(self, run: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._display is not None:
            self._display.stop()
            self._display = None

    def _render(self) -> Any:
        from rich.table import Table

        now_wall = time.time()
        with self._lock:
            rows = list(self.rows.values())
        counts = Counter(row.phase for row in rows)
        elapsed = time.monotonic() - self.started
        title = f"execution {self.execution_id}  {elapsed:.1f}s  " + "  ".join(
            f"{phase.lower()} {count}" for phase, count in sorted(counts.items())
        )
        table = Table(title=title, title_justify="left", expand=False)
        for column in ("node", "phase", "attempts", "elapsed", "dashboard"):
            table.add_column(column)
        shown = [r for r in rows if r.phase == "RUNNING"] + [
            r for r in rows if r.phase != "RUNNING"
        ]
        for row in shown[:MAX_ROWS]:
            phase = row.phase + (" (cached)" if row.cached else "")
            table.add_row(
                row.node + (f"  [dim]{row.summary}" if row.summary else ""),
                f"[{_COLOURS.get(row.phase, '')}]{phase}",
                str(row.attempts or ""),
                row.elapsed(now_wall),
                row.dashboard,
            )
        if len(shown) > MAX_ROWS:
            table.add_row(f"... {len(shown) - MAX_ROWS} more", "", "", "", "")
        return table


def _items_summary(info: dict[str, Any]) -> str:
    """`1,234/10,000 items: 1,200 succeeded (30 cached), 4 failed, 30 running`."""
    done = info.get("succeeded", 0) + info.get("failed", 0)
    return (
        f"{done:,}/{info.get('items', 0):,} items: {info.get('succeeded', 0):,} succeeded "
        f"({info.get('cached', 0):,} cached), {info.get('failed', 0):,} failed, "
        f"{info.get('running', 0):,} running"
    )

"""The Dask report's HTML page, drawn with distributed's own dashboard figures by the scheduler.

Called by writer.py (in a forked copy of a local cluster's scheduler) and by keep.py on a
DaskJob's scheduler (`run_on_scheduler`). It has the tabs of Dask's performance report but
three, which are about half the time it takes to build and say nothing of the user's tasks:
System (the scheduler process's CPU, memory and file descriptors over time) and the profiles
of Dask's own event loops (the workers' and the scheduler's "administrative" profiles). The
bandwidth tabs are charts only when some data moved between workers.
"""

from __future__ import annotations

import html
import time
from collections import defaultdict
from typing import Any

TITLE = "Dask Performance Report"
NO_TRANSFERS = (
    "No data moved between workers: none reported by their heartbeats (each reports what it "
    "fetched from the others since its last one)."
)
TABS = (
    "Summary",
    "Task Stream",
    "Worker Profile (compute)",
    "Bandwidth (Workers)",
    "Bandwidth (Types)",
    "Scheduler Logs",
)


async def fetch_profile(scheduler: Any, start: float) -> Any:
    """The workers' compute profile since `start`: what build() draws."""
    return await scheduler.get_profile(start=start)


async def build_on_scheduler(dask_scheduler: Any, start: float, code: str) -> str:
    """The page, built in the scheduler's own process (Client.run_on_scheduler)."""
    return build(dask_scheduler, start, code, await fetch_profile(dask_scheduler, start))


def build(scheduler: Any, start: float, code: str, compute_profile: Any) -> str:
    """The page for what the scheduler ran since `start` (unix seconds), as a string."""
    from bokeh.embed import file_html
    from bokeh.models import TabPanel, Tabs
    from bokeh.resources import CDN
    from distributed import profile
    from distributed.dashboard.components.scheduler import (
        BandwidthTypes,
        BandwidthWorkers,
        SchedulerLogs,
        task_stream_figure,
    )
    from distributed.diagnostics.task_stream import rectangles

    stopped = time.time()
    tasks = scheduler.get_task_stream(start=start)
    source, stream = task_stream_figure(sizing_mode="stretch_both")
    source.data.update(rectangles(tasks))
    compute, _ = profile.plot_figure(profile.plot_data(compute_profile), sizing_mode="stretch_both")
    if scheduler.bandwidth_workers or scheduler.bandwidth_types:
        by_workers = BandwidthWorkers(scheduler, sizing_mode="stretch_both")
        by_workers.update()
        by_types = BandwidthTypes(scheduler, sizing_mode="stretch_both")
        by_types.update()
        bandwidth = [by_workers.root, by_types.root]
    else:  # two empty charts would say less, and cost a third of the page
        bandwidth = [_note(f"<p>{NO_TRANSFERS}</p>"), _note(f"<p>{NO_TRANSFERS}</p>")]
    children = [
        _summary(scheduler, tasks, stopped - start, code),
        stream,
        compute,
        *bandwidth,
        SchedulerLogs(scheduler, start=start).root,
    ]
    panels = [TabPanel(child=child, title=name) for name, child in zip(TABS, children, strict=True)]
    tabs = Tabs(tabs=panels, sizing_mode="stretch_both")
    return str(file_html(tabs, CDN, TITLE))


def _note(text: str) -> Any:
    from bokeh.models.widgets import Div

    return Div(text=text, styles={"padding": "12px", "overflow": "auto"})


def _summary(scheduler: Any, tasks: list[dict[str, Any]], seconds: float, code: str) -> Any:
    import dask
    import distributed
    from dask.utils import format_bytes, format_time

    spent: defaultdict[str, float] = defaultdict(float)
    for task in tasks:
        for startstop in task.get("startstops", ()):
            spent[startstop["action"]] += startstop["stop"] - startstop["start"]
    workers = scheduler.workers.values()
    facts = [
        ("Duration", format_time(seconds)),
        ("number of tasks", str(len(tasks))),
        *((f"{action} time", format_time(spent[action])) for action in sorted(spent)),
        ("Scheduler", str(scheduler.address)),
        ("Workers", str(len(workers))),
        ("Threads", str(sum(worker.nthreads for worker in workers))),
        ("Memory", format_bytes(sum(worker.memory_limit or 0 for worker in workers))),
        ("Dask", f"{dask.__version__}, distributed {distributed.__version__}"),
    ]
    items = "".join(f"<li>{html.escape(name)}: {html.escape(value)}</li>" for name, value in facts)
    return _note(
        f"<h1>{TITLE}</h1><ul>{items}</ul><h2>Calling code</h2><pre>{html.escape(code)}</pre>"
    )

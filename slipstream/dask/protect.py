"""A DaskJob scheduler preload: the autoscaler may only retire workers of the default group.

The dask-kubernetes operator scales a DaskJob's default worker group by asking the
scheduler which workers to close, among all of them, and deleting those workers' Deployments
(dask/dask-kubernetes#914): without this, it can take a GPU group's last worker and tasks
asking for `resources={"gpu": 1}` wait forever. build_daskjob starts the scheduler with
`--preload slipstream.dask.protect` when the default group is adaptive and other groups
exist, with SLIPSTREAM_DASK_AUTOSCALED_GROUP naming the default group (its workers carry the
Dask resource `{<name>: 1}`); the scheduler's image must then hold slipstream.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from slipstream.dask.kubernetes import AUTOSCALED_GROUP_ENV as GROUP_ENV

log = logging.getLogger("slipstream.dask")
PLUGIN_NAME = "slipstream-keep-other-groups"


class KeepOtherGroups(SchedulerPlugin):
    """Only workers holding the resource `group` are offered for downscaling."""

    name = PLUGIN_NAME

    def __init__(self, group: str) -> None:
        self.group = group

    def valid_workers_downscaling(self, scheduler: Any, workers: list[Any]) -> list[Any]:
        return [ws for ws in workers if self.group in (ws.resources or {})]


def dask_setup(scheduler: Any) -> None:
    """Called by `dask scheduler --preload slipstream.dask.protect`."""
    group = os.environ.get(GROUP_ENV, "")
    if not group:
        log.warning("%s is not set: every worker group may be scaled down", GROUP_ENV)
        return
    scheduler.add_plugin(KeepOtherGroups(group), name=PLUGIN_NAME)

"""The Dask plugin: Dask(...) task config, a LocalCluster per attempt, DaskJob manifests.

Importing it registers the "dask" task type in slipstream.sdk.plugins.default_plugins (it is
also the entry point `slipstream.plugins: dask`). It does not import dask or distributed.
"""

from __future__ import annotations

from slipstream.dask.config import Dask, Scheduler, WorkerGroup
from slipstream.dask.kubernetes import build_daskjob
from slipstream.dask.plugin import DaskPlugin, plugin
from slipstream.sdk.plugins import default_plugins

default_plugins.register(plugin)

__all__ = ["Dask", "DaskPlugin", "Scheduler", "WorkerGroup", "build_daskjob", "plugin"]

"""What a task cluster's first start imports, imported ahead by the warm interpreter.

Listed in DaskPlugin.warm_modules; the engine has the process runner's warm interpreter import
it before forking attempts. A scheduler imports its dashboard (bokeh) and HTTP routes as it
starts: about 0.6 s that every Dask attempt forked from a cold interpreter would pay first.
"""

from __future__ import annotations

import contextlib
import importlib
import logging

import dask

import slipstream.dask.cluster  # noqa: F401 - imported ahead, like the next one
import slipstream.dask.local  # noqa: F401 - the attempt's own Dask context


def _warm() -> None:
    for route in dask.config.get("distributed.scheduler.http.routes", []):
        with contextlib.suppress(ImportError):
            importlib.import_module(route)
    with contextlib.suppress(ImportError):  # without bokeh there is no dashboard to warm
        importlib.import_module("distributed.dashboard.scheduler")


# Some routes log advice as they are imported: the warm interpreter shares the user's terminal.
_logger = logging.getLogger("distributed")
_level = _logger.level
_logger.setLevel(logging.WARNING)
try:
    _warm()
finally:
    _logger.setLevel(_level)

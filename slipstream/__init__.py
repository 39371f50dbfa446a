"""slipstream: typed, cached, retryable Python workflows; any task can run on its own Dask cluster.

This module is the public facade: everything users import comes from here (and from
`slipstream.dask` for the Dask plugin). Heavy libraries are imported only when used.
"""

from __future__ import annotations

from typing import Any

from slipstream.compiler.types.datasets import StructuredDataset, kwtypes
from slipstream.compiler.types.files import Directory, File
from slipstream.errors import CompileError, DefinitionError, NonRecoverableError, TaskTimeoutError
from slipstream.sdk.cache import Cache
from slipstream.sdk.calls import set_local_executor
from slipstream.sdk.conditional import conditional
from slipstream.sdk.context import ExecutionContext, current_context
from slipstream.sdk.dynamic import dynamic
from slipstream.sdk.failure import FailureInfo, WorkflowFailurePolicy
from slipstream.sdk.image_spec import ImageSpec
from slipstream.sdk.launch_plan import LaunchPlan
from slipstream.sdk.map_task import map_task
from slipstream.sdk.resources import Resources
from slipstream.sdk.schedule import CronSchedule, FixedRate
from slipstream.sdk.secrets import Secret
from slipstream.sdk.task import task
from slipstream.sdk.workflow import workflow

__version__ = "0.1.0"


def _run_locally(entity: Any, kwargs: dict[str, Any]) -> Any:
    from slipstream.engine.local import run_entity

    return run_entity(entity, kwargs)


set_local_executor(_run_locally)

__all__ = [
    "Cache",
    "CompileError",
    "CronSchedule",
    "DefinitionError",
    "Directory",
    "ExecutionContext",
    "FailureInfo",
    "File",
    "FixedRate",
    "ImageSpec",
    "LaunchPlan",
    "NonRecoverableError",
    "Resources",
    "Secret",
    "StructuredDataset",
    "TaskTimeoutError",
    "WorkflowFailurePolicy",
    "__version__",
    "conditional",
    "current_context",
    "dynamic",
    "kwtypes",
    "map_task",
    "task",
    "workflow",
]

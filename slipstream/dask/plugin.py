"""DaskPlugin: the "dask" task type behind task_config=Dask(...); found by the plugin registry."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from slipstream.dask.config import Dask, config_from_json, config_to_json
from slipstream.ir import TaskTemplate
from slipstream.sdk.plugins import AttemptContext, PluginAttempt

if TYPE_CHECKING:
    from slipstream.config import Settings


class DaskPlugin:
    """Locally a LocalCluster per attempt; on Kubernetes a DaskJob per attempt."""

    task_type: str = "dask"
    config_type: type = Dask
    # Imported by the warm interpreter before it forks attempts (see Engine.warm_up).
    warm_modules: tuple[str, ...] = ("slipstream.dask.warm",)

    def config_to_json(self, config: Any) -> dict[str, Any]:
        return config_to_json(config)

    def config_from_json(self, data: dict[str, Any]) -> Dask:
        return config_from_json(data)

    def needs_own_process(self, template: TaskTemplate) -> bool:
        # dask's config and DASK_SCHEDULER_ADDRESS are process-wide: one attempt per process.
        return True

    def local_context(
        self, template: TaskTemplate, attempt: AttemptContext
    ) -> contextlib.AbstractContextManager[None]:
        from slipstream.dask.local import local_context

        return local_context(template, attempt)

    def kubernetes_objects(
        self, template: TaskTemplate, attempt: PluginAttempt, settings: Settings
    ) -> list[dict[str, Any]] | None:
        """The DaskJob (and DaskAutoscaler / DaskWorkerGroups) for an AttemptSpec."""
        from slipstream.dask.kubernetes import attempt_objects

        return attempt_objects(template, attempt, settings)


plugin = DaskPlugin()

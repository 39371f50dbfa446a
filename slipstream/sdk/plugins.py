"""The plugin interface and registry: a task_config's type selects a plugin."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from slipstream.errors import DefinitionError, SlipstreamError
from slipstream.ir import TaskTemplate

if TYPE_CHECKING:
    from slipstream.config import Settings

ENTRY_POINT_GROUP = "slipstream.plugins"


@dataclass
class AttemptContext:
    """What a plugin's local context gets to know about the attempt it wraps."""

    execution_id: str
    node_id: str
    attempt: int
    output_prefix: str  # blob URI of the attempt's folder
    log_dir: str  # a local folder for extra logs (kept with the attempt's logs)
    # Runtime info for the engine (a dashboard link); set by the runner running the attempt.
    report: Callable[[dict[str, Any]], None] | None = None
    notices: list[str] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)  # folders to remove once outputs are stored
    # The runner waits (bounded) for processes the attempt leaves behind when it ends, so a
    # plugin may leave work to a child of its own (the Dask report's writer) instead of waiting.
    orphans_reaped: bool = False


class PluginAttempt(Protocol):
    """One attempt as a plugin sees it when it builds objects for a runner (an AttemptSpec)."""

    @property
    def execution_id(self) -> str: ...
    @property
    def node_id(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def task(self) -> TaskTemplate: ...
    @property
    def output_prefix(self) -> str: ...
    @property
    def bundle_uri(self) -> str: ...
    @property
    def on_demand(self) -> bool: ...


class TaskPlugin(Protocol):
    """A kind of task (e.g. "dask"): how it is configured, run locally and launched remotely."""

    task_type: str
    config_type: type

    def config_to_json(self, config: Any) -> dict[str, Any]:
        """The task_config object as JSON for TaskTemplate.config (validated already)."""

    def needs_own_process(self, template: TaskTemplate) -> bool:
        """True if an attempt must run in its own process even with the in-process runner."""

    def local_context(
        self, template: TaskTemplate, attempt: AttemptContext
    ) -> contextlib.AbstractContextManager[None]:
        """Wraps the user function's execution inside `slipstream.execute`."""

    def kubernetes_objects(
        self, template: TaskTemplate, attempt: PluginAttempt, settings: Settings
    ) -> list[dict[str, Any]] | None:
        """The objects the Kubernetes runner creates for an attempt; None for a plain Pod.

        Build names, labels, the command line and its environment with the runner's own
        helpers (`slipstream.runners.kubernetes.names`, `slipstream.runners.contract`); the
        runner adds its labels, annotations and environment to every object anyway.
        """


class PluginError(SlipstreamError):
    """A plugin is broken or missing."""


class PluginRegistry:
    """Plugins by config type and by task type; third-party ones load lazily from entry points."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._by_type: dict[str, TaskPlugin] = {}
        self._by_config: dict[type, TaskPlugin] = {}
        self._load_entry_points = load_entry_points
        self._entry_points_loaded = False
        self._lock = threading.RLock()

    def register(self, plugin: TaskPlugin) -> None:
        with self._lock:
            existing = self._by_type.get(plugin.task_type)
            if existing is plugin:
                return
            if existing is not None:
                raise PluginError(f"task type {plugin.task_type!r} is already registered")
            self._by_type[plugin.task_type] = plugin
            self._by_config[plugin.config_type] = plugin

    def for_config(self, config: Any) -> TaskPlugin:
        plugin = self._by_config.get(type(config))
        if plugin is None:
            raise DefinitionError(
                f"task_config={config!r}: no plugin handles {type(config).__qualname__}"
            )
        return plugin

    def for_task_type(self, task_type: str) -> TaskPlugin | None:
        """The plugin of a task type; None for plain Python tasks. Loads entry points if needed."""
        if task_type == "python":
            return None
        plugin = self._by_type.get(task_type)
        if plugin is None and self._load_entry_points and not self._entry_points_loaded:
            self._load_all_entry_points()
            plugin = self._by_type.get(task_type)
        if plugin is None:
            raise PluginError(
                f"no plugin for task type {task_type!r}; is the package that provides it installed?"
            )
        return plugin

    def _load_all_entry_points(self) -> None:
        with self._lock:
            if self._entry_points_loaded:
                return
            from importlib import metadata  # slow to import: only when a plugin is looked up

            for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
                try:
                    plugin = entry_point.load()
                except Exception as exc:
                    raise PluginError(
                        f"plugin {entry_point.name!r} ({entry_point.value}) failed to load: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                if plugin.task_type not in self._by_type:
                    self.register(plugin)
            self._entry_points_loaded = True

    def warm_modules(self, task_type: str) -> tuple[str, ...]:
        """Modules a plugin asks warm interpreters to import ahead (its optional `warm_modules`)."""
        plugin = self.for_task_type(task_type)
        return tuple(getattr(plugin, "warm_modules", ())) if plugin is not None else ()

    def needs_own_process(self, template: TaskTemplate) -> bool:
        plugin = self.for_task_type(template.task_type)
        return plugin is not None and plugin.needs_own_process(template)

    @contextlib.contextmanager
    def local_context(self, template: TaskTemplate, attempt: AttemptContext) -> Iterator[None]:
        plugin = self.for_task_type(template.task_type)
        if plugin is None:
            yield
            return
        with plugin.local_context(template, attempt):
            yield


default_plugins = PluginRegistry()

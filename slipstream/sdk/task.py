"""@task: a thin factory that builds a TaskDefinition holding the function and its TaskTemplate."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, overload

from slipstream.compiler.registry import TypeRegistry
from slipstream.compiler.types import default_registry
from slipstream.errors import CompileError, DefinitionError
from slipstream.ir import CacheSpec, TaskTemplate
from slipstream.sdk.cache import Cache
from slipstream.sdk.calls import run_locally
from slipstream.sdk.entity import default_name, function_reference, source_hash
from slipstream.sdk.image_spec import ImageSpec, image_reference
from slipstream.sdk.interface import PythonInterface, build_interface
from slipstream.sdk.plugins import PluginRegistry, default_plugins
from slipstream.sdk.promise import timeout_seconds
from slipstream.sdk.resources import Resources
from slipstream.sdk.secrets import Secret, secret_specs
from slipstream.sdk.tracing import current_tracing

F = TypeVar("F", bound=Callable[..., Any])


class TaskDefinition:
    """A user function plus everything needed to run it anywhere (its TaskTemplate)."""

    kind = "task"

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        cache: bool | Cache = False,
        cache_version: str = "",
        retries: int = 0,
        timeout: float | timedelta | None = None,
        requests: Resources | None = None,
        limits: Resources | None = None,
        interruptible: bool = False,
        image: str | ImageSpec | None = None,
        container_image: str | ImageSpec | None = None,
        environment: dict[str, str] | None = None,
        task_config: Any = None,
        secret_requests: list[Secret] | None = None,
        registry: TypeRegistry | None = None,
        plugins: PluginRegistry | None = None,
        task_type: str | None = None,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self.function = fn
        self.name = name or default_name(fn)
        where = f"task {self.name!r}"
        self.registry = registry or default_registry()
        self.interface: PythonInterface = build_interface(fn, where, self.registry)
        self.task_config = task_config
        if image is not None and container_image is not None:
            raise DefinitionError(f"{where}: give image= or container_image=, not both")
        image = image if image is not None else container_image
        self.image_specs: tuple[ImageSpec, ...] = tuple(
            {spec.image_name(): spec for spec in _image_specs((image, task_config))}.values()
        )
        reference, self.source_root, source_file = function_reference(fn)
        config: dict[str, Any] = dict(extra_config or {})
        resolved_type = task_type or "python"
        if task_config is not None:
            plugin = (plugins or default_plugins).for_config(task_config)
            resolved_type = plugin.task_type
            config = plugin.config_to_json(task_config)
        self.template = TaskTemplate(
            name=self.name,
            function=reference,
            interface=self.interface.ir,
            source_hash=source_hash(fn),
            task_type=resolved_type,
            config=config,
            retries=_check_retries(retries, where),
            timeout_seconds=None if timeout is None else _timeout(timeout, where),
            interruptible=_check_bool(interruptible, "interruptible", where),
            cache=_cache_spec(cache, cache_version, self.interface, where),
            requests=_resources(requests, "requests", where),
            limits=_resources(limits, "limits", where),
            image=image_reference(image, where),
            environment=_environment(environment, where),
            source_file=source_file,
            secrets=secret_specs(secret_requests, where),
        )
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(
                f"task {self.name!r} was called with {len(args)} positional argument(s); "
                f"call tasks with keyword arguments, e.g. "
                f"{self.function.__name__}({', '.join(f'{n}=...' for n in self.interface.inputs)})"
            )
        context = current_tracing()
        if context is not None:
            context.add_entity(self.name, self, self.template, "task")
            return context.call(
                kind="task", target=self.name, interface=self.interface, kwargs=kwargs
            )
        return run_locally(self, kwargs)

    def __repr__(self) -> str:
        return f"<task {self.name} ({self.template.task_type})>"


def _timeout(timeout: Any, where: str) -> float:
    try:
        return timeout_seconds(timeout, where)
    except CompileError as exc:
        raise DefinitionError(str(exc)) from None


def _check_retries(retries: Any, where: str) -> int:
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise DefinitionError(f"{where}: retries={retries!r} must be an int >= 0")
    return retries


def _check_bool(value: Any, option: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise DefinitionError(f"{where}: {option}={value!r} must be True or False")
    return value


def _image_specs(value: Any, depth: int = 0) -> list[ImageSpec]:
    """ImageSpecs in an option or a plugin config (its dataclass fields, lists), in order."""
    if isinstance(value, ImageSpec):
        return [value]
    if depth > 4:
        return []
    if isinstance(value, list | tuple):
        return [spec for item in value for spec in _image_specs(item, depth + 1)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            spec
            for f in dataclasses.fields(value)
            for spec in _image_specs(getattr(value, f.name), depth + 1)
        ]
    return []


def _resources(value: Any, option: str, where: str) -> Any:
    from slipstream.ir import ResourceSpec

    if value is None:
        return ResourceSpec()
    if not isinstance(value, Resources):
        raise DefinitionError(f"{where}: {option}={value!r} must be a Resources(...)")
    return value.to_spec()


def _environment(environment: Any, where: str) -> dict[str, str]:
    if environment is None:
        return {}
    if not isinstance(environment, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in environment.items()
    ):
        raise DefinitionError(f"{where}: environment={environment!r} must be a dict of str to str")
    return dict(environment)


def _cache_spec(
    cache: Any, cache_version: str, interface: PythonInterface, where: str
) -> CacheSpec | None:
    if not isinstance(cache_version, str):
        raise DefinitionError(f"{where}: cache_version={cache_version!r} must be a string")
    if cache is False or cache is None:
        if cache_version:
            raise DefinitionError(
                f"{where}: cache_version={cache_version!r} is set but cache is off; pass cache=True"
            )
        return None
    if cache is True:
        return CacheSpec(version=cache_version)
    if isinstance(cache, Cache):
        unknown = [name for name in cache.ignored_inputs if name not in interface.inputs]
        if unknown:
            raise DefinitionError(
                f"{where}: Cache(ignored_inputs=...) names unknown input(s) {unknown}; "
                f"inputs are: {', '.join(interface.inputs) or 'none'}"
            )
        return cache.to_spec(cache_version)
    raise DefinitionError(f"{where}: cache={cache!r} must be True, False or a Cache(...)")


@overload
def task(fn: F) -> TaskDefinition: ...


@overload
def task(
    fn: None = None,
    *,
    name: str | None = None,
    cache: bool | Cache = False,
    cache_version: str = "",
    retries: int = 0,
    timeout: float | timedelta | None = None,
    requests: Resources | None = None,
    limits: Resources | None = None,
    interruptible: bool = False,
    image: str | ImageSpec | None = None,
    container_image: str | ImageSpec | None = None,
    environment: dict[str, str] | None = None,
    task_config: Any = None,
    secret_requests: list[Secret] | None = None,
) -> Callable[[F], TaskDefinition]: ...


def task(fn: Any = None, **options: Any) -> Any:
    """Declare a task: `@task` or `@task(cache=True, retries=2, task_config=Dask(...))`."""
    if fn is not None:
        return TaskDefinition(fn, **options)

    def decorate(function: Callable[..., Any]) -> TaskDefinition:
        return TaskDefinition(function, **options)

    return decorate

"""The Dask(...) task config (flytekitplugins-dask's names) and its JSON; used by the plugin."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from slipstream.errors import DefinitionError
from slipstream.sdk.image_spec import ImageSpec
from slipstream.sdk.resources import Resources, cpu_count, memory_bytes

DEFAULT_GROUP = "default"
# A group's name ends up in the label value "<job>-<group>" (at most 63 characters) of the
# operator's worker Deployments; 20 characters leaves a readable job name beside it.
MAX_GROUP_NAME = 20
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class DaskConfigError(DefinitionError, ValueError):
    """A Dask(...) config is invalid (a ValueError too, as in flytekitplugins-dask)."""


def _check_resources(owner: str, requests: Any, limits: Any) -> None:
    for label, value in (("requests", requests), ("limits", limits)):
        if value is not None and not isinstance(value, Resources):
            raise DaskConfigError(
                f"{owner}: {label}={value!r} is not a Resources(cpu=, mem=, gpu=, ...)"
            )
    if requests is None or limits is None:
        return
    for name, parse in (("cpu", cpu_count), ("mem", memory_bytes)):
        asked, limit = getattr(requests, name), getattr(limits, name)
        if asked is not None and limit is not None and parse(str(asked)) > parse(str(limit)):
            raise DaskConfigError(
                f"{owner}: requests {name}={asked!r} is more than limits {name}={limit!r} "
                f"(Kubernetes requires requests <= limits)"
            )


def _check_image(owner: str, holder: Any) -> None:
    """An ImageSpec given as image= is kept beside its name, which becomes the image."""
    image = holder.image
    if isinstance(image, ImageSpec):
        object.__setattr__(holder, "image_spec", image)
        object.__setattr__(holder, "image", image.image_name())
        return
    if image is not None and (not isinstance(image, str) or not image.strip()):
        raise DaskConfigError(
            f"{owner}: image={image!r} is not a container image name or an ImageSpec"
        )


def _check_count(owner: str, name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DaskConfigError(f"{owner}: {name}={value!r} is not an integer")
    if value < minimum:
        raise DaskConfigError(f"{owner}: {name}={value!r} must be at least {minimum}")


@dataclass(frozen=True)
class Scheduler:
    """The Dask scheduler's image and resources (used on Kubernetes; locally it runs in-process)."""

    image: str | None = None  # or an ImageSpec, kept as image_spec
    requests: Resources | None = None
    limits: Resources | None = None
    image_spec: ImageSpec | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_image("Scheduler", self)
        _check_resources("Scheduler", self.requests, self.limits)


@dataclass(frozen=True)
class WorkerGroup:
    """A set of identical Dask workers; several named groups give heterogeneous workers.

    ``min_workers``/``max_workers`` make the group adaptive (``cluster.adapt`` locally, a
    DaskAutoscaler on Kubernetes), starting from ``number_of_workers`` kept within the bounds;
    only the first group can be adaptive. With several groups, each worker carries the Dask
    resource ``{name: 1}``: send work to a group with ``client.submit(f, x, resources={"gpu":
    1})`` or ``with dask.annotate(resources={"gpu": 1}): ...``. Unannotated work runs anywhere.
    """

    number_of_workers: int = 1
    image: str | None = None  # or an ImageSpec, kept as image_spec
    requests: Resources | None = None
    limits: Resources | None = None
    name: str = DEFAULT_GROUP
    min_workers: int | None = None
    max_workers: int | None = None
    image_spec: ImageSpec | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _DNS_LABEL.match(self.name):
            raise DaskConfigError(
                f"WorkerGroup: name={self.name!r} is not a DNS-1123 label "
                f"(lower-case letters, digits and '-', starting and ending with a letter or digit)"
            )
        if len(self.name) > MAX_GROUP_NAME:
            raise DaskConfigError(
                f"WorkerGroup: name={self.name!r} is longer than {MAX_GROUP_NAME} characters"
            )
        owner = f"WorkerGroup {self.name!r}"
        if isinstance(self.number_of_workers, bool) or not isinstance(self.number_of_workers, int):
            raise DaskConfigError(
                f"{owner}: number_of_workers={self.number_of_workers!r} is not an integer"
            )
        if self.number_of_workers < 1:
            raise DaskConfigError(
                f"{owner}: number_of_workers={self.number_of_workers!r}: each worker group "
                f"needs at least one worker"
            )
        if self.min_workers is not None:
            _check_count(owner, "min_workers", self.min_workers, 0)
        if self.max_workers is not None:
            _check_count(owner, "max_workers", self.max_workers, 1)
        if (
            self.min_workers is not None
            and self.max_workers is not None
            and self.min_workers > self.max_workers
        ):
            raise DaskConfigError(
                f"{owner}: min_workers={self.min_workers!r} is more than "
                f"max_workers={self.max_workers!r}"
            )
        _check_image(owner, self)
        _check_resources(owner, self.requests, self.limits)

    @property
    def adaptive(self) -> bool:
        return self.min_workers is not None or self.max_workers is not None

    @property
    def bounds(self) -> tuple[int, int]:
        """(minimum, maximum) workers; a missing bound is number_of_workers."""
        n = self.number_of_workers
        low = self.min_workers if self.min_workers is not None else min(n, self.max_workers or n)
        high = self.max_workers if self.max_workers is not None else max(n, low)
        return low, high

    @property
    def initial_workers(self) -> int:
        """Workers started with the cluster: number_of_workers kept within the bounds."""
        low, high = self.bounds
        return min(max(self.number_of_workers, low), high)

    @property
    def nthreads(self) -> int:
        """Threads per worker: the cpu limit, else the cpu request, else 1 (rounded up)."""
        cpu = _first(self.limits, self.requests, "cpu")
        return 1 if cpu is None else max(1, math.ceil(cpu_count(str(cpu))))

    @property
    def memory(self) -> int | None:
        """Bytes per worker: the mem limit, else the mem request; None if neither is set."""
        mem = _first(self.limits, self.requests, "mem")
        return None if mem is None else memory_bytes(str(mem))

    @property
    def memory_text(self) -> str | None:
        mem = _first(self.limits, self.requests, "mem")
        return None if mem is None else str(mem)


def _first(limits: Resources | None, requests: Resources | None, name: str) -> Any:
    for resources in (limits, requests):
        if resources is not None and getattr(resources, name) is not None:
            return getattr(resources, name)
    return None


@dataclass(frozen=True)
class Dask:
    """task_config=Dask(...): the task runs with its own Dask cluster of this shape.

    ``report=False``: keep no Dask performance report (dask-report.html) and summary
    (dask-summary.json) beside the attempt's logs.
    """

    scheduler: Scheduler = field(default_factory=Scheduler)
    workers: WorkerGroup | list[WorkerGroup] = field(default_factory=WorkerGroup)
    report: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.report, bool):
            raise DaskConfigError(f"Dask: report={self.report!r} is not True or False")
        if not isinstance(self.scheduler, Scheduler):
            raise DaskConfigError(f"Dask: scheduler={self.scheduler!r} is not a Scheduler(...)")
        groups = self.groups
        if not groups:
            raise DaskConfigError("Dask: workers=[] has no worker group; give at least one")
        seen: set[str] = set()
        for index, group in enumerate(groups):
            if not isinstance(group, WorkerGroup):
                raise DaskConfigError(f"Dask: workers[{index}]={group!r} is not a WorkerGroup(...)")
            if group.name in seen:
                raise DaskConfigError(
                    f"Dask: worker group name {group.name!r} is used twice; names must be unique"
                )
            seen.add(group.name)
            if index > 0 and group.adaptive:
                raise DaskConfigError(
                    f"Dask: worker group {group.name!r} sets min_workers/max_workers, but only "
                    f"the first worker group can be adaptive (the dask-kubernetes "
                    f"DaskAutoscaler scales the default group only)"
                )

    @property
    def groups(self) -> tuple[WorkerGroup, ...]:
        """The worker groups in order; the first is the default group."""
        if isinstance(self.workers, WorkerGroup):
            return (self.workers,)
        if isinstance(self.workers, list | tuple):
            return tuple(self.workers)
        raise DaskConfigError(
            f"Dask: workers={self.workers!r} is not a WorkerGroup or a list of WorkerGroups"
        )


def _resources_to_json(resources: Resources | None) -> dict[str, Any] | None:
    if resources is None:
        return None
    return {
        name: getattr(resources, name)
        for name in ("cpu", "mem", "gpu", "ephemeral_storage")
        if getattr(resources, name) is not None
    }


def _resources_from_json(data: Any, where: str) -> Resources | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise DaskConfigError(f"{where}={data!r} is not an object of resource quantities")
    unknown = set(data) - {"cpu", "mem", "gpu", "ephemeral_storage"}
    if unknown:
        raise DaskConfigError(f"{where}: unknown resource names {sorted(unknown)}")
    return Resources(**data)


def config_to_json(config: Dask) -> dict[str, Any]:
    """The config as JSON for TaskTemplate.config (omitting unset values)."""
    if not isinstance(config, Dask):
        raise DaskConfigError(f"task_config={config!r} is not a Dask(...) config")
    scheduler: dict[str, Any] = {}
    for key in ("image", "requests", "limits"):
        value = getattr(config.scheduler, key)
        if value is not None:
            scheduler[key] = value if key == "image" else _resources_to_json(value)
    groups = []
    for group in config.groups:
        item: dict[str, Any] = {"name": group.name, "number_of_workers": group.number_of_workers}
        for key in ("image", "min_workers", "max_workers"):
            if getattr(group, key) is not None:
                item[key] = getattr(group, key)
        for key in ("requests", "limits"):
            if getattr(group, key) is not None:
                item[key] = _resources_to_json(getattr(group, key))
        groups.append(item)
    data: dict[str, Any] = {"scheduler": scheduler, "workers": groups}
    if (
        not config.report
    ):  # only when off: templates (and cache keys) of the default stay as they were
        data["report"] = False
    return data


def config_from_json(data: Any) -> Dask:
    """The Dask config back from TaskTemplate.config; DaskConfigError naming what is wrong."""
    if not isinstance(data, dict):
        raise DaskConfigError(f"Dask config {data!r} is not a JSON object")
    unknown = set(data) - {"scheduler", "workers", "report"}
    if unknown:
        raise DaskConfigError(f"Dask config: unknown keys {sorted(unknown)}")
    raw_scheduler = data.get("scheduler") or {}
    if not isinstance(raw_scheduler, dict):
        raise DaskConfigError(f"Dask config: scheduler={raw_scheduler!r} is not an object")
    scheduler = Scheduler(
        image=raw_scheduler.get("image"),
        requests=_resources_from_json(raw_scheduler.get("requests"), "scheduler.requests"),
        limits=_resources_from_json(raw_scheduler.get("limits"), "scheduler.limits"),
    )
    raw_groups = data.get("workers", [{}])
    if isinstance(raw_groups, dict):
        raw_groups = [raw_groups]
    if not isinstance(raw_groups, list):
        raise DaskConfigError(f"Dask config: workers={raw_groups!r} is not a list")
    groups = []
    for index, raw in enumerate(raw_groups):
        if not isinstance(raw, dict):
            raise DaskConfigError(f"Dask config: workers[{index}]={raw!r} is not an object")
        known = {"name", "number_of_workers", "image", "requests", "limits"}
        known |= {"min_workers", "max_workers"}
        if set(raw) - known:
            raise DaskConfigError(
                f"Dask config: workers[{index}]: unknown keys {sorted(set(raw) - known)}"
            )
        groups.append(
            WorkerGroup(
                number_of_workers=raw.get("number_of_workers", 1),
                image=raw.get("image"),
                requests=_resources_from_json(raw.get("requests"), f"workers[{index}].requests"),
                limits=_resources_from_json(raw.get("limits"), f"workers[{index}].limits"),
                name=raw.get("name", DEFAULT_GROUP),
                min_workers=raw.get("min_workers"),
                max_workers=raw.get("max_workers"),
            )
        )
    return Dask(
        scheduler=scheduler,
        workers=groups[0] if len(groups) == 1 else groups,
        report=data.get("report", True),
    )

"""Dask(...) config: flytekitplugins-dask names and defaults, validation, JSON, registration."""

from __future__ import annotations

import subprocess
import sys

import pytest

from slipstream.dask import Dask, DaskPlugin, Scheduler, WorkerGroup, plugin
from slipstream.dask.config import DaskConfigError, config_from_json, config_to_json
from slipstream.errors import DefinitionError
from slipstream.sdk.plugins import PluginRegistry, default_plugins
from slipstream.sdk.resources import Resources


def seed_config() -> Dask:
    """The seed's task_config, verbatim."""
    return Dask(
        scheduler=Scheduler(requests=Resources(cpu="2")),
        workers=WorkerGroup(number_of_workers=4, limits=Resources(cpu="8", mem="32Gi")),
    )


def test_flytekit_defaults() -> None:
    config = Dask()
    assert config.scheduler == Scheduler(image=None, requests=None, limits=None)
    assert config.workers == WorkerGroup()
    group = WorkerGroup()
    assert (group.number_of_workers, group.image, group.requests, group.limits) == (
        1,
        None,
        None,
        None,
    )
    assert config.groups == (group,)
    assert not group.adaptive


def test_seed_config_shape() -> None:
    config = seed_config()
    (group,) = config.groups
    assert group.number_of_workers == 4
    assert group.nthreads == 8
    assert group.memory == 32 * 2**30
    assert config.scheduler.requests == Resources(cpu="2")


@pytest.mark.parametrize("bad", [0, -3])
def test_number_of_workers_below_one_is_rejected_naming_the_value(bad: int) -> None:
    with pytest.raises(DaskConfigError, match=rf"number_of_workers={bad}\b"):
        WorkerGroup(number_of_workers=bad)


def test_config_errors_are_value_and_definition_errors() -> None:
    with pytest.raises(ValueError):
        WorkerGroup(number_of_workers=0)
    with pytest.raises(DefinitionError):
        WorkerGroup(number_of_workers=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"number_of_workers": 2.5}, r"number_of_workers=2.5 is not an integer"),
        ({"number_of_workers": True}, r"number_of_workers=True is not an integer"),
        ({"min_workers": -1}, r"min_workers=-1 must be at least 0"),
        ({"max_workers": 0}, r"max_workers=0 must be at least 1"),
        ({"min_workers": 5, "max_workers": 2}, r"min_workers=5 is more than max_workers=2"),
        ({"name": "GPU"}, r"name='GPU' is not a DNS-1123 label"),
        ({"name": "gpu_pool"}, r"name='gpu_pool' is not a DNS-1123 label"),
        ({"name": "-gpu"}, r"name='-gpu' is not a DNS-1123 label"),
        ({"name": "a" * 21}, r"is longer than 20 characters"),
        ({"image": ""}, r"image='' is not a container image name"),
        ({"limits": {"cpu": "2"}}, r"limits=\{'cpu': '2'\} is not a Resources"),
        (
            {"requests": Resources(cpu="4"), "limits": Resources(cpu="2")},
            r"requests cpu='4' is more than limits cpu='2'",
        ),
        (
            {"requests": Resources(mem="2Gi"), "limits": Resources(mem="1Gi")},
            r"requests mem='2Gi' is more than limits mem='1Gi'",
        ),
    ],
)
def test_worker_group_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(DaskConfigError, match=message):
        WorkerGroup(**kwargs)


def test_bad_quantity_is_rejected_with_the_value() -> None:
    with pytest.raises(DefinitionError, match=r"mem='lots'"):
        WorkerGroup(limits=Resources(mem="lots"))


def test_scheduler_validation() -> None:
    with pytest.raises(DaskConfigError, match=r"Scheduler: requests=3 is not a Resources"):
        Scheduler(requests=3)  # type: ignore[arg-type]
    with pytest.raises(DaskConfigError, match=r"scheduler='big' is not a Scheduler"):
        Dask(scheduler="big")  # type: ignore[arg-type]


def test_dask_level_validation() -> None:
    with pytest.raises(DaskConfigError, match=r"workers=\[\] has no worker group"):
        Dask(workers=[])
    with pytest.raises(DaskConfigError, match=r"name 'gpu' is used twice"):
        Dask(workers=[WorkerGroup(), WorkerGroup(name="gpu"), WorkerGroup(name="gpu")])
    with pytest.raises(DaskConfigError, match=r"workers\[1\]=4 is not a WorkerGroup"):
        Dask(workers=[WorkerGroup(), 4])  # type: ignore[list-item]
    with pytest.raises(DaskConfigError, match=r"workers=4 is not a WorkerGroup"):
        Dask(workers=4)  # type: ignore[arg-type]
    with pytest.raises(DaskConfigError, match=r"group 'gpu' sets min_workers/max_workers"):
        Dask(workers=[WorkerGroup(), WorkerGroup(name="gpu", max_workers=3)])


@pytest.mark.parametrize(
    ("group", "bounds", "initial"),
    [
        (WorkerGroup(min_workers=1, max_workers=5), (1, 5), 1),
        (WorkerGroup(number_of_workers=3, min_workers=1, max_workers=5), (1, 5), 3),
        (WorkerGroup(number_of_workers=9, min_workers=1, max_workers=5), (1, 5), 5),
        (WorkerGroup(number_of_workers=1, min_workers=2, max_workers=5), (2, 5), 2),
        (WorkerGroup(number_of_workers=4, min_workers=0), (0, 4), 4),
        (WorkerGroup(number_of_workers=2, max_workers=10), (2, 10), 2),
        (WorkerGroup(number_of_workers=8, max_workers=3), (3, 3), 3),
    ],
)
def test_adaptive_bounds(group: WorkerGroup, bounds: tuple[int, int], initial: int) -> None:
    assert group.adaptive
    assert group.bounds == bounds
    assert group.initial_workers == initial


@pytest.mark.parametrize(
    ("requests", "limits", "threads", "memory"),
    [
        (None, None, 1, None),
        (Resources(cpu="2"), None, 2, None),
        (Resources(cpu="2"), Resources(cpu="3"), 3, None),
        (Resources(cpu="500m"), None, 1, None),
        (None, Resources(cpu=1.5, mem="1Gi"), 2, 2**30),
        (Resources(mem="512Mi"), Resources(mem="1G"), 1, 10**9),
        (Resources(mem="512Mi"), None, 1, 512 * 2**20),
    ],
)
def test_threads_and_memory_from_limits_then_requests(
    requests: Resources | None, limits: Resources | None, threads: int, memory: int | None
) -> None:
    group = WorkerGroup(requests=requests, limits=limits)
    assert group.nthreads == threads
    assert group.memory == memory


def test_json_round_trip() -> None:
    configs = [
        Dask(),
        seed_config(),
        Dask(
            scheduler=Scheduler(image="sched:1", limits=Resources(cpu=1, mem="1Gi")),
            workers=[
                WorkerGroup(number_of_workers=2, min_workers=1, max_workers=6, image="w:1"),
                WorkerGroup(
                    name="gpu",
                    limits=Resources(gpu=1, mem="16Gi", ephemeral_storage="10Gi"),
                ),
            ],
        ),
        Dask(report=False),
    ]
    for config in configs:
        data = config_to_json(config)
        assert config_from_json(data) == config
    assert config_to_json(Dask(report=False))["report"] is False
    assert "report" not in config_to_json(Dask())  # templates of the default are unchanged
    assert config_to_json(seed_config()) == {
        "scheduler": {"requests": {"cpu": "2"}},
        "workers": [
            {"name": "default", "number_of_workers": 4, "limits": {"cpu": "8", "mem": "32Gi"}}
        ],
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], r"is not a JSON object"),
        ({"shards": 3}, r"unknown keys \['shards'\]"),
        ({"workers": [{"number_of_workers": 0}]}, r"number_of_workers=0"),
        ({"workers": [{"nworkers": 2}]}, r"workers\[0\]: unknown keys \['nworkers'\]"),
        ({"workers": [{"limits": {"cpus": "2"}}]}, r"unknown resource names \['cpus'\]"),
        ({"workers": "many"}, r"workers='many' is not a list"),
        ({"scheduler": 1}, r"scheduler=1 is not an object"),
        ({"report": "no"}, r"report='no' is not True or False"),
    ],
)
def test_bad_json_is_rejected(data: object, message: str) -> None:
    with pytest.raises(DaskConfigError, match=message):
        config_from_json(data)


def test_plugin_is_registered_on_import_and_selected_by_config_type() -> None:
    assert isinstance(plugin, DaskPlugin)
    assert default_plugins.for_config(seed_config()) is plugin
    assert default_plugins.for_task_type("dask") is plugin
    assert plugin.task_type == "dask"
    assert plugin.config_type is Dask
    assert plugin.config_to_json(seed_config()) == config_to_json(seed_config())


def test_plugin_entry_point_target_is_the_registered_plugin() -> None:
    # pyproject.toml declares `slipstream.plugins: dask = slipstream.dask.plugin:plugin`.
    import importlib

    module = importlib.import_module("slipstream.dask.plugin")
    registry = PluginRegistry(load_entry_points=False)
    registry.register(module.plugin)
    assert registry.for_task_type("dask") is plugin


def test_every_dask_attempt_gets_its_own_process() -> None:
    from slipstream.ir import TaskTemplate, TypedInterface

    template = TaskTemplate(
        name="t",
        function="m:f",
        interface=TypedInterface(),
        task_type="dask",
        config=config_to_json(Dask()),
    )
    assert default_plugins.needs_own_process(template)


def test_importing_the_plugin_does_not_import_dask(repo_env: dict[str, str]) -> None:
    code = (
        "import sys, slipstream.dask; "
        "heavy = [m for m in ('dask', 'distributed', 'psutil') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=repo_env)

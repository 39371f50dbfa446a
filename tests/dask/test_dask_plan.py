"""Shaping the local cluster: threads and memory from the config, clamped to the machine."""

from __future__ import annotations

import os

from slipstream.dask import Dask, Scheduler, WorkerGroup
from slipstream.dask.plan import GIB, Machine, plan_cluster
from slipstream.sdk.resources import Resources

LAPTOP = Machine(cores=2, memory=int(23.4 * GIB))
BIG = Machine(cores=64, memory=512 * GIB)


def seed() -> Dask:
    return Dask(
        scheduler=Scheduler(requests=Resources(cpu="2")),
        workers=WorkerGroup(number_of_workers=4, limits=Resources(cpu="8", mem="32Gi")),
    )


def test_seed_config_on_a_small_machine_is_clamped_in_one_line() -> None:
    plan = plan_cluster(seed(), LAPTOP)
    assert plan.clamped
    assert plan.summary == (
        "dask: asked for 4 workers x 8 threads, 32Gi each; this machine has 2 cores, 23.4 GiB: "
        "running 4 workers x 1 thread, 5.8 GiB each"
    )
    (group,) = plan.groups
    assert (group.workers, group.nthreads) == (4, 1)
    assert group.memory_limit * 4 <= LAPTOP.memory
    assert group.resources == {}
    assert group.adaptive is None


def test_seed_config_on_a_big_machine_runs_as_asked() -> None:
    plan = plan_cluster(seed(), BIG)
    assert not plan.clamped
    (group,) = plan.groups
    assert (group.workers, group.nthreads, group.memory_limit) == (4, 8, 32 * GIB)
    assert plan.summary == "dask: running 4 workers x 8 threads, 32.0 GiB each"


def test_no_resources_asked_shares_the_machine_evenly() -> None:
    plan = plan_cluster(Dask(workers=WorkerGroup(number_of_workers=2)), LAPTOP)
    assert not plan.clamped
    (group,) = plan.groups
    assert group.nthreads == 1
    assert group.memory_limit == LAPTOP.memory // 2


def test_threads_shrink_in_proportion() -> None:
    plan = plan_cluster(
        Dask(workers=WorkerGroup(number_of_workers=1, requests=Resources(cpu="8"))), LAPTOP
    )
    assert plan.groups[0].nthreads == 2
    assert "asked for 1 worker x 8 threads;" in plan.summary
    assert plan.summary.endswith("running 1 worker x 2 threads, 23.4 GiB each")


def test_memory_only_clamp_is_reported() -> None:
    plan = plan_cluster(
        Dask(workers=WorkerGroup(number_of_workers=2, limits=Resources(mem="16Gi"))), LAPTOP
    )
    assert plan.clamped
    assert plan.groups[0].nthreads == 1
    assert plan.groups[0].memory_limit == LAPTOP.memory // 2
    assert "asked for 2 workers x 1 thread, 16Gi each" in plan.summary


def test_worker_processes_are_capped_per_core() -> None:
    plan = plan_cluster(Dask(workers=WorkerGroup(number_of_workers=100)), LAPTOP)
    assert plan.clamped
    assert plan.groups[0].workers == 8  # 4 per core on 2 cores
    assert "asked for 100 workers x 1 thread;" in plan.summary
    assert "running 8 workers x 1 thread" in plan.summary


def test_adaptive_bounds_are_kept_and_capped() -> None:
    fits = plan_cluster(Dask(workers=WorkerGroup(min_workers=1, max_workers=3)), LAPTOP)
    assert not fits.clamped
    assert fits.groups[0].adaptive == (1, 3)
    assert fits.groups[0].workers == 1
    assert fits.summary.startswith("dask: running 1-3 workers x 1 thread")
    # Memory is sized for the most workers the group can have.
    assert fits.groups[0].memory_limit == LAPTOP.memory // 3

    capped = plan_cluster(
        Dask(workers=WorkerGroup(number_of_workers=2, min_workers=2, max_workers=50)), LAPTOP
    )
    assert capped.clamped
    assert capped.groups[0].adaptive == (2, 8)
    assert capped.groups[0].workers == 2
    assert "asked for 2-50 workers" in capped.summary


def test_groups_get_names_and_resources_and_share_the_machine() -> None:
    config = Dask(
        workers=[
            WorkerGroup(name="cpu", number_of_workers=2),
            WorkerGroup(name="gpu", limits=Resources(cpu="1", mem="4Gi", gpu="1")),
        ]
    )
    plan = plan_cluster(config, LAPTOP)
    cpu, gpu = plan.groups
    assert (cpu.name, cpu.workers, cpu.resources) == ("cpu", 2, {"cpu": 1})
    assert (gpu.name, gpu.workers, gpu.resources) == ("gpu", 1, {"gpu": 1})
    assert gpu.memory_limit == 4 * GIB
    # Workers that ask for nothing share what the gpu worker leaves.
    assert cpu.memory_limit == (LAPTOP.memory - 4 * GIB) // 2
    assert plan.workers == 3
    assert not plan.clamped
    assert plan.summary == (
        "dask: running 2 cpu workers x 1 thread, 9.7 GiB each + 1 gpu worker x 1 thread, "
        "4.0 GiB each"
    )


def test_groups_asking_for_too_much_memory_all_shrink() -> None:
    config = Dask(
        workers=[
            WorkerGroup(name="cpu", number_of_workers=2),
            WorkerGroup(name="big", limits=Resources(mem="40Gi")),
        ]
    )
    plan = plan_cluster(config, LAPTOP)
    assert plan.clamped
    total = sum(group.workers * group.memory_limit for group in plan.groups)
    assert total <= LAPTOP.memory
    assert plan.groups[1].memory_limit < 40 * GIB
    assert "1 big worker x 1 thread, 40Gi each" in plan.summary


def test_machine_detection_is_plausible() -> None:
    machine = Machine.detect()
    assert 1 <= machine.cores <= (os.cpu_count() or 1)
    assert machine.memory > 256 * 2**20

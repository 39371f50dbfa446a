"""map_task at run time: order, zip, failures and min_success_ratio, retries, cache, concurrency."""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path
from typing import Any

import fanout_crash
import flows_fanout
import pytest
from click.testing import CliRunner

from slipstream import map_task, task, workflow
from slipstream.config import load_settings
from slipstream.engine.local import engine_for
from slipstream.errors import ExecutionError


def _store() -> Any:
    return engine_for(load_settings()).store


def _last_execution() -> Any:
    return _store().list_executions(limit=1)[0]


@task
def scale(x: int, factor: int) -> int:
    return x * factor


@task
def picky(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd item {x}")
    return x


def test_outputs_follow_input_order_and_lists_zip(home: Path) -> None:
    @task
    def add(x: int, y: int) -> int:
        time.sleep(0.001 * (30 - x))  # later items finish first
        return x + y

    @workflow
    def wf(xs: list[int], ys: list[int]) -> list[int]:
        tripled = map_task(functools.partial(scale, factor=3))(x=xs)
        return map_task(add)(x=tripled, y=ys)

    assert wf(xs=list(range(10)), ys=list(range(100, 110))) == [3 * i + 100 + i for i in range(10)]
    record = _last_execution()
    nodes = {n.node_id: n for n in _store().get_nodes(record.id)}
    assert set(nodes) == {"map-scale", "map-add"}  # one node per map, not one per item
    assert nodes["map-add"].info["items"] == 10
    assert nodes["map-add"].info["succeeded"] == 10
    assert _store().get_attempts(record.id) == []  # in-process successes are only counted


def test_mismatched_list_lengths_fail_naming_inputs_and_lengths(home: Path) -> None:
    @task
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(ExecutionError, match=r"same length, but x has 3, y has 2 items"):
        map_task(add)(x=[1, 2, 3], y=[1, 2])


def test_an_empty_list_maps_to_an_empty_list(home: Path) -> None:
    assert map_task(picky)(x=[]) == []


def test_with_min_success_ratio_failed_items_are_none(home: Path) -> None:
    assert map_task(picky, min_success_ratio=0.5)(x=[0, 1, 2, 3]) == [0, None, 2, None]
    record = _last_execution()
    [node] = _store().get_nodes(record.id)
    assert node.phase == "SUCCEEDED"
    assert (node.info["succeeded"], node.info["failed"]) == (2, 2)
    assert sorted(e["item"] for e in node.info["errors"]) == [1, 3]
    failed = _store().get_attempts(record.id)
    assert sorted(a.node_id for a in failed) == ["map-picky/1", "map-picky/3"]
    assert all(a.phase == "FAILED" and "odd item" in (a.error or "") for a in failed)


def test_a_map_fails_when_the_ratio_cannot_be_reached(home: Path) -> None:
    with pytest.raises(ValueError, match=r"odd item [135]"):
        map_task(picky, min_success_ratio=0.8)(x=[0, 1, 2, 3, 5])
    record = _last_execution()
    [node] = _store().get_nodes(record.id)
    assert node.phase == "FAILED"
    assert "2 of 5 items failed; min_success_ratio=0.8 needs 4 to succeed" in (node.error or "")


def test_with_the_default_ratio_an_item_failure_raises_the_users_exception(home: Path) -> None:
    with pytest.raises(ValueError, match="odd item 3"):
        map_task(picky)(x=[0, 2, 3])


def test_items_retry_from_the_tasks_budget(home: Path, tmp_path: Path) -> None:
    mapped = map_task(functools.partial(flows_fanout.flaky, counters=str(tmp_path)))
    assert mapped(x=[1, 2, 3]) == [101, 102, 103]
    assert [flows_fanout.count(tmp_path / str(i)) for i in (1, 2, 3)] == [2, 2, 2]
    record = _last_execution()
    events = [e for e in _store().get_events(record.id) if e.phase == "RETRYING"]
    assert sorted(e.node_id for e in events) == ["map-flaky/0", "map-flaky/1", "map-flaky/2"]


def test_items_are_cached_one_by_one(home: Path, tmp_path: Path) -> None:
    mapped = map_task(functools.partial(flows_fanout.cached_square, counters=str(tmp_path)))
    assert mapped(x=[1, 2, 3]) == [1, 4, 9]
    assert mapped(x=[2, 3, 4]) == [4, 9, 16]
    assert [flows_fanout.count(tmp_path / str(i)) for i in (1, 2, 3, 4)] == [1, 1, 1, 1]
    [node] = _store().get_nodes(_last_execution().id)
    assert (node.info["cached"], node.info["succeeded"]) == (2, 3)


class _Gauge:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_concurrency_caps_the_items_running_at_once(home: Path) -> None:
    gauge = _Gauge()

    @task
    def busy(x: int) -> int:
        with gauge:
            time.sleep(0.02)
        return x

    assert map_task(busy, concurrency=2)(x=list(range(12))) == list(range(12))
    assert gauge.most == 2


def test_max_parallelism_caps_items_too(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPSTREAM_MAX_PARALLELISM", "3")
    gauge = _Gauge()

    @task
    def busy(x: int) -> int:
        with gauge:
            time.sleep(0.02)
        return x

    assert map_task(busy)(x=list(range(12))) == list(range(12))
    assert gauge.most == 3


def test_items_run_in_their_own_processes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPSTREAM_RUNNER", "process")
    assert flows_fanout.squares_map(xs=[1, 2, 3, 4]) == [1, 4, 9, 16]
    attempts = _store().get_attempts(_last_execution().id)
    assert sorted(a.node_id for a in attempts) == [f"map-square/{i}" for i in range(4)]
    assert {(a.runner, a.phase) for a in attempts} == {("process", "SUCCEEDED")}
    assert all(a.handle.get("pid") for a in attempts)
    assert all(
        Path(a.output_prefix.removeprefix("file://"), "outputs.json").exists() for a in attempts
    )


def test_a_timed_out_item_is_a_failed_item(home: Path) -> None:
    assert flows_fanout.sleepy_map(xs=[0.05, 5.0]) == [0.05, None]
    [node] = _store().get_nodes(_last_execution().id)
    assert node.info["errors"][0]["type"] == "slipstream.errors.TaskTimeoutError"


def test_show_summarises_a_map_in_one_line(home: Path) -> None:
    from slipstream.cli.main import cli

    map_task(picky, min_success_ratio=0.1)(x=list(range(40)))
    result = CliRunner().invoke(cli, ["executions", "show", _last_execution().id])
    assert result.exit_code == 0, result.output
    assert "items 40: 20 succeeded (0 cached), 20 failed, 0 running" in result.output
    assert "item 1: ValueError: odd item 1" in result.output
    assert "map-picky/" not in result.output
    assert len(result.output.splitlines()) < 20


def test_a_few_thousand_items_keep_one_node_and_no_item_records(home: Path) -> None:
    @task
    def ident(x: int) -> int:
        return x

    n = 3000
    assert map_task(ident)(x=list(range(n))) == list(range(n))
    record = _last_execution()
    [node] = _store().get_nodes(record.id)
    assert node.info["items"] == n and node.info["succeeded"] == n
    assert _store().get_attempts(record.id) == []
    assert len(_store().get_events(record.id)) < 10


@pytest.mark.parametrize("isolate", [False, True], ids=["inprocess", "process"])
def test_a_map_resumes_without_rerunning_finished_items(
    home: Path, tmp_path: Path, isolate: bool
) -> None:
    flag, counters = tmp_path / "flag", tmp_path / "counters"
    counters.mkdir()
    args = ["--xs", "[0, 1, 2, 3]", "--flag", str(flag), "--counters", str(counters)]
    process = fanout_crash.start("gated_map", *args, *(["--isolate"] if isolate else []))
    fanout_crash.wait_until(lambda: (counters / "3").exists(), "every item to start")
    execution = fanout_crash.only_execution()

    def saved_two() -> bool:
        info = fanout_crash.nodes(execution)["map-gated"]["info"]
        return info.get("succeeded") == 2 and info.get("chunks", 0) >= 1

    fanout_crash.wait_until(saved_two, "the two quick items to be saved")
    time.sleep(1.5)  # the second quick item may sit in a later chunk
    fanout_crash.kill(process)
    flag.write_text("go")
    result = fanout_crash.resume(execution)
    assert result["phase"] == "SUCCEEDED"
    assert result["outputs"] == {"o0": [0, 10, 20, 30]}
    assert [flows_fanout.count(counters / str(i)) for i in (0, 1)] == [1, 1]
    # Waiting items: re-adopted in their own processes, run again when they died in-process.
    waiting = [flows_fanout.count(counters / str(i)) for i in (2, 3)]
    assert waiting == ([1, 1] if isolate else [2, 2])


def test_aborting_a_running_map_stops_its_item_processes(home: Path, tmp_path: Path) -> None:
    flag, counters = tmp_path / "flag", tmp_path / "counters"
    counters.mkdir()
    args = ["--xs", "[0, 1, 2, 3]", "--flag", str(flag), "--counters", str(counters)]
    process = fanout_crash.start("gated_map", *args, "--isolate")
    try:
        fanout_crash.wait_until(lambda: (counters / "3").exists(), "every item to start")
        execution = fanout_crash.only_execution()
        fanout_crash.wait_until(
            lambda: len(_store().get_attempts(execution)) >= 4, "the item attempts' records"
        )
        aborted = fanout_crash.slipstream("executions", "abort", execution)
        assert aborted.returncode == 0, aborted.stderr
        process.wait(60)
        document = fanout_crash.show(execution)
        assert document["phase"] == "ABORTED"
        [node] = document["nodes"]
        assert node["phase"] == "ABORTED"
        attempts = {a.node_id: a for a in _store().get_attempts(execution)}
        for index in (2, 3):
            attempt = attempts[f"map-gated/{index}"]
            assert attempt.phase == "ABORTED"
            proc = Path(f"/proc/{attempt.handle['pid']}")
            fanout_crash.wait_until(lambda p=proc: not p.exists(), f"{proc} to end")  # type: ignore[misc]
    finally:
        flag.write_text("go")
        if process.poll() is None:
            fanout_crash.kill(process)


def test_long_lists_offloaded_to_the_blob_store_map_too(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_OFFLOAD_THRESHOLD", "200")

    @task
    def numbers(n: int) -> list[int]:
        return list(range(n))

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    @workflow
    def wf(n: int) -> int:
        return total(xs=map_task(functools.partial(scale, factor=2))(x=numbers(n=n)))

    assert wf(n=300) == 2 * sum(range(300))
    record = _last_execution()
    node = next(n for n in _store().get_nodes(record.id) if n.node_id == "map-scale")
    assert '"uri"' in (node.outputs or "")  # the 300-item output list went to the blob store


def test_a_module_level_map_task_runs_from_the_command_line(home: Path, tmp_path: Path) -> None:
    from slipstream.cli.main import cli

    runner = CliRunner()
    helped = runner.invoke(cli, ["run", fanout_crash.FLOWS, "tripled", "--help"])
    assert helped.exit_code == 0, helped.output
    assert "--x" in helped.output and "list[int]" in helped.output
    assert "--flag STR" in helped.output and 'str (default: "")' in helped.output
    args = ["run", fanout_crash.FLOWS, "tripled", "--x", "[0, 1]", "--json"]
    result = runner.invoke(cli, [*args, "--counters", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1].endswith('"outputs": {"o0": [0, 10]}}')
    assert flows_fanout.count(tmp_path / "1") == 1


def test_identical_items_of_a_serialized_cache_run_once(home: Path, tmp_path: Path) -> None:
    mapped = map_task(functools.partial(flows_fanout.serialized_square, counters=str(tmp_path)))
    assert mapped(x=[3, 3, 3, 4]) == [9, 9, 9, 16]
    assert [flows_fanout.count(tmp_path / str(i)) for i in (3, 4)] == [1, 1]
    [node] = _store().get_nodes(_last_execution().id)
    assert (node.info["cached"], node.info["succeeded"]) == (2, 4)


def test_items_lost_with_the_engine_run_again_once_on_resume(home: Path, tmp_path: Path) -> None:
    import os
    import signal

    flag, counters = tmp_path / "flag", tmp_path / "counters"
    counters.mkdir()
    args = ["--xs", "[0, 1, 2, 3]", "--flag", str(flag), "--counters", str(counters)]
    process = fanout_crash.start("gated_map", *args, "--isolate")
    fanout_crash.wait_until(lambda: (counters / "3").exists(), "every item to start")
    execution = fanout_crash.only_execution()

    def waiting_attempts() -> list[Any]:
        attempts = _store().get_attempts(execution)
        return [a for a in attempts if a.phase == "RUNNING" and a.handle.get("pid")]

    fanout_crash.wait_until(lambda: len(waiting_attempts()) == 2, "the waiting items' records")
    fanout_crash.kill(process)
    for attempt in waiting_attempts():  # the items die with their engine (a lost machine)
        os.killpg(attempt.handle["pid"], signal.SIGKILL)
    flag.write_text("go")
    result = fanout_crash.resume(execution)
    assert result["outputs"] == {"o0": [0, 10, 20, 30]}
    assert [flows_fanout.count(counters / str(i)) for i in (2, 3)] == [2, 2]
    lost = {(a.node_id, a.attempt): a for a in _store().get_attempts(execution)}
    for index in (2, 3):
        first = lost[(f"map-gated/{index}", 1)]
        assert first.phase == "FAILED" and "AttemptLost" in (first.error or "")

"""Caching: keys, hits without running, ignored inputs, TTL, versions, serialize, cross-process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import flows_engine
import pytest

from slipstream import Cache, task
from slipstream.config import load_settings
from slipstream.engine.local import engine_for


def _store():  # type: ignore[no-untyped-def]
    return engine_for(load_settings()).store


def test_second_call_is_a_cache_hit_that_runs_nothing(any_db_home: Path) -> None:
    calls: list[int] = []

    @task(cache=True, cache_version="1")
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 2

    assert expensive(x=2) == 4
    assert expensive(x=2) == 4
    assert expensive(x=3) == 6
    assert calls == [2, 3]
    executions = _store().list_executions()
    cached = [_store().get_nodes(e.id)[0].cached for e in reversed(executions)]
    assert cached == [False, True, False]
    assert _store().get_attempts(executions[1].id) == []  # a hit launches no attempt


def test_ignored_inputs_are_not_part_of_the_key(home: Path) -> None:
    calls: list[str] = []

    @task(cache=Cache(version="1", ignored_inputs=["note"]))
    def work(x: int, note: str) -> int:
        calls.append(note)
        return x

    work(x=1, note="first")
    work(x=1, note="second")
    assert calls == ["first"]


def test_ttl_expires_entries(home: Path) -> None:
    calls: list[int] = []

    @task(cache=Cache(version="1", ttl=timedelta(seconds=0.3)))
    def fresh(x: int) -> int:
        calls.append(x)
        return x

    fresh(x=1)
    fresh(x=1)
    time.sleep(0.4)
    fresh(x=1)
    assert len(calls) == 2


def test_a_new_cache_version_misses(home: Path) -> None:
    calls: list[str] = []

    def body(x: int) -> int:
        calls.append("run")
        return x

    task(cache=True, cache_version="1", name="versioned")(body)(x=1)
    task(cache=True, cache_version="1", name="versioned")(body)(x=1)
    task(cache=True, cache_version="2", name="versioned")(body)(x=1)
    assert len(calls) == 2


def test_without_a_version_the_source_is_the_version(home: Path) -> None:
    @task(cache=True, name="by_source")
    def one(x: int) -> int:
        return x + 1

    @task(cache=True, name="by_source")
    def two(x: int) -> int:
        return x + 2

    assert one(x=1) == 2
    assert two(x=1) == 3  # same name, other source: not a hit


def test_override_turns_caching_off(home: Path) -> None:
    from slipstream import workflow

    calls: list[int] = []

    @task(cache=True, cache_version="1")
    def counted(x: int) -> int:
        calls.append(x)
        return x

    @workflow
    def uncached(x: int) -> int:
        return counted(x=x).with_overrides(cache=False)

    uncached(x=1)
    uncached(x=1)
    assert len(calls) == 2


def test_serialize_makes_concurrent_identical_attempts_wait(home: Path, tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    results: list[int] = []

    def call() -> None:
        results.append(flows_engine.slow_pair(counter=str(counter), value=1))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [20, 20]
    # slow_cached ran once (the other waited for its result); counted ran in both executions
    assert counter.read_text() == "xxx"


def test_cache_is_shared_between_processes(home: Path, tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    script = (
        "import flows_engine, sys; "
        f"print(flows_engine.slow_cached(counter={str(counter)!r}, value=41))"
    )
    env_path = str(Path(flows_engine.__file__).parent)
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=env_path,
            check=True,
            timeout=120,
        )
        assert out.stdout.strip() == "42"
    assert counter.read_text() == "x"
    [entry] = _store().cache_list()
    assert entry.task_name == "flows_engine.slow_cached"


@pytest.mark.parametrize("runner", ["inprocess", "process"])
def test_cache_hit_on_either_runner(
    home: Path, tmp_path: Path, runner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_RUNNER", runner)
    counter = tmp_path / "calls"
    assert flows_engine.slow_cached(counter=str(counter), value=1) == 2
    assert flows_engine.slow_cached(counter=str(counter), value=1) == 2
    assert counter.read_text() == "x"

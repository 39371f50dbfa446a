"""The engine: history in the metadata store, concurrency, retries, system failures, timeouts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import flows_engine
import pytest

from slipstream import NonRecoverableError, TaskTimeoutError, task, workflow
from slipstream.config import load_settings
from slipstream.engine.local import engine_for


def _store():  # type: ignore[no-untyped-def]
    return engine_for(load_settings()).store


def test_history_records_execution_nodes_attempts_and_events(any_db_home: Path) -> None:
    @task
    def inc(x: int) -> int:
        return x + 1

    @workflow
    def chain(x: int) -> int:
        return inc(x=inc(x=x))

    assert chain(x=1) == 3
    store = _store()
    [record] = store.list_executions()
    assert (record.phase, record.kind) == ("SUCCEEDED", "workflow")
    nodes = {n.node_id: n for n in store.get_nodes(record.id)}
    assert set(nodes) == {"inc", "inc-2"}
    assert all(n.phase == "SUCCEEDED" and n.attempts == 1 for n in nodes.values())
    phases = [(e.node_id, e.phase) for e in store.get_events(record.id)]
    assert phases.index(("inc", "SUCCEEDED")) < phases.index(("inc-2", "RUNNING"))
    assert phases[-1] == ("", "SUCCEEDED")
    assert [a.phase for a in store.get_attempts(record.id)] == ["SUCCEEDED", "SUCCEEDED"]


def test_independent_nodes_run_concurrently(home: Path) -> None:
    barrier = threading.Barrier(2, timeout=10)

    @task
    def meet(name: str) -> str:
        barrier.wait()  # only returns if the other node runs at the same time
        return name

    @workflow
    def both() -> list[str]:
        return [meet(name="a"), meet(name="b")]

    assert both() == ["a", "b"]


def test_user_retries_then_success(home: Path) -> None:
    calls: list[int] = []

    @task(retries=2)
    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return len(calls)

    assert flaky() == 3
    [record] = _store().list_executions()
    [node] = _store().get_nodes(record.id)
    assert (node.attempts, node.user_attempts, node.system_attempts) == (3, 2, 0)


def test_user_retries_exhausted_raise_the_original_exception(home: Path) -> None:
    @task(retries=1)
    def broken() -> int:
        raise KeyError("missing thing")

    with pytest.raises(KeyError, match="missing thing"):
        broken()
    [record] = _store().list_executions()
    [node] = _store().get_nodes(record.id)
    assert node.phase == "FAILED" and node.attempts == 2


def test_non_recoverable_error_spends_no_retry(home: Path) -> None:
    @task(retries=5)
    def refuse() -> int:
        raise NonRecoverableError("bad config")

    with pytest.raises(NonRecoverableError):
        refuse()
    [record] = _store().list_executions()
    assert _store().get_nodes(record.id)[0].attempts == 1


def test_killed_process_is_retried_from_the_system_budget(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_RUNNER", "process")
    counter = tmp_path / "calls"
    assert flows_engine.dies_once(counter=str(counter)) == "survived"
    [record] = _store().list_executions()
    [node] = _store().get_nodes(record.id)
    assert (node.attempts, node.user_attempts, node.system_attempts) == (2, 0, 1)
    first = _store().get_attempts(record.id)[0]
    assert first.error is not None and "SIGKILL" in first.error


def test_system_budget_runs_out(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_RUNNER", "process")
    monkeypatch.setenv("SLIPSTREAM_SYSTEM_RETRIES", "0")
    with pytest.raises(Exception, match="SIGKILL"):
        flows_engine.dies_once(counter=str(tmp_path / "calls"))


def test_timeout_really_stops_the_attempt(home: Path) -> None:
    started = time.monotonic()
    with pytest.raises(TaskTimeoutError, match=r"timed out after 2 s"):
        flows_engine.sleepy(seconds=60)
    assert time.monotonic() - started < 30  # the 60 s sleep was stopped, not waited for
    [record] = _store().list_executions()
    [attempt] = _store().get_attempts(record.id)
    assert attempt.runner == "process" and "timed out" in (attempt.error or "")

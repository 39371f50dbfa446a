"""on_failure handlers and failure policies: the handler runs as a node; the workflow fails."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import pytest

from slipstream import (
    CompileError,
    DefinitionError,
    FailureInfo,
    WorkflowFailurePolicy,
    task,
    workflow,
)
from slipstream.config import load_settings
from slipstream.engine.local import engine_for

LOG: list[str] = []


def _last_nodes() -> dict[str, Any]:
    store = engine_for(load_settings()).store
    record = store.list_executions(limit=1)[0]
    return {n.node_id: n.phase for n in store.get_nodes(record.id)}


@task
def slow(x: int) -> int:
    time.sleep(0.3)
    LOG.append(f"slow {x}")
    return x


@task
def fast(x: int) -> int:
    LOG.append(f"fast {x}")
    return x


@task
def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


@task
def clean_up(x: int, err: Optional[FailureInfo] = None) -> None:  # noqa: UP045 - Flyte's way
    LOG.append(f"clean_up {x} {err}")


@task
def plain_handler(x: int) -> None:
    LOG.append(f"plain_handler {x}")


def _mine(x: int) -> list[str]:
    """This test's entries (an aborted in-process attempt of another test may finish later)."""
    return [entry for entry in LOG if entry.split()[1] == str(x)]


@pytest.fixture(autouse=True)
def _empty_log() -> None:
    LOG.clear()


def test_the_handler_runs_with_the_error_and_the_workflow_still_fails(home: Path) -> None:
    @workflow(on_failure=clean_up)
    def wf(x: int = 1) -> int:
        a = boom(x=x)
        slow(x=x)
        return fast(x=a)

    with pytest.raises(ValueError, match="boom 1"):
        wf()
    assert _mine(1) == ["clean_up 1 FailureInfo(message='boom 1', failed_node_id='boom')"]
    assert _last_nodes() == {
        "boom": "FAILED",
        "slow": "ABORTED",  # FAIL_IMMEDIATELY, the default, stops the rest
        "fast": "ABORTED",
        "clean-up": "SUCCEEDED",
    }
    assert wf.template.failure_node is not None
    assert wf.template.failure_node.spec == {"error_input": "err"}


def test_fail_after_executable_nodes_complete_runs_what_still_can(home: Path) -> None:
    @workflow(
        on_failure=plain_handler,
        failure_policy=WorkflowFailurePolicy.FAIL_AFTER_EXECUTABLE_NODES_COMPLETE,
    )
    def wf(x: int = 2) -> int:
        a = boom(x=x)
        b = slow(x=x)
        fast(x=b)
        return fast(x=a)

    with pytest.raises(ValueError, match="boom 2"):
        wf()
    assert _mine(2) == ["slow 2", "fast 2", "plain_handler 2"]
    assert _last_nodes() == {
        "boom": "FAILED",
        "slow": "SUCCEEDED",
        "fast": "SUCCEEDED",
        "fast-2": "SKIPPED",  # it needed boom's output
        "plain-handler": "SUCCEEDED",
    }


def test_a_sub_workflow_runs_its_own_handler_then_the_outer_one(home: Path) -> None:
    @workflow(on_failure=plain_handler)
    def inner(x: int) -> int:
        return boom(x=x)

    @workflow(on_failure=clean_up)
    def outer(x: int = 3) -> int:
        return fast(x=inner(x=x))

    with pytest.raises(ValueError, match="boom 3"):
        outer()
    assert _mine(3) == [
        "plain_handler 3",
        "clean_up 3 FailureInfo(message='boom 3', failed_node_id='inner')",
    ]
    nodes = _last_nodes()
    assert nodes["inner/plain-handler"] == "SUCCEEDED" and nodes["clean-up"] == "SUCCEEDED"
    assert nodes["inner"] == "FAILED"


def test_a_failing_handler_leaves_the_workflows_own_error(home: Path) -> None:
    @task
    def bad_handler(x: int) -> None:
        raise RuntimeError("handler broke")

    @workflow(on_failure=bad_handler)
    def wf(x: int = 4) -> int:
        return boom(x=x)

    with pytest.raises(ValueError, match="boom 4"):
        wf()
    assert _last_nodes()["bad-handler"] == "FAILED"


def test_success_never_runs_the_handler(home: Path) -> None:
    @workflow(on_failure=clean_up)
    def wf(x: int = 5) -> int:
        return fast(x=x)

    assert wf() == 5
    assert _mine(5) == ["fast 5"]
    assert "clean-up" not in _last_nodes()


def test_handler_interfaces_are_checked() -> None:
    @task
    def too_few() -> None: ...

    with pytest.raises(CompileError, match=r"must take every input of the workflow.*'x'"):

        @workflow(on_failure=too_few)
        def wf1(x: int) -> int:
            return fast(x=x)

    @task
    def extra(x: int, y: int) -> None: ...

    with pytest.raises(CompileError, match="input 'y' is not a workflow input"):

        @workflow(on_failure=extra)
        def wf2(x: int) -> int:
            return fast(x=x)

    with pytest.raises(DefinitionError, match="must be a @task or a @workflow"):

        @workflow(on_failure=print)
        def wf3(x: int) -> int:
            return fast(x=x)

    with pytest.raises(DefinitionError, match="failure_policy='later'"):

        @workflow(failure_policy="later")  # type: ignore[arg-type]
        def wf4(x: int) -> int:
            return fast(x=x)

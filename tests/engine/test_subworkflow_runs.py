"""Sub-workflows at run time: nested children, `a >> b` ordering, failures, resume half done."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

import fanout_crash
import flows_fanout
import pytest

from slipstream import task, workflow
from slipstream.config import load_settings
from slipstream.engine.local import engine_for


def _last_nodes() -> dict[str, Any]:
    store = engine_for(load_settings()).store
    record = store.list_executions(limit=1)[0]
    return {n.node_id: n for n in store.get_nodes(record.id)}


@task
def inc(x: int) -> int:
    return x + 1


class Split(NamedTuple):
    low: int
    high: int


def test_nested_sub_workflows_run_as_children_and_pass_outputs(home: Path) -> None:
    @workflow
    def leaf(x: int) -> Split:
        return Split(low=inc(x=x), high=inc(x=inc(x=x)))

    @workflow
    def middle(x: int) -> int:
        _, high = leaf(x=x)
        return inc(x=high)

    @workflow
    def top(x: int) -> int:
        return inc(x=middle(x=middle(x=x)))

    assert top(x=0) == 7
    nodes = _last_nodes()
    assert nodes["middle-2/leaf/inc-3"].parent_id == "middle-2/leaf"
    assert nodes["middle-2/leaf"].kind == "workflow"
    assert len(nodes) == 2 * (1 + 1 + 3 + 1) + 1
    assert all(n.phase == "SUCCEEDED" for n in nodes.values())


def test_explicit_order_holds_for_nodes_that_share_no_data(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"

    @task
    def note(text: str, pause: float) -> None:
        time.sleep(pause)
        with open(log, "a") as f:
            f.write(text)

    @workflow
    def sub(text: str) -> None:
        note(text=text, pause=0.0)

    @workflow
    def wf() -> None:
        slow = note(text="a", pause=0.2)
        inner = sub(text="b")
        last = note(text="c", pause=0.0)
        slow >> inner
        inner >> last

    wf()
    assert log.read_text() == "abc"
    nodes = _last_nodes()
    assert nodes["note"].ended_at <= nodes["sub/note"].started_at
    assert nodes["sub"].ended_at <= nodes["note-2"].started_at


def test_a_failing_child_fails_every_enclosing_workflow(home: Path) -> None:
    @task
    def boom(x: int) -> int:
        raise KeyError(f"missing {x}")

    @workflow
    def inner(x: int) -> int:
        return boom(x=inc(x=x))

    @workflow
    def outer(x: int) -> int:
        return inc(x=inner(x=x))

    with pytest.raises(KeyError, match="missing 2"):
        outer(x=1)
    nodes = {k: v.phase for k, v in _last_nodes().items()}
    assert nodes == {
        "inner": "FAILED",
        "inner/inc": "SUCCEEDED",
        "inner/boom": "FAILED",
        "inc": "ABORTED",
    }


@pytest.mark.parametrize("isolate", [False, True], ids=["inprocess", "process"])
def test_a_crash_inside_nested_sub_workflows_resumes_there(
    home: Path, tmp_path: Path, isolate: bool
) -> None:
    flag, counters = tmp_path / "flag", tmp_path / "counters"
    counters.mkdir()
    args = ["--flag", str(flag), "--counters", str(counters), *(["--isolate"] if isolate else [])]
    process = fanout_crash.start("nested_gate", *args)
    fanout_crash.wait_until(lambda: (counters / "5").exists(), "the innermost second task")
    execution = fanout_crash.only_execution()
    before = fanout_crash.nodes(execution)
    assert before["middle-gate/inner-gate/gated"]["phase"] == "SUCCEEDED"
    assert before["middle-gate"]["phase"] == "RUNNING"
    fanout_crash.kill(process)
    flag.write_text("go")
    result = fanout_crash.resume(execution)
    assert result == {"execution": execution, "phase": "SUCCEEDED", "outputs": {"o0": 50}}
    # Nothing that had succeeded ran again; the waiting task was re-adopted or re-run.
    counts = [flows_fanout.count(counters / str(i)) for i in (1, 0, 5)]
    assert counts == ([1, 1, 1] if isolate else [1, 1, 2])
    after = fanout_crash.nodes(execution)
    assert set(after) == {
        "gated",
        "middle-gate",
        "middle-gate/inner-gate",
        "middle-gate/inner-gate/gated",
        "middle-gate/inner-gate/gated-2",
    }
    assert all(node["phase"] == "SUCCEEDED" for node in after.values())

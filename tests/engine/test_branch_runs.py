"""conditional() at run time: the first true case runs, the rest are SKIPPED, failures are clear."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Optional

import fanout_crash
import flows_fanout
import pytest

from slipstream import conditional, task, workflow
from slipstream.config import load_settings
from slipstream.engine.local import engine_for
from slipstream.errors import ExecutionError


def _last_nodes() -> dict[str, Any]:
    store = engine_for(load_settings()).store
    record = store.list_executions(limit=1)[0]
    return {n.node_id: n for n in store.get_nodes(record.id)}


@task
def inc(x: int) -> int:
    return x + 1


@task
def dec(x: int) -> int:
    return x - 1


@task
def maybe(x: int) -> Optional[int]:  # noqa: UP045 - the hint users write
    return x if x > 0 else None


@pytest.mark.parametrize(("n", "expected"), [(3, "small"), (50, "medium"), (500, "large")])
def test_the_first_true_case_runs(home: Path, n: int, expected: str) -> None:
    assert flows_fanout.sized(n=n) == expected


def test_untaken_cases_are_recorded_skipped(home: Path) -> None:
    assert flows_fanout.sized(n=50) == "medium"
    nodes = _last_nodes()
    assert {k: v.phase for k, v in nodes.items()} == {
        "size": "SUCCEEDED",
        "size/label": "SKIPPED",
        "size/label-2": "SUCCEEDED",
        "size/label-3": "SKIPPED",
    }
    assert nodes["size"].kind == "branch" and nodes["size"].info["case"] == 1
    assert nodes["size/label"].parent_id == "size"


def test_conditions_on_task_outputs_optionals_and_datetimes(home: Path) -> None:
    @task
    def day(x: int) -> dt.datetime:
        return dt.datetime(2024, 1, 1) + dt.timedelta(days=x - 1)

    @workflow
    def wf(x: int) -> int:
        m = maybe(x=x)
        return (
            conditional("pick")
            .if_(m == None)  # noqa: E711 - builds a condition
            .then(dec(x=x))
            .elif_((day(x=x) >= dt.datetime(2024, 1, 5)) | (x == 2))
            .then(inc(x=x))
            .else_()
            .then(inc(x=inc(x=x)))
        )

    assert wf(x=0) == -1
    assert wf(x=2) == 3
    assert wf(x=7) == 8
    assert wf(x=3) == 5


def test_no_match_and_no_else_fails_naming_the_conditional_and_values(home: Path) -> None:
    @task
    def noop(x: int) -> None:
        return None

    @workflow
    def wf(x: int, y: int) -> None:
        conditional("guard").if_(x > 10).then(noop(x=x)).elif_(inc(x=y) < 0).then(noop(x=y))

    wf(x=11, y=0)
    with pytest.raises(ExecutionError) as caught:
        wf(x=3, y=5)
    message = str(caught.value)
    assert "conditional 'guard': no case matched and there is no else_()" in message
    assert "x=3" in message and "inc.o0=6" in message
    nodes = _last_nodes()
    assert nodes["guard"].phase == "FAILED"
    assert nodes["guard/noop"].phase == nodes["guard/noop-2"].phase == "SKIPPED"


def test_a_failing_case_fails_with_its_message(home: Path) -> None:
    @workflow
    def wf(x: int) -> int:
        return conditional("sign").if_(x >= 0).then(inc(x=x)).else_().fail("x must be >= 0")

    assert wf(x=1) == 2
    with pytest.raises(ExecutionError, match="conditional 'sign': x must be >= 0"):
        wf(x=-1)


def test_comparing_none_by_order_fails_clearly_at_run_time(home: Path) -> None:
    @workflow
    def wf(x: int) -> int:
        return conditional("c").if_(maybe(x=x) > 1).then(inc(x=x)).else_().then(dec(x=x))

    assert wf(x=5) == 6
    with pytest.raises(ExecutionError, match=r"conditional 'c': cannot evaluate None > 1"):
        wf(x=0)


def test_nested_conditionals_and_branches_in_sub_workflows(home: Path) -> None:
    @workflow
    def classify(x: int, y: int) -> int:
        return (
            conditional("outer")
            .if_(x > 0)
            .then(conditional("inner").if_(y > 0).then(inc(x=y)).else_().then(dec(x=y)))
            .else_()
            .then(inc(x=x))
        )

    @workflow
    def wf(x: int, y: int) -> int:
        return inc(x=classify(x=x, y=y))

    assert wf(x=1, y=5) == 7
    assert wf(x=1, y=-5) == -5
    assert wf(x=-1, y=5) == 1
    nodes = {k: v.phase for k, v in _last_nodes().items()}
    assert nodes == {
        "classify": "SUCCEEDED",
        "classify/outer": "SUCCEEDED",
        "classify/outer/inner": "SKIPPED",
        "classify/outer/inc": "SUCCEEDED",
        "inc": "SUCCEEDED",
    }


def test_a_branch_runs_the_same_out_of_process(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPSTREAM_RUNNER", "process")
    assert flows_fanout.sized(n=500) == "large"


def test_a_half_done_branch_resumes_in_its_taken_case(home: Path, tmp_path: Path) -> None:
    flag, counters = tmp_path / "flag", tmp_path / "counters"
    counters.mkdir()
    args = ["--n", "1", "--flag", str(flag), "--counters", str(counters), "--isolate"]
    process = fanout_crash.start("gated_branch", *args)
    fanout_crash.wait_until(lambda: (counters / "5").exists(), "the case's second task to start")
    execution = fanout_crash.only_execution()
    fanout_crash.kill(process)
    flag.write_text("go")
    result = fanout_crash.resume(execution)
    assert result == {"execution": execution, "phase": "SUCCEEDED", "outputs": {"o0": 50}}
    assert [flows_fanout.count(counters / str(i)) for i in (0, 5, 9)] == [1, 1, 0]
    nodes = fanout_crash.nodes(execution)
    assert nodes["gate/gated"]["phase"] == "SKIPPED"
    assert nodes["gate/inner-gate/gated-2"]["phase"] == "SUCCEEDED"


def test_a_case_may_return_an_outer_value_without_running_anything(home: Path) -> None:
    @workflow
    def wf(x: int) -> int:
        raised = inc(x=x)
        return conditional("clamp").if_(raised > 0).then(raised).else_().then(dec(x=x))

    assert wf(x=4) == 5
    assert {k: v.phase for k, v in _last_nodes().items()} == {
        "inc": "SUCCEEDED",
        "clamp": "SUCCEEDED",
        "clamp/dec": "SKIPPED",
    }
    assert wf(x=-3) == -4

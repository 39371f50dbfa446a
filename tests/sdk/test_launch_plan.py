"""LaunchPlan: saved inputs when called, a node when called in a workflow, an IR a server stores."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from slipstream import (
    CompileError,
    CronSchedule,
    DefinitionError,
    FixedRate,
    LaunchPlan,
    task,
    workflow,
)
from slipstream.compiler.launch_plans import check_launch_plan, launch_inputs
from slipstream.config import load_settings
from slipstream.engine.local import engine_for
from slipstream.ir import LaunchPlanTemplate, Literal, decode, encode


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def adder(a: int, b: int = 10) -> int:
    return add(a=a, b=b)


@workflow
def stamped(when: datetime, a: int) -> int:
    return add(a=a, b=a)


def test_a_plan_called_locally_runs_its_workflow_with_saved_inputs(home: Path) -> None:
    plan = LaunchPlan.get_or_create(
        adder, name="adder_plus_five", default_inputs={"a": 1}, fixed_inputs={"b": 5}
    )
    assert plan() == 6
    assert plan(a=2) == 7
    assert plan.saved_inputs == {"a": 1, "b": 5}


def test_overriding_a_fixed_input_is_an_error_naming_it(home: Path) -> None:
    plan = LaunchPlan.get_or_create(adder, name="fixed_b", fixed_inputs={"b": 5})
    with pytest.raises(TypeError, match=r"input\(s\) 'b' are fixed \(to 5\)"):
        plan(a=1, b=6)
    with pytest.raises(CompileError, match=r"caller': launch plan 'fixed_b': .*'b' are fixed"):

        @workflow
        def caller() -> int:
            return plan(a=1, b=2)


def test_the_default_plan_and_the_cache() -> None:
    default = LaunchPlan.get_or_create(adder)
    assert default.name == adder.name
    assert LaunchPlan.get_or_create(adder) is default
    with pytest.raises(DefinitionError, match="give the launch plan a name"):
        LaunchPlan.get_or_create(adder, default_inputs={"a": 1})
    first = LaunchPlan.get_or_create(adder, name="cached", default_inputs={"a": 1})
    assert LaunchPlan.get_or_create(adder, name="cached", default_inputs={"a": 1}) is first
    with pytest.raises(DefinitionError, match="'cached' but differ in default_inputs"):
        LaunchPlan.get_or_create(adder, name="cached", default_inputs={"a": 2})
    with pytest.raises(DefinitionError, match="already created"):
        LaunchPlan.create("cached", adder)


def test_bad_inputs_and_schedules_are_named() -> None:
    with pytest.raises(DefinitionError, match=r"unknown input\(s\) 'c'.*has: a, b"):
        LaunchPlan.get_or_create(adder, name="bad1", default_inputs={"c": 1})
    with pytest.raises(DefinitionError, match=r"fixed_inputs\['a'\]"):
        LaunchPlan.get_or_create(adder, name="bad2", fixed_inputs={"a": "x"})
    with pytest.raises(DefinitionError, match="five cron fields"):
        CronSchedule(schedule="every hour")
    with pytest.raises(DefinitionError, match="positive timedelta"):
        FixedRate(duration=timedelta(0))
    with pytest.raises(DefinitionError, match=r"must give every required input.*'a'"):
        LaunchPlan.get_or_create(adder, name="bad3", schedule=FixedRate(timedelta(minutes=1)))
    with pytest.raises(DefinitionError, match="must be a datetime input"):
        LaunchPlan.get_or_create(
            adder,
            name="bad4",
            fixed_inputs={"b": 1},
            schedule=CronSchedule(schedule="@hourly", kickoff_time_input_arg="a"),
        )


def test_the_plan_has_an_ir_form_that_round_trips() -> None:
    plan = LaunchPlan.get_or_create(
        stamped,
        name="hourly_stamped",
        default_inputs={"a": 3},
        schedule=CronSchedule(schedule="0  * * * *", kickoff_time_input_arg="when"),
        labels={"team": "ml"},
    )
    text = encode(plan.template)
    assert b'"apiVersion":"slipstream/v1"' in text
    back = decode(text, LaunchPlanTemplate)
    assert back == plan.template
    assert back.workflow == stamped.name
    assert back.default_inputs == {"a": Literal(value=3)}
    assert back.schedule is not None and back.schedule.cron == "0 * * * *"
    assert back.schedule.kickoff_time_input_arg == "when"
    assert back.labels == {"team": "ml"}
    rate = LaunchPlan.get_or_create(
        adder,
        name="every_minute",
        default_inputs={"a": 1},
        schedule=FixedRate(timedelta(seconds=90)),
    )
    assert rate.template.schedule is not None and rate.template.schedule.rate_seconds == 90.0
    check_launch_plan(rate.template, adder.template)
    with pytest.raises(CompileError, match="launches workflow"):
        check_launch_plan(rate.template, stamped.template)


def test_launch_inputs_layer_defaults_saved_given_and_fixed() -> None:
    plan = LaunchPlan.get_or_create(adder, name="layers", fixed_inputs={"a": 7}).template
    assert launch_inputs(plan, adder.template, {}) == {
        "a": Literal(value=7),
        "b": Literal(value=10),
    }
    with pytest.raises(CompileError, match="'a' are fixed"):
        launch_inputs(plan, adder.template, {"a": Literal(value=1)})
    free = LaunchPlan.get_or_create(adder, name="free").template
    with pytest.raises(CompileError, match=r"no value for required input.*'a'"):
        launch_inputs(free, adder.template, {})


def test_plans_called_in_a_workflow_are_nodes_ordered_by_rshift(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"

    @task
    def note(text: str, pause: float) -> None:
        time.sleep(pause)
        with open(log, "a") as f:
            f.write(text)

    @workflow
    def sub(text: str, pause: float) -> None:
        note(text=text, pause=pause)

    slow = LaunchPlan.get_or_create(sub, name="slow", fixed_inputs={"text": "a", "pause": 0.3})
    fast = LaunchPlan.get_or_create(sub, name="fast", default_inputs={"text": "b", "pause": 0.0})

    @workflow
    def wf() -> None:
        slow() >> fast()
        sub(text="c", pause=0.2) >> sub(text="d", pause=0.0)

    nodes = {node.id: node for node in wf.template.nodes}
    assert set(nodes) == {"slow", "fast", "sub", "sub-2"}
    assert nodes["fast"].kind == "workflow" and nodes["fast"].spec == {"launch_plan": "fast"}
    assert nodes["fast"].upstream == ("slow",)
    assert nodes["sub-2"].upstream == ("sub",)
    wf()
    text = log.read_text()
    assert text.index("a") < text.index("b") and text.index("c") < text.index("d")
    store = engine_for(load_settings()).store
    record = store.list_executions(limit=1)[0]
    done = {n.node_id: n for n in store.get_nodes(record.id)}
    assert done["slow"].ended_at <= done["fast/note"].started_at


def test_a_plan_output_feeds_a_task(home: Path) -> None:
    plan = LaunchPlan.get_or_create(adder, name="plus_one", fixed_inputs={"b": 1})

    @workflow
    def twice(a: int) -> int:
        return plan(a=plan(a=a))

    assert twice(a=1) == 3

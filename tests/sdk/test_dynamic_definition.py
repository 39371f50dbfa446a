"""@dynamic: @task's options, "dynamic" nodes in workflows, the checked graph its body builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipstream import Cache, CompileError, DefinitionError, dynamic, task, workflow
from slipstream.sdk.dynamic import DynamicCompileError, DynamicDefinition


@task
def inc(x: int) -> int:
    return x + 1


@task
def text(x: int) -> str:
    return str(x)


@dynamic(cache=Cache(version="2"), retries=3)
def chain(n: int, start: int) -> int:
    value = start
    for _ in range(n):  # real values: the body may loop over its inputs
        value = inc(x=value)
    return value


def test_dynamic_takes_the_options_of_task() -> None:
    assert isinstance(chain, DynamicDefinition)
    template = chain.template
    assert template.retries == 3
    assert template.cache is not None and template.cache.version == "2"
    with pytest.raises(DefinitionError, match="retries=-1 must be an int >= 0"):

        @dynamic(retries=-1)
        def bad(n: int) -> int:
            return n


def test_in_a_workflow_a_dynamic_is_one_dynamic_node() -> None:
    @workflow
    def wf(n: int) -> int:
        return inc(x=chain(n=n, start=1))

    first, second = wf.template.nodes
    assert (first.id, first.kind, first.target) == ("chain", "dynamic", chain.name)
    assert second.inputs["x"].node == "chain"
    assert wf.template.tasks[chain.name] is chain.template


def test_the_body_is_traced_on_values_into_a_checked_graph() -> None:
    built = chain.trace_body({"n": 3, "start": 5})
    template = built.template
    assert [node.id for node in template.nodes] == ["inc", "inc-2", "inc-3"]
    assert template.nodes[0].inputs["x"].literal.value == 5
    assert template.outputs["o0"].node == "inc-3"
    assert built.entities[inc.name] is inc
    assert chain.trace_body({"n": 0, "start": 7}).template.outputs["o0"].literal.value == 7


def test_a_wrong_return_type_names_the_dynamic_and_both_types() -> None:
    @dynamic
    def wrong(n: int) -> int:
        return text(x=n)

    with pytest.raises(DynamicCompileError) as caught:
        wrong.trace_body({"n": 1})
    message = str(caught.value)
    assert repr(wrong.name) in message
    assert "expects int but gets str" in message
    assert isinstance(caught.value, CompileError)


def test_a_wrong_constant_return_is_named_too() -> None:
    @dynamic
    def constant(n: int) -> int:
        return "nope"  # type: ignore[return-value]

    with pytest.raises(DynamicCompileError, match=r"output 'o0'.*nope"):
        constant.trace_body({"n": 1})


def test_positional_calls_are_rejected() -> None:
    with pytest.raises(TypeError, match="keyword arguments"):
        chain(3, 1)


def test_a_direct_call_runs_the_body_and_its_graph(home: Path) -> None:
    assert chain(n=4, start=10) == 14

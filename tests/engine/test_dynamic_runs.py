"""@dynamic at run time: its graph runs as child nodes, nests, caches, checks types, resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fanout_crash
import flows_fanout
import pytest
from click.testing import CliRunner

from slipstream import Cache, dynamic, task, workflow
from slipstream.config import load_settings
from slipstream.engine.local import engine_for
from slipstream.sdk.dynamic import DynamicCompileError


def _store() -> Any:
    return engine_for(load_settings()).store


def _last_nodes() -> dict[str, Any]:
    record = _store().list_executions(limit=1)[0]
    return {n.node_id: n for n in _store().get_nodes(record.id)}


@task
def inc(x: int) -> int:
    return x + 1


def test_the_graph_runs_as_children_of_the_dynamic_node(home: Path) -> None:
    @dynamic
    def chain(n: int, start: int) -> int:
        value = start
        for _ in range(n):
            value = inc(x=value)
        return value

    @workflow
    def wf(n: int) -> int:
        return inc(x=chain(n=n, start=10))

    assert wf(n=3) == 14
    nodes = _last_nodes()
    assert set(nodes) == {"chain", "chain/inc", "chain/inc-2", "chain/inc-3", "inc"}
    assert nodes["chain"].kind == "dynamic"
    assert nodes["chain/inc-3"].parent_id == "chain"
    assert nodes["chain"].info["dynamic"]["nodes"] == 3
    assert all(n.phase == "SUCCEEDED" for n in nodes.values())


def test_dynamics_nest_and_call_workflows(home: Path) -> None:
    @workflow
    def twice(x: int) -> int:
        return inc(x=inc(x=x))

    @dynamic
    def inner(n: int) -> list[int]:
        return [twice(x=i) for i in range(n)]

    @dynamic
    def outer(n: int) -> list[int]:
        return inner(n=n + 1)

    assert outer(n=2) == [2, 3, 4]
    nodes = _last_nodes()
    assert nodes["outer/inner"].kind == "dynamic"
    assert nodes["outer/inner/twice-3/inc-2"].phase == "SUCCEEDED"


def test_a_body_returning_plain_values_needs_no_children(home: Path) -> None:
    @dynamic
    def maybe(n: int) -> int:
        if n == 0:
            return 0
        return inc(x=n)

    assert maybe(n=0) == 0
    assert maybe(n=4) == 5


def test_a_wrong_return_type_fails_naming_the_dynamic_and_both_types(home: Path) -> None:
    with pytest.raises(DynamicCompileError) as caught:
        flows_fanout.wrong_type(n=3)
    message = str(caught.value)
    assert "'flows_fanout.wrong_type'" in message
    assert "expects int but gets str" in message
    [node] = _last_nodes().values()
    assert node.attempts == 1  # retrying cannot fix it


def test_a_wrong_return_type_out_of_process_fails_the_same(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_RUNNER", "process")
    with pytest.raises(DynamicCompileError, match="expects int but gets str"):
        flows_fanout.wrong_type(n=3)


def test_the_body_runs_in_its_own_process_too(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPSTREAM_RUNNER", "process")
    assert flows_fanout.sum_of_squares(n=4) == 14
    nodes = _last_nodes()
    graph = Path(nodes["sum-of-squares"].info["dynamic"]["template"].removeprefix("file://"))
    assert graph.name == "dynamic.json" and graph.exists()
    assert nodes["sum-of-squares/squares/square-4"].phase == "SUCCEEDED"
    attempts = _store().get_attempts(_store().list_executions(limit=1)[0].id)
    assert {a.runner for a in attempts} == {"process"}


def test_a_cached_dynamic_skips_its_body(home: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls"

    @dynamic(cache=Cache(version="1"))
    def fan(n: int) -> list[int]:
        flows_fanout.bump(calls)
        return [inc(x=i) for i in range(n)]

    assert fan(n=3) == [1, 2, 3]
    assert fan(n=3) == [1, 2, 3]
    assert flows_fanout.count(calls) == 1
    [node] = _last_nodes().values()
    assert node.cached


def test_a_failing_child_fails_the_dynamic_and_the_execution(home: Path) -> None:
    @task
    def boom(x: int) -> int:
        raise RuntimeError(f"child {x} failed")

    @dynamic
    def fan(n: int) -> list[int]:
        return [boom(x=i) if i == 1 else inc(x=i) for i in range(n)]

    with pytest.raises(RuntimeError, match="child 1 failed"):
        fan(n=3)
    nodes = _last_nodes()
    assert (nodes["fan"].phase, nodes["fan/boom"].phase) == ("FAILED", "FAILED")


def test_show_draws_the_nested_graph(home: Path) -> None:
    from slipstream.cli.main import cli

    @workflow
    def wf(n: int) -> int:
        return flows_fanout.sum_of_squares(n=n)

    assert wf(n=2) == 1
    execution = _store().list_executions(limit=1)[0].id
    result = CliRunner().invoke(cli, ["executions", "show", execution])
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.output.splitlines()]
    names = [line.split()[0] for line in lines[2:6]]
    assert names == ["sum-of-squares", "dynamic", "squares", "dynamic"]
    indents = [len(line) - len(line.lstrip()) for line in lines[2:]]
    assert indents[0] < indents[2] < indents[4]  # each level is indented under its parent
    assert "[dynamic]" in lines[2]


@pytest.mark.parametrize("isolate", [False, True], ids=["inprocess", "process"])
def test_a_half_done_dynamic_resumes_from_its_saved_graph(
    home: Path, tmp_path: Path, isolate: bool
) -> None:
    flag, counters = tmp_path / "flag", tmp_path / "counters"
    counters.mkdir()
    args = ["--n", "4", "--flag", str(flag), "--counters", str(counters)]
    process = fanout_crash.start("gated_fan", *args, *(["--isolate"] if isolate else []))
    execution = ""

    def quick_children_done() -> bool:
        nonlocal execution
        if not (counters / "3").exists():
            return False
        execution = execution or fanout_crash.only_execution()
        nodes = fanout_crash.nodes(execution)
        return all(
            nodes.get(f"gated-fan/{n}", {}).get("phase") == "SUCCEEDED"
            for n in ("gated", "gated-2")
        )

    fanout_crash.wait_until(quick_children_done, "the quick children to succeed")
    fanout_crash.kill(process)
    flag.write_text("go")
    result = fanout_crash.resume(execution)
    assert result["phase"] == "SUCCEEDED"
    assert result["outputs"] == {"o0": [0, 10, 20, 30]}
    assert [flows_fanout.count(counters / str(i)) for i in range(4)] == (
        [1, 1, 1, 1] if isolate else [1, 1, 2, 2]
    )
    nodes = fanout_crash.nodes(execution)
    assert nodes["gated-fan"]["attempts"] == 1  # the body did not run again
    assert len([n for n in nodes if n.startswith("gated-fan/")]) == 4


def test_a_dynamic_body_can_map_over_its_values(home: Path) -> None:
    from slipstream import map_task

    @dynamic
    def evens(n: int) -> list[int]:
        return map_task(flows_fanout.square, concurrency=2)(x=[i for i in range(n) if i % 2 == 0])

    assert evens(n=7) == [0, 4, 16, 36]
    nodes = _last_nodes()
    assert nodes["evens/map-square"].kind == "map"
    assert nodes["evens/map-square"].info["succeeded"] == 4


def test_a_dynamic_body_can_branch_on_what_it_built(home: Path) -> None:
    from slipstream import conditional, map_task

    @task
    def dec(x: int) -> int:
        return x - 1

    @dynamic
    def pick(n: int) -> int:
        summed = flows_fanout.total(xs=map_task(inc)(x=list(range(n))))
        return conditional("big").if_(summed > 10).then(inc(x=summed)).else_().then(dec(x=summed))

    assert pick(n=2) == 2
    assert pick(n=5) == 16
    nodes = _last_nodes()
    assert (nodes["pick/big/inc"].phase, nodes["pick/big/dec"].phase) == ("SUCCEEDED", "SKIPPED")

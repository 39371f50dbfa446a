"""@workflow: the body is traced once; wiring mistakes are CompileErrors at definition."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from slipstream import CompileError, task, workflow


@task
def make_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n)})


@task
def count(frame: pd.DataFrame) -> int:
    return len(frame)


@task
def shout(text: str) -> str:
    return text.upper()


def test_workflow_runs_and_returns_plain_values(home: Path) -> None:
    @workflow
    def pipeline(n: int = 4) -> int:
        return count(frame=make_frame(n=n))

    assert pipeline() == 4
    assert pipeline(n=10) == 10
    assert [node.id for node in pipeline.template.nodes] == ["make-frame", "count"]


def test_type_mismatch_names_workflow_node_input_and_both_types() -> None:
    with pytest.raises(CompileError) as caught:

        @workflow
        def wrong(n: int) -> str:
            return shout(text=make_frame(n=n))

    message = str(caught.value)
    assert "workflow 'test_workflow_compile" in message and "wrong'" in message
    assert "node 'shout'" in message and "input 'text'" in message
    assert "expects str" in message and "dataframe" in message


def test_workflow_input_of_the_wrong_type() -> None:
    with pytest.raises(
        CompileError,
        match=r"input 'text' expects str but gets int from workflow "
        r"input 'n'",
    ):

        @workflow
        def wrong(n: int) -> str:
            return shout(text=n)


def test_missing_required_input() -> None:
    with pytest.raises(
        CompileError,
        match=r"node 'count' \(.*count\) is missing its required "
        r"input 'frame'",
    ):

        @workflow
        def wrong() -> int:
            return count()


def test_unknown_input_name() -> None:
    with pytest.raises(CompileError, match=r"has no input 'txt'; its inputs are: text"):

        @workflow
        def wrong(s: str) -> str:
            return shout(txt=s)


def test_constant_of_the_wrong_type() -> None:
    with pytest.raises(CompileError, match=r"input 'n'.*expected int, got str"):

        @workflow
        def wrong() -> int:
            return count(frame=make_frame(n="three"))


def test_cycle_through_explicit_ordering() -> None:
    with pytest.raises(CompileError, match=r"cycle"):

        @workflow
        def wrong(s: str) -> None:
            a = shout(text=s)
            b = shout(text=s)
            a >> b
            b >> a


def test_positional_call_inside_a_workflow() -> None:
    with pytest.raises(TypeError, match="keyword arguments"):

        @workflow
        def wrong(s: str) -> str:
            return shout(s)


def test_promise_has_no_truth_value() -> None:
    with pytest.raises(CompileError, match="use conditional"):

        @workflow
        def wrong(s: str) -> str:
            return shout(text=s) if shout(text=s) else s


def test_workflow_output_type_is_checked() -> None:
    with pytest.raises(CompileError, match=r"output 'o0' expects int but gets str"):

        @workflow
        def wrong(s: str) -> int:
            return shout(text=s)


def test_explicit_order_runs_after(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"

    @task
    def write(word: str) -> None:
        with log.open("a") as f:
            f.write(word + "\n")

    @workflow
    def ordered() -> None:
        first = write(word="first")
        second = write(word="second")
        first >> second

    assert ordered.template.nodes[1].upstream == ("write",)
    ordered()
    assert log.read_text().split() == ["first", "second"]


def test_with_overrides_reaches_the_template() -> None:
    @workflow
    def tuned(s: str) -> str:
        return shout(text=s).with_overrides(retries=4, timeout=30)

    overrides = tuned.template.nodes[0].overrides
    assert overrides is not None
    assert (overrides.retries, overrides.timeout_seconds) == (4, 30)


def test_ten_thousand_node_workflow_compiles() -> None:
    @workflow
    def wide(s: str) -> list[str]:
        return [shout(text=s) for _ in range(10_000)]

    assert len(wide.template.nodes) == 10_000

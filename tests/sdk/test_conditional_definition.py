"""conditional(): the branch node, its cases' sub-workflows, conditions and definition errors."""

from __future__ import annotations

import datetime as dt
import enum
from typing import NamedTuple, Optional

import pytest

from slipstream import CompileError, conditional, task, workflow


@task
def inc(x: int) -> int:
    return x + 1


@task
def dec(x: int) -> int:
    return x - 1


@task
def word(x: int) -> str:
    return str(x)


@task
def noop(x: int) -> None:
    return None


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Both(NamedTuple):
    a: int
    b: str


@task
def both(x: int) -> Both:
    return Both(x, str(x))


def test_a_conditional_is_one_branch_node_with_a_sub_workflow_per_case() -> None:
    @workflow
    def wf(x: int, y: int) -> int:
        first = inc(x=y)
        return (
            conditional("pick")
            .if_((x > 0) & (first < 10))
            .then(inc(x=first))
            .elif_(x == 0)
            .then(dec(x=x))
            .else_()
            .fail("negative")
        )

    _, branch = wf.template.nodes
    assert (branch.id, branch.kind) == ("pick", "branch")
    assert set(branch.inputs) == {"x", "inc.o0"}
    assert branch.inputs["inc.o0"].node == "inc"
    cases = branch.spec["cases"]
    assert cases[0]["when"]["and"][1] == {
        "cmp": "<",
        "left": {"input": "inc.o0", "type": {"kind": "int"}},
        "right": {"literal": {"value": 10}, "type": {"kind": "int"}},
    }
    assert cases[2] == {"when": None, "fail": "negative"}
    case0 = wf.template.workflows[cases[0]["workflow"]]
    assert [n.id for n in case0.nodes] == ["inc"]
    assert case0.nodes[0].inputs["x"].name == "inc.o0"  # an outer value is a case input
    case1 = wf.template.workflows[cases[1]["workflow"]]
    assert [n.id for n in case1.nodes] == ["dec"]  # ids are unique across the cases
    assert wf.template.outputs["o0"].node == "pick"


def test_node_ids_do_not_repeat_across_cases() -> None:
    @workflow
    def wf(x: int) -> int:
        return conditional("c").if_(x > 0).then(inc(x=x)).else_().then(inc(x=x))

    cases = wf.template.nodes[0].spec["cases"]
    ids = [wf.template.workflows[c["workflow"]].nodes[0].id for c in cases]
    assert ids == ["inc", "inc-2"]


def test_cases_must_return_the_same_type() -> None:
    with pytest.raises(
        CompileError, match=r"conditional 'c': case 1 returns str but case 0 returns int"
    ):

        @workflow
        def wf(x: int) -> int:
            return conditional("c").if_(x > 0).then(inc(x=x)).else_().then(word(x=x))


def test_named_outputs_and_void_cases() -> None:
    @workflow
    def wf(x: int) -> str:
        a, _ = conditional("c").if_(x > 0).then(both(x=x)).else_().then(both(x=inc(x=x)))
        return word(x=a)

    assert wf.template.nodes[-1].inputs["x"].name == "a"

    @workflow
    def side(x: int) -> None:
        conditional("c").if_(x > 0).then(noop(x=x)).else_().fail("no")

    assert not side.template.nodes[0].spec["interface"].get("outputs")


def test_a_conditional_without_else_can_be_ordered() -> None:
    @workflow
    def wf(x: int) -> int:
        maybe = conditional("maybe").if_(x > 3).then(noop(x=x))
        after = inc(x=x)
        maybe >> after
        return after

    branch, after = wf.template.nodes
    assert after.upstream == ("maybe",)
    assert "open" not in branch.spec


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (lambda x, s: conditional("c").if_(x == "a").then(inc(x=x)), r"compares a int with a str"),
        (lambda x, s: conditional("c").if_(s > 1).then(inc(x=x)), r"compares a str with a int"),
        (lambda x, s: conditional("c").if_(x).then(inc(x=x)), r"if_\(\) needs a condition"),
        (lambda x, s: conditional("c").if_(True).then(inc(x=x)), r"if_\(\) needs a condition"),
        (lambda x, s: conditional("c").if_(x > 1 and x < 3).then(inc(x=x)), r"not `and`, `or`"),
        (lambda x, s: conditional("c").if_(1 < x < 3).then(inc(x=x)), r"chained comparisons"),
        (lambda x, s: conditional("c").if_(x > [1]).then(inc(x=x)), r"constants"),
        (lambda x, s: conditional("c").if_(x > 1).then(5), r"then\(\) takes the result"),
        (lambda x, s: conditional("c").else_(), r"else_\(\) needs an if_\(\) first"),
        (lambda x, s: conditional("c").if_(x > 1).then(inc(x=x)).if_(x > 2), r"use elif_"),
        (lambda x, s: conditional("c").if_(x > 1).fail(""), r"fail\(\) needs a message"),
        (lambda x, s: conditional("bad name"), r"letters, digits"),
        (lambda x, s: conditional("c").if_(x > 0), r"is unfinished"),
        (lambda x, s: conditional("c"), r"has no cases"),
    ],
)
def test_definition_errors_are_clear(body, message: str) -> None:
    with pytest.raises(CompileError, match=message):

        @workflow
        def wf(x: int, s: str) -> None:
            body(x, s)


def test_a_failing_case_runs_nothing() -> None:
    with pytest.raises(CompileError, match="calls 1 task"):

        @workflow
        def wf(x: int) -> None:
            case = conditional("c").if_(x > 0)
            inc(x=x)
            case.fail("boom")


def test_conditional_outside_a_workflow_is_an_error() -> None:
    with pytest.raises(CompileError, match=r"only for use inside a @workflow or @dynamic"):
        conditional("c")


def test_comparisons_of_optionals_none_datetimes_and_enums() -> None:
    @task
    def maybe(x: int) -> Optional[int]:  # noqa: UP045 - the hint users write
        return x or None

    @task
    def when(x: int) -> dt.datetime:
        return dt.datetime(2024, 1, x)

    @task
    def color(x: int) -> Color:
        return Color.RED

    @workflow
    def wf(x: int) -> int:
        m, t, c = maybe(x=x), when(x=x), color(x=x)
        return (
            conditional("c")
            .if_(m == None)  # noqa: E711 - builds a condition
            .then(inc(x=x))
            .elif_((t > dt.datetime(2024, 1, 2)) | (c == Color.BLUE))
            .then(dec(x=x))
            .else_()
            .then(inc(x=x))
        )

    when_case = wf.template.nodes[3].spec["cases"][1]["when"]
    assert when_case["or"][0]["right"]["literal"] == {"value": "2024-01-02T00:00:00"}
    assert when_case["or"][1]["right"]["literal"] == {"value": "blue"}
    with pytest.raises(CompileError, match="can only be compared with == and !="):

        @workflow
        def bad(x: int) -> None:
            conditional("c").if_(color(x=x) > Color.RED).then(noop(x=x))


def test_nested_conditionals_pass_outer_values_through() -> None:
    @workflow
    def wf(x: int, y: int) -> int:
        return (
            conditional("outer")
            .if_(x > 0)
            .then(conditional("inner").if_(y > 0).then(inc(x=y)).else_().then(dec(x=x)))
            .else_()
            .then(inc(x=x))
        )

    outer = wf.template.nodes[0]
    assert set(outer.inputs) == {"x", "y"}
    case0 = wf.template.workflows[outer.spec["cases"][0]["workflow"]]
    [inner] = case0.nodes
    assert inner.kind == "branch" and set(inner.inputs) == {"x", "y"}
    assert inner.inputs["y"].kind == "input"
    assert set(case0.workflows) == {"inner.case-0", "inner.case-1"}

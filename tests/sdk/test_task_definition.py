"""@task: options are validated at definition, plain calls run locally and check inputs first."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import pytest

from slipstream import Cache, DefinitionError, NonRecoverableError, Resources, current_context, task


def test_plain_call_runs_the_body_and_returns_a_plain_value(home: Path) -> None:
    @task
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert add(a=1) == 3
    assert add(a=1, b=5) == 6


def test_missing_type_hint_names_the_parameter() -> None:
    with pytest.raises(DefinitionError, match=r"parameter 'b' has no type hint"):

        @task
        def bad(a: int, b) -> int:  # type: ignore[no-untyped-def]
            return a


def test_positional_call_says_to_use_keywords(home: Path) -> None:
    @task
    def square(x: int) -> int:
        return x * x

    with pytest.raises(TypeError, match=r"keyword arguments, e\.g\. square\(x=\.\.\.\)"):
        square(3)


def test_wrong_input_type_fails_before_the_body_runs(home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    @task
    def touch(x: int) -> int:
        marker.write_text("ran")
        return x

    with pytest.raises(TypeError, match=r"input 'x': expected int, got str 'abc'"):
        touch(x="abc")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"requests": Resources(cpu="1")}, None),
        ({"retries": -1}, r"retries=-1 must be an int >= 0"),
        ({"timeout": "soon"}, r"timeout='soon' must be a number of seconds or a timedelta"),
        ({"timeout": 0}, r"timeout=0 must be positive"),
        ({"interruptible": "yes"}, r"interruptible='yes' must be True or False"),
        ({"environment": {"A": 1}}, r"environment=\{'A': 1\} must be a dict of str to str"),
        ({"cache_version": "2"}, r"cache_version='2' is set but cache is off"),
        ({"cache": Cache(ignored_inputs=["nope"])}, r"ignored_inputs=\.\.\.\) names unknown"),
        ({"cache": "always"}, r"cache='always' must be True, False or a Cache"),
        ({"requests": {"cpu": "1"}}, r"requests=\{'cpu': '1'\} must be a Resources"),
    ],
)
def test_options_are_validated_at_definition(options: dict, message: str | None) -> None:
    def body(x: int) -> int:
        return x

    if message is None:
        assert task(**options)(body).template.requests.cpu == "1"
        return
    with pytest.raises(DefinitionError, match=message):
        task(**options)(body)


def test_bad_resource_quantity_is_named() -> None:
    with pytest.raises(DefinitionError, match=r"mem='32 gigs' is not a Kubernetes quantity"):
        Resources(mem="32 gigs")


def test_template_carries_every_option() -> None:
    @task(
        name="custom.name",
        cache=Cache(version="7", ignored_inputs=["b"], ttl=timedelta(hours=1), serialize=True),
        retries=3,
        timeout=timedelta(seconds=90),
        requests=Resources(cpu="500m", mem="1Gi"),
        limits=Resources(cpu="2", mem="2Gi", gpu=1),
        interruptible=True,
        image="repo/img:1",
        environment={"MODE": "test"},
    )
    def t(a: int, b: str) -> float:
        return 1.0

    template = t.template
    assert template.name == "custom.name"
    assert template.cache is not None
    assert (template.cache.version, template.cache.ignored_inputs) == ("7", ("b",))
    assert template.cache.ttl_seconds == 3600 and template.cache.serialize
    assert template.retries == 3 and template.timeout_seconds == 90
    assert template.requests.cpu == "500m" and template.limits.gpu == "1"
    assert template.interruptible and template.image == "repo/img:1"
    assert template.environment == {"MODE": "test"}
    assert [v.name for v in template.interface.inputs] == ["a", "b"]
    assert str(template.interface.outputs[0].type) == "float"
    assert template.function.endswith(":test_template_carries_every_option.<locals>.t")


def test_cache_version_with_cache_true() -> None:
    @task(cache=True, cache_version="3")
    def t(a: int) -> int:
        return a

    assert t.template.cache is not None and t.template.cache.version == "3"


class Split(NamedTuple):
    head: str
    rest: list[int]


def test_named_tuple_outputs_round_trip(home: Path) -> None:
    @task
    def split(values: list[int]) -> Split:
        return Split(head=str(values[0]), rest=values[1:])

    result = split(values=[1, 2, 3])
    assert result == Split("1", [2, 3])
    assert [v.name for v in split.template.interface.outputs] == ["head", "rest"]


def test_wrong_output_type_is_reported(home: Path) -> None:
    @task
    def liar() -> int:
        return "not an int"  # type: ignore[return-value]

    with pytest.raises(TypeError, match=r"output 'o0': expected int, got str"):
        liar()


def test_non_recoverable_error_reaches_the_caller(home: Path) -> None:
    calls = []

    @task(retries=3)
    def give_up() -> None:
        calls.append(1)
        raise NonRecoverableError("the input can never work")

    with pytest.raises(NonRecoverableError, match="can never work"):
        give_up()
    assert len(calls) == 1


def test_current_context_inside_a_task(home: Path) -> None:
    @task
    def where() -> str:
        context = current_context()
        assert context.working_directory.is_dir()
        return f"{context.execution_id}/{context.node_id}/{context.attempt}"

    execution, node, attempt = where().split("/")
    assert execution.startswith("e") and node == "where" and attempt == "1"


def test_working_directory_is_private_and_removed_afterwards(home: Path) -> None:
    seen: list[Path] = []

    @task
    def scratch() -> str:
        folder = current_context().working_directory
        (folder / "note.txt").write_text("private")
        seen.append(folder)
        return folder.name

    scratch()
    assert seen and not seen[0].exists()

"""`slipstream run`, `executions` and `cache`, driven in-process with click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from slipstream.cli.main import cli

FLOWS = str(Path(__file__).with_name("flows_cli.py"))


@pytest.fixture
def runner(home: Path) -> CliRunner:
    return CliRunner()


def _json_tail(output: str) -> dict:  # type: ignore[type-arg]
    return json.loads(output.strip().splitlines()[-1])


def test_entity_help_lists_inputs_types_and_defaults(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", FLOWS, "scale", "--help"])
    assert result.exit_code == 0, result.output
    assert "--points" in result.output and "list[Point]" in result.output
    assert "--factor" in result.output and "(default: 2.0)" in result.output
    assert "Multiply every point" in result.output


def test_run_with_json_input_and_json_output(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["run", FLOWS, "scale", "--points", '[{"x": 1, "y": 2}]', "--factor", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    document = _json_tail(result.stdout)
    assert document["phase"] == "SUCCEEDED"
    assert document["outputs"] == {"o0": [{"x": 3, "y": 6}]}
    assert document["execution"].startswith("e")


def test_flyte_spelling_of_an_input_works(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", FLOWS, "total", "--n", "4", "--wait", "1s", "--json"])
    assert result.exit_code == 0, result.output
    assert _json_tail(result.stdout)["outputs"] == {"o0": 16}


def test_bad_value_names_the_input_and_type(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", FLOWS, "square", "--n", "abc"])
    assert result.exit_code == 2
    assert "input 'n' expects int" in result.output and "'abc'" in result.output


def test_missing_required_input(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", FLOWS, "square"])
    assert result.exit_code == 2
    assert "missing its required input 'n'" in result.output


def test_unknown_entity_lists_what_the_file_has(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", FLOWS, "nope"])
    assert result.exit_code == 2
    assert "has no task or workflow named 'nope'" in result.output
    assert "scale" in result.output and "total" in result.output


def test_user_error_shows_type_message_and_user_frames_only(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", FLOWS, "explode", "--message", "boom", "--json"])
    assert result.exit_code == 1
    assert "ValueError: exploded: boom" in result.stderr
    assert 'flows_cli.py", line' in result.stderr and "in _deep" in result.stderr
    assert "slipstream/engine" not in result.stderr and "slipstream/runners" not in result.stderr
    document = _json_tail(result.stdout)
    assert document["phase"] == "FAILED"
    assert document["error"]["type"] == "ValueError"


def test_executions_list_and_show(runner: CliRunner) -> None:
    runner.invoke(cli, ["run", FLOWS, "total", "--n", "3"])
    listed = runner.invoke(cli, ["executions", "list", "--json"])
    [execution] = json.loads(listed.stdout)
    assert execution["name"] == "flows_cli.total" and execution["phase"] == "SUCCEEDED"
    table = runner.invoke(cli, ["executions", "list"])
    assert execution["execution"] in table.stdout
    shown = runner.invoke(cli, ["executions", "show", execution["execution"]])
    assert shown.exit_code == 0
    assert "square" in shown.stdout and "SUCCEEDED" in shown.stdout and "o0: 9" in shown.stdout
    missing = runner.invoke(cli, ["executions", "show", "enope"])
    assert missing.exit_code == 2 and "no execution 'enope'" in missing.output


def test_cache_list_and_clear(runner: CliRunner) -> None:
    runner.invoke(cli, ["run", FLOWS, "square", "--n", "2"])
    runner.invoke(cli, ["run", FLOWS, "square", "--n", "3"])
    entries = json.loads(runner.invoke(cli, ["cache", "list", "--json"]).stdout)
    assert {e["task"] for e in entries} == {"flows_cli.square"} and len(entries) == 2
    kept = runner.invoke(cli, ["cache", "clear", "--older-than", "1h"])
    assert "removed 0 cache entries" in kept.stdout
    bad = runner.invoke(cli, ["cache", "clear", "--older-than", "soon"])
    assert bad.exit_code == 2 and "'soon'" in bad.output
    other = runner.invoke(cli, ["cache", "clear", "--task", "flows_cli.other"])
    assert "removed 0" in other.stdout
    cleared = runner.invoke(cli, ["cache", "clear", "--task", "flows_cli.square"])
    assert "removed 2 cache entries" in cleared.stdout
    assert json.loads(runner.invoke(cli, ["cache", "list", "--json"]).stdout) == []


def test_cached_rerun_shows_the_hit(runner: CliRunner) -> None:
    runner.invoke(cli, ["run", FLOWS, "square", "--n", "5"])
    again = runner.invoke(cli, ["run", FLOWS, "square", "--n", "5", "--json"])
    assert "(cache hit)" in again.stderr
    execution = _json_tail(again.stdout)["execution"]
    shown = json.loads(runner.invoke(cli, ["executions", "show", execution, "--json"]).stdout)
    assert shown["nodes"][0]["cached"] is True


def test_logs_of_an_isolated_attempt(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", FLOWS, "explode", "--message", "logged", "--isolate"])
    assert result.exit_code == 1
    listed = json.loads(runner.invoke(cli, ["executions", "list", "--json"]).stdout)
    logs = runner.invoke(cli, ["executions", "logs", listed[0]["execution"], "explode"])
    assert logs.exit_code == 0, logs.output
    assert "exploded: logged" in logs.stdout


def test_run_options_may_come_before_the_file(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", "--json", "--isolate", FLOWS, "total", "--n", "2"])
    assert result.exit_code == 0, result.output
    execution = _json_tail(result.stdout)["execution"]
    shown = json.loads(runner.invoke(cli, ["executions", "show", execution, "--json"]).stdout)
    [node] = shown["nodes"]
    assert node["attempt_history"][0]["runner"] == "process"

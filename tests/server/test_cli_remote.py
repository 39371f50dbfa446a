"""The CLI against a server: run --remote, launch, executions list/show/logs/abort/relaunch/..."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from slipstream.cli.main import cli


@pytest.fixture
def remote_cli(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SLIPSTREAM_SERVER_URL", server.url)

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def _last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_run_remote_registers_launches_and_follows(
    remote_cli: Any, server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    file = str(root / f"{module}.py")
    result = remote_cli("run", "--remote", file, "pipeline", "--a", "4", "--json")
    assert result.exit_code == 0, result.output
    outcome = _last_json(result.output)
    assert outcome["phase"] == "SUCCEEDED" and outcome["outputs"] == {"o0": 8}
    execution_id = outcome["execution"]

    listed = remote_cli("executions", "list", "--json")
    assert [e["id"] for e in _last_json(listed.output)["executions"]] == [execution_id]
    shown = remote_cli("executions", "show", execution_id)
    assert "add-2" in shown.output and "SUCCEEDED" in shown.output

    # The same code again uploads nothing new and registers nothing new.
    again = remote_cli("run", file, "pipeline", "--a", "1", "--remote", "--json")
    assert _last_json(again.output)["outputs"] == {"o0": 5}
    failing = remote_cli("run", "--remote", file, "fails", "--a", "1", "--json")
    assert failing.exit_code == 1
    assert _last_json(failing.output)["error"]["message"] == "boom on 3"


def test_launch_relaunch_and_recover_from_the_command_line(
    remote_cli: Any, server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    registered = remote_cli("register", str(root), "--json")
    assert registered.exit_code == 0, registered.output
    bad = remote_cli("launch", f"{module}.pipeline", "--a", "x")
    assert bad.exit_code == 2 and "'a'" in bad.output
    launched = remote_cli("launch", f"{module}.pipeline", "--a", "1", "--label", "k=v", "--json")
    assert _last_json(launched.output)["outputs"] == {"o0": 5}
    first = _last_json(launched.output)["execution"]

    relaunched = remote_cli("executions", "relaunch", first, "--input", "a=10", "--follow")
    assert relaunched.exit_code == 0, relaunched.output
    child = relaunched.output.splitlines()[0]
    doc = server.wait_phase(child, "SUCCEEDED")
    assert doc["outputs"] == {"o0": 14} and doc["parent"] == first
    assert doc["relation"] == "relaunch" and doc["labels"] == {"k": "v"}

    failed = remote_cli("launch", f"{module}.fails", "--a", "1", "--no-follow")
    failed_id = failed.output.strip()
    server.wait_phase(failed_id, "FAILED")
    recovered = remote_cli("executions", "recover", failed_id)
    new = recovered.output.strip()
    doc = server.wait_phase(new, "FAILED")
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["add"]["info"]["recovered_from"] == failed_id  # reused, not run again
    assert nodes["add"]["attempt_history"] == [] and nodes["boom"]["attempts"] == 1
    assert doc["parent"] == failed_id and doc["relation"] == "recover"

    by_label = remote_cli("executions", "list", "--label", "k=v", "--json")
    assert {e["id"] for e in _last_json(by_label.output)["executions"]} == {first, child}


def test_commands_that_need_a_server_say_so(home: Any) -> None:
    result = CliRunner().invoke(cli, ["executions", "recover", "e1"])
    assert result.exit_code == 2 and "--remote" in result.output
    result = CliRunner().invoke(cli, ["launch", "x"])
    assert result.exit_code == 2 and "SLIPSTREAM_SERVER_URL" in result.output

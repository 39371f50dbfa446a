"""An exception raised inside a mapped function reaches the user with its type, message and
remote traceback: raised from a function call, printed by the CLI, kept by `executions show`."""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner
from flows_dask import MappedError, leftovers, map_fails

from slipstream.cli.main import cli

FLOWS = str(Path(__file__).with_name("flows_dask.py"))
pytestmark = pytest.mark.timeout(240)

# The worker-side frame and line that raised: only the remote traceback can show them.
REMOTE_FRAME = "in explode"
REMOTE_LINE = 'raise MappedError(f"item {x} is bad")'


def test_an_error_in_a_mapped_function_keeps_its_shape_everywhere(home: Path) -> None:
    # Called as a function: the same exception type, message and the remote frames.
    with pytest.raises(MappedError) as caught:
        map_fails(n=5)
    assert str(caught.value) == "item 3 is bad"
    shown = "".join(traceback.format_exception(caught.value))
    assert "Remote traceback:" in shown
    assert REMOTE_FRAME in shown and REMOTE_LINE in shown
    assert "in map_fails" in shown  # the task's own frame, in the attempt process
    # Torn down after the failure.
    assert leftovers(home, engine_pid=os.getpid()) == []

    # Through the CLI: one line with the type and message, then the traceback, on stderr.
    runner = CliRunner()
    result = runner.invoke(cli, ["run", FLOWS, "map_fails", "--n", "5", "--json"])
    assert result.exit_code == 1, result.output
    headline = "user error in node 'map-fails': flows_dask.MappedError: item 3 is bad"
    assert headline in result.stderr
    assert REMOTE_FRAME in result.stderr and REMOTE_LINE in result.stderr
    assert result.stderr.rstrip().endswith("flows_dask.MappedError: item 3 is bad")
    document = json.loads(result.stdout.strip().splitlines()[-1])
    assert document["phase"] == "FAILED"
    assert document["error"] == {
        "kind": "user",
        "type": "flows_dask.MappedError",
        "message": "item 3 is bad",
        "node": "map-fails",
    }
    execution = document["execution"]
    assert leftovers(home, engine_pid=os.getpid()) == []

    # `executions show`: the failed node says what failed; the traceback is kept.
    text = runner.invoke(cli, ["executions", "show", execution])
    assert text.exit_code == 0, text.output
    assert "map-fails" in text.stdout and "FAILED" in text.stdout
    assert "flows_dask.MappedError: item 3 is bad" in text.stdout
    assert headline in text.stderr and REMOTE_LINE in text.stderr
    as_json = json.loads(runner.invoke(cli, ["executions", "show", execution, "--json"]).stdout)
    [node] = as_json["nodes"]
    for error in (as_json["error"], node["error"], node["attempt_history"][0]["error"]):
        assert error["kind"] == "user"
        assert error["type"] == "flows_dask.MappedError"
        assert error["message"] == "item 3 is bad"
        assert REMOTE_FRAME in error["traceback"] and REMOTE_LINE in error["traceback"]
    assert node["info"]["dashboard"].startswith("http://127.0.0.1:")  # the cluster did start

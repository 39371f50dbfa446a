"""Dask tasks through the real engine and CLI: a cluster per task, cached whole, visible."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flows_dask import cluster_facts, leftovers, processes_of

from slipstream.cli.main import cli
from slipstream.engine.local import reset_engines

FLOWS = str(Path(__file__).with_name("flows_dask.py"))
pytestmark = pytest.mark.timeout(240)


def _json_tail(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def _executions(runner: CliRunner) -> list[dict[str, Any]]:
    """Every execution, oldest first."""
    listed = runner.invoke(cli, ["executions", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    return list(reversed(json.loads(listed.stdout)))


def _show(runner: CliRunner, execution: str) -> dict[str, Any]:
    shown = runner.invoke(cli, ["executions", "show", execution, "--json"])
    assert shown.exit_code == 0, shown.output
    return dict(json.loads(shown.stdout))


def test_a_dask_task_called_as_a_function_gets_its_own_cluster_and_is_cached_whole(
    home: Path,
) -> None:
    runner = CliRunner()
    assert processes_of(home) == []

    facts = cluster_facts(label="first")

    # Its own two-worker cluster, found by plain Client() and by plain dask.compute.
    assert facts.workers == ["default-0", "default-1"]
    assert facts.scheduler.startswith("tcp://127.0.0.1:")
    assert facts.computed_on and set(facts.computed_on) <= set(facts.workers)
    assert facts.mapped == list(range(1, 11))
    assert len(set(facts.worker_pids)) == 2 and facts.attempt_pid not in facts.worker_pids
    assert facts.attempt_pid != os.getpid()  # a Dask attempt always has a process of its own
    assert facts.warmed  # its interpreter had imported the scheduler's dashboard ahead
    # Torn down after success: the attempt, its workers and their helpers are gone (the
    # engine's warm interpreter, which forks attempts, stays while the engine lives).
    assert leftovers(home, engine_pid=os.getpid()) == []

    [first] = _executions(runner)
    [node] = _show(runner, first["execution"])["nodes"]
    assert node["info"]["scheduler"] == facts.scheduler
    assert node["info"]["workers"] == 2
    assert node["info"]["dashboard"].startswith("http://127.0.0.1:")
    assert [a["phase"] for a in node["attempt_history"]] == ["SUCCEEDED"]

    # Cached whole: a second call returns the stored outputs and launches nothing at all.
    again = cluster_facts(label="first")
    assert again == facts
    second = _executions(runner)[-1]
    assert second["execution"] != first["execution"] and second["phase"] == "SUCCEEDED"
    [hit] = _show(runner, second["execution"])["nodes"]
    assert hit["cached"] is True
    assert hit["attempts"] == 0 and hit["attempt_history"] == []
    assert "dashboard" not in hit["info"] and "scheduler" not in hit["info"]
    assert not (home / "blobs" / "runs" / second["execution"]).exists()
    assert leftovers(home, engine_pid=os.getpid(), timeout=0) == []

    reset_engines()  # the engine closes: its warm interpreter goes too
    assert leftovers(home) == []


def test_two_dask_tasks_at_once_in_one_workflow_each_see_only_their_own_cluster(
    home: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    folder = tmp_path / "handshake"
    folder.mkdir()

    result = runner.invoke(cli, ["run", FLOWS, "side_by_side", "--folder", str(folder), "--json"])

    assert result.exit_code == 0, result.output
    document = _json_tail(result.stdout)
    pair = document["outputs"]["o0"]
    left, right = pair["left"], pair["right"]
    # Each waited for the other to be running inside its own cluster: they overlapped.
    assert left["overlapped"] and right["overlapped"]
    assert left["scheduler"] != right["scheduler"]
    assert left["workers"] == ["default-0"]
    assert right["workers"] == ["default-0", "default-1"]
    assert set(left["computed_on"]) <= {"default-0"}
    assert not set(left["worker_pids"]) & set(right["worker_pids"])
    assert left["attempt_pid"] != right["attempt_pid"]
    assert leftovers(home, engine_pid=os.getpid()) == []

    # Visible: the live progress (plain lines when stderr is not a terminal) names each
    # task's dashboard; `executions show` lists the same links; the cluster's logs are kept.
    execution = document["execution"]
    nodes = {n["node"]: n for n in _show(runner, execution)["nodes"]}
    dashboards = {name: nodes[name]["info"]["dashboard"] for name in ("left", "right")}
    assert dashboards["left"] != dashboards["right"]
    for name, url in dashboards.items():
        assert url.startswith("http://127.0.0.1:")
        assert f"{name}: Dask dashboard {url}" in result.stderr
        assert nodes[name]["info"]["scheduler"] == pair[name]["scheduler"]
    text = runner.invoke(cli, ["executions", "show", execution])
    assert text.exit_code == 0, text.output
    for url in dashboards.values():
        assert f"dask dashboard: {url}" in text.stdout

    for name, workers in (("left", 1), ("right", 2)):
        logs = runner.invoke(cli, ["executions", "logs", execution, name])
        assert logs.exit_code == 0, logs.output
        scheduler_part = logs.stdout.split("==> dask-scheduler.log <==")[1]
        workers_part = scheduler_part.split("==> dask-workers.log <==")[1]
        assert f"Scheduler at:     {pair[name]['scheduler']}" in scheduler_part
        assert scheduler_part.count("Register worker") == workers
        assert workers_part.count("Start worker at") == workers
        for i in range(workers):
            assert f"==> worker default-{i} (tcp://" in workers_part

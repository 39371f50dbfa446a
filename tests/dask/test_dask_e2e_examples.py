"""The main job: the seed's two examples, run with `slipstream run` as the README says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from flows_dask import leftovers, processes_of

from slipstream.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.timeout(240)


def test_increment_numbers_prints_the_list_1_to_1000(home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["run", str(EXAMPLES / "increment_numbers.py"), "increment_numbers", "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout.strip().splitlines()[-1])
    assert document["phase"] == "SUCCEEDED"
    assert document["outputs"] == {"o0": list(range(1, 1001))}
    # Its four workers (clamped to this machine, and said so once) on a cluster of its own.
    assert "increment-numbers: Dask dashboard http://127.0.0.1:" in result.stderr
    assert result.stderr.count("dask: asked for 4 workers x 8 threads, 32Gi each;") == 1
    shown = runner.invoke(cli, ["executions", "show", document["execution"], "--json"])
    [node] = json.loads(shown.stdout)["nodes"]
    assert node["info"]["workers"] == 4
    assert leftovers(home, engine_pid=os.getpid()) == []
    # The cluster is gone; its performance report and summary are kept, and named by `show`.
    assert Path(node["dask"]["report"]).name == "dask-report.html"
    summary = json.loads(Path(node["dask"]["summary"]).read_text())
    assert summary["tasks"] == 1000 and summary["by_prefix"]["inc"]["tasks"] == 1000
    assert summary["workers_seen"] == 4
    text = runner.invoke(cli, ["executions", "show", document["execution"]]).stdout
    assert f"dask report: {node['dask']['report']}" in text
    written = tmp_path / "seed.html"
    report = runner.invoke(
        cli,
        ["executions", "report", document["execution"], "increment-numbers", "-o", str(written)],
    )
    assert report.exit_code == 0, report.output
    assert report.stdout.strip() == str(written)
    assert "tasks 1,000 (inc 1,000)" in report.stderr
    assert "number of tasks: 1000" in written.read_text()
    missing = runner.invoke(cli, ["executions", "report", document["execution"], "nope"])
    assert missing.exit_code == 2 and "has no attempts; nodes: increment-numbers" in missing.output


def test_train_model_prepares_on_its_cluster_then_trains(home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            *("run", str(EXAMPLES / "train_model.py"), "train_model"),
            *("--input-files", '["a", "b"]', "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout.strip().splitlines()[-1])
    assert document["phase"] == "SUCCEEDED"
    # Two files of 1,000 rows each: x means 499.5 and 1499.5, y sums 2*sum(x) + 1000 each.
    assert document["outputs"] == {"o0": "model://linear?rows=2&slope=2001.001"}
    # The preparation's plain dask .compute() ran on the task's own cluster, which the
    # scheduler's log shows as a client connection and a registered worker per worker.
    execution = document["execution"]
    logs = runner.invoke(cli, ["executions", "logs", execution, "expensive-data-preparation"])
    assert logs.exit_code == 0, logs.output
    scheduler_log = logs.stdout.split("==> dask-scheduler.log <==")[1]
    assert "Receive client connection" in scheduler_log
    assert scheduler_log.count("Register worker") == 4
    assert leftovers(home, engine_pid=os.getpid()) == []


def test_the_report_is_written_after_its_attempt_ends_and_before_the_cli_does(
    home: Path, tmp_path: Path, repo_env: dict[str, str]
) -> None:
    trace = tmp_path / "trace.jsonl"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "slipstream", "run"),
            *(str(EXAMPLES / "increment_numbers.py"), "increment_numbers", "--json"),
        ],
        capture_output=True,
        text=True,
        env={**repo_env, "SLIPSTREAM_TRACE": str(trace)},
        timeout=200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Nothing is left the moment the CLI has exited: the report's writer was waited for.
    assert [p.pid for p in processes_of(home)] == []
    marks = [json.loads(line) for line in trace.read_text().splitlines()]
    phases = {m["phase"]: m for m in marks}
    # Written by a child of the attempt, after the attempt had stored its outputs: the
    # attempt (and so the execution) did not wait for the report's HTML.
    assert phases["report written"]["pid"] != phases["outputs stored"]["pid"]
    assert phases["report written"]["t"] > phases["outputs stored"]["t"]
    execution = json.loads(done.stdout.strip().splitlines()[-1])["execution"]
    runner = CliRunner()
    [node] = json.loads(runner.invoke(cli, ["executions", "show", execution, "--json"]).stdout)[
        "nodes"
    ]
    report, summary_path = Path(node["dask"]["report"]), Path(node["dask"]["summary"])
    assert "number of tasks: 1000" in report.read_text()
    summary = json.loads(summary_path.read_text())
    assert summary["report"] == "dask-report.html" and "report_by" not in summary

    # While a writer runs its summary says so, and `executions report` says to wait.
    report.rename(tmp_path / "kept.html")
    for by, expected in ((time.time() + 10, "still being written"), (time.time() - 1, "stopped")):
        summary_path.write_text(json.dumps({**summary, "report": "being written", "report_by": by}))
        asked = runner.invoke(cli, ["executions", "report", execution, "increment-numbers"])
        assert asked.exit_code == 1 and expected in asked.output, asked.output

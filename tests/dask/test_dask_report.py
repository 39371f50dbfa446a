"""Every Dask attempt keeps Dask's performance report and a summary, unless Dask(report=False)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from distributed import Client
from test_dask_local import attempt_in, baseline, live_children, template_for  # noqa: F401

from slipstream.dask import Dask, WorkerGroup
from slipstream.dask.keep import REPORT, SCHEDULER_LOG, SUMMARY, WORKERS_LOG
from slipstream.dask.local import local_context
from slipstream.dask.page import NO_TRANSFERS, TABS

pytestmark = pytest.mark.timeout(120)


def tally_marker(x: int) -> int:
    return x * 2


def refuse_odd(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd value {x}")
    return x


def two_workers(**options: Any) -> Dask:
    return Dask(workers=WorkerGroup(number_of_workers=2), **options)


def test_the_report_holds_the_tasks_the_body_ran(tmp_path: Path, baseline: set[int]) -> None:  # noqa: F811
    with local_context(template_for(two_workers()), attempt_in(tmp_path)):
        client = Client()
        assert client.gather(client.map(tally_marker, range(40))) == [2 * x for x in range(40)]
        assert client.submit(sum, [1, 2]).result() == 3
    logs = tmp_path / "logs"
    page = (logs / REPORT).read_text()
    assert "Dask Performance Report" in page
    assert "tally_marker" in page and "number of tasks: 41" in page
    assert all(f'"title":"{tab}"' in page for tab in TABS)  # task stream, profiles, bandwidth
    assert NO_TRANSFERS in page  # no task needed another's result: no bandwidth to chart
    summary = json.loads((logs / SUMMARY).read_text())
    assert summary["tasks"] == 41
    assert summary["by_prefix"]["tally_marker"]["tasks"] == 40
    assert summary["by_prefix"]["sum"]["tasks"] == 1
    assert summary["seconds"]["compute"] > 0
    assert summary["workers_seen"] == 2 and summary["workers"] == ["default-0", "default-1"]
    assert summary["peak_worker_memory"] > 10 << 20  # a worker process holds tens of MiB
    assert summary["errors"] == [] and summary["task_error"] is None
    assert summary["report"] == REPORT
    assert (logs / SCHEDULER_LOG).exists() and (logs / WORKERS_LOG).exists()
    assert live_children() == baseline  # the report's writer is gone with the cluster


def moved_bytes(data: bytes) -> int:
    return len(data)


def test_data_moved_between_workers_is_charted(tmp_path: Path, baseline: set[int]) -> None:  # noqa: F811
    with local_context(template_for(two_workers()), attempt_in(tmp_path)):
        client = Client()
        first, second = sorted(client.scheduler_info()["workers"])
        data = client.submit(bytes, 4 << 20, workers=[first])
        assert client.submit(moved_bytes, data, workers=[second]).result() == 4 << 20
        deadline = time.monotonic() + 30  # workers report transfers with their heartbeats
        while not client.run_on_scheduler(_bandwidth_reported):
            assert time.monotonic() < deadline, "no heartbeat reported the transfer"
            time.sleep(0.1)
    page = (tmp_path / "logs" / REPORT).read_text()
    assert NO_TRANSFERS not in page
    assert '"bandwidth_text"' in page  # the charts' data
    assert live_children() == baseline


def _bandwidth_reported(dask_scheduler: Any) -> bool:
    return bool(dask_scheduler.bandwidth_workers)


def test_a_failed_body_keeps_its_report_and_says_why(tmp_path: Path, baseline: set[int]) -> None:  # noqa: F811
    with (
        pytest.raises(ValueError, match=r"odd value [13]"),  # whichever of 1 and 3 fails first
        local_context(template_for(two_workers()), attempt_in(tmp_path)),
    ):
        client = Client()
        client.gather(client.map(refuse_odd, range(4)))
    summary = json.loads((tmp_path / "logs" / SUMMARY).read_text())
    assert summary["task_error"] in ("ValueError: odd value 1", "ValueError: odd value 3")
    erred = {error["key"].split("-")[0] for error in summary["errors"]}
    assert erred == {"refuse_odd"}
    assert "odd value" in summary["errors"][0]["error"]
    assert summary["by_prefix"]["refuse_odd"]["errors"] == len(summary["errors"]) >= 1
    assert "refuse_odd" in (tmp_path / "logs" / REPORT).read_text()
    assert live_children() == baseline


def test_report_false_keeps_no_report(tmp_path: Path, baseline: set[int]) -> None:  # noqa: F811
    with local_context(template_for(two_workers(report=False)), attempt_in(tmp_path)):
        client = Client()
        assert client.submit(tally_marker, 2).result() == 4
    logs = tmp_path / "logs"
    assert not (logs / REPORT).exists() and not (logs / SUMMARY).exists()
    assert (logs / SCHEDULER_LOG).exists()  # the logs are kept all the same
    assert live_children() == baseline

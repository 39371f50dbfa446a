"""Schedules: a fixed rate fires in the server; each slot once; after downtime only the latest."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from server_helpers import register

from slipstream.ir import ScheduleSpec
from slipstream.server.services.cron import Cron, CronError
from slipstream.server.services.schedules import ScheduleService, due_slots


def test_a_fixed_rate_plan_fires_once_activated_and_stops_when_deactivated(
    server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    register(server, root)
    plan = f"{module}.every_second"
    state = server.client.post(f"/api/v1/launch_plans/{plan}/activate").json()
    assert state["active"] is True
    deadline = time.monotonic() + 20
    fired: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(fired) < 2:
        fired = server.client.get("/api/v1/executions", params={"launch_plan": plan}).json()[
            "executions"
        ]
        time.sleep(0.2)
    assert len(fired) >= 2, fired
    assert all(e["launched_by"] == "schedule" and e["relation"] == "schedule" for e in fired)
    doc = server.wait_phase(fired[-1]["id"], "SUCCEEDED")
    assert doc["outputs"]["o0"].startswith("fixed@")  # the slot's time went to `when`
    server.client.post(f"/api/v1/launch_plans/{plan}/deactivate")
    time.sleep(0.6)  # a tick in flight may still fire
    count = len(
        server.client.get("/api/v1/executions", params={"launch_plan": plan}).json()["executions"]
    )
    time.sleep(2.5)
    after = server.client.get("/api/v1/executions", params={"launch_plan": plan}).json()
    assert len(after["executions"]) == count


def test_after_downtime_only_the_latest_slot_fires_and_each_slot_once(
    start_server: Any, project: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    live = start_server()
    live.services.schedules.stop()  # ticks are driven by hand below
    root, module = project
    register(live, root)
    plan = f"{module}.every_second"
    activated = live.client.post(f"/api/v1/launch_plans/{plan}/activate").json()["since"]
    second = ScheduleService(live.services.store, live.services.catalog, live.services.executions)
    with caplog.at_level(logging.WARNING, logger="slipstream.server.schedules"):
        fired = live.services.schedules.tick(now=activated + 10.5)  # down for ten slots
    assert len(fired) == 1
    assert "9 missed slot(s) skipped" in caplog.text
    assert second.tick(now=activated + 10.5) == []  # another server: the slot is taken
    assert live.services.schedules.tick(now=activated + 10.6) == []
    assert len(second.tick(now=activated + 11.2)) == 1  # the next slot, once
    for execution_id in fired:
        live.wait_phase(execution_id, "SUCCEEDED")


def test_due_slots_of_a_rate_and_of_a_cron_expression() -> None:
    rate = ScheduleSpec(rate_seconds=60.0)
    assert due_slots(rate, since=0.0, anchor=0.0, now=59.0) == (None, 0)
    assert due_slots(rate, since=0.0, anchor=0.0, now=61.0) == (60.0, 0)
    assert due_slots(rate, since=60.0, anchor=0.0, now=301.0) == (300.0, 3)
    hourly = ScheduleSpec(cron="0 * * * *")
    assert due_slots(hourly, since=0.0, anchor=0.0, now=3599.0) == (None, 0)
    assert due_slots(hourly, since=0.0, anchor=0.0, now=5 * 3600 + 5) == (5 * 3600.0, 4)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 * * * *", "2026-01-01T10:30:00", "2026-01-01T11:00:00"),
        ("*/15 9-17 * * mon-fri", "2026-12-04T17:50:00", "2026-12-07T09:00:00"),
        ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
        ("@daily", "2026-05-05T00:00:00", "2026-05-06T00:00:00"),
        ("30 6 1 * 0", "2026-12-01T07:00:00", "2026-12-06T06:30:00"),  # day 1 or a Sunday
    ],
)
def test_cron_next_times(expression: str, after: str, expected: str) -> None:
    import datetime as dt

    start = dt.datetime.fromisoformat(after).replace(tzinfo=dt.UTC)
    assert Cron.parse(expression).next_after(start).isoformat() == expected + "+00:00"


@pytest.mark.parametrize("expression", ["* * *", "61 * * * *", "*/0 * * * *", "a b c d e"])
def test_bad_cron_expressions_name_what_is_wrong(expression: str) -> None:
    with pytest.raises(CronError, match="cron"):
        Cron.parse(expression)

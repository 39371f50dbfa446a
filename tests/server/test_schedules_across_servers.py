"""Schedules with several servers on one PostgreSQL: each slot fires exactly once, also when the
server that fired a slot dies before it drove the execution (another server takes it up)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from server_helpers import register

from slipstream.engine.ids import new_execution_id
from slipstream.storage.metadata.engines import normalize_url
from slipstream.storage.metadata.server_records import SlotRecord
from slipstream.storage.metadata.server_tables import execution_index, schedule_slots
from slipstream.storage.records import Lease


def test_two_servers_fire_each_slot_once(
    start_server: Any, project: tuple[Path, str], fresh_postgres_url: str
) -> None:
    first = start_server(database_url=fresh_postgres_url)
    second = start_server(database_url=fresh_postgres_url)
    root, module = project
    register(first, root)
    plan = f"{module}.every_second"
    first.client.post(f"/api/v1/launch_plans/{plan}/activate")
    time.sleep(4.5)  # both servers tick every 0.5 s
    second.client.post(f"/api/v1/launch_plans/{plan}/deactivate")
    time.sleep(1.0)  # a tick in flight may still fire
    engine = sa.create_engine(normalize_url(fresh_postgres_url))
    try:
        with engine.connect() as conn:
            slots = conn.execute(sa.select(schedule_slots.c.slot, schedule_slots.c.execution_id))
            by_slot = dict(slots.all())
            fired = conn.execute(
                sa.select(execution_index.c.execution_id).where(
                    execution_index.c.launch_plan == plan
                )
            ).scalars()
            executions = sorted(fired)
    finally:
        engine.dispose()
    assert len(by_slot) >= 3, by_slot
    assert sorted(by_slot.values()) == executions  # one execution per slot, no other
    for execution_id in executions:
        doc = first.wait_phase(execution_id, "SUCCEEDED")
        assert doc["outputs"]["o0"].startswith("fixed@")


def test_a_slot_fired_by_a_server_that_died_at_once_is_run_by_another(
    start_server: Any, project: tuple[Path, str], fresh_postgres_url: str
) -> None:
    live = start_server(database_url=fresh_postgres_url, lease_seconds=1.0)
    live.services.schedules.stop()  # slots are fired by hand below
    root, module = project
    register(live, root)
    plan = f"{module}.every_second"
    live.client.post(f"/api/v1/launch_plans/{plan}/activate")
    services = live.services
    entry = services.catalog.get_entry("default", "development", "launch_plan", plan, None)
    execution_id = new_execution_id()
    info, template, literals = services.executions.prepared(
        entry, {"when": "2026-12-01T00:00:00+00:00"}, {}, "schedule", "schedule", execution_id
    )
    record, nodes = services.runtime.prepare(
        template,
        literals,
        source_root=services.catalog.source_root(entry.bundle_uri),
        options={"bundle_uri": entry.bundle_uri},
        execution_id=execution_id,
    )
    # What a server that dies right after firing leaves: the slot taken, the execution
    # stored QUEUED, its lease held by that server until it expires.
    dead = Lease(execution_id=execution_id, owner="dead", token=1, expires_at=time.time() + 1)
    slot = SlotRecord(
        project="default", domain="development", name=plan, slot=1.0, execution_id=execution_id
    )
    assert services.store.fire_slot(slot, info, record, nodes, dead)
    doc = live.wait_phase(execution_id, "SUCCEEDED", timeout=30)
    assert doc["outputs"]["o0"] == "fixed@2026-12-01T00:00:00+00:00"
    assert doc["relation"] == "schedule"

"""Migrations 0002 and 0004 create the server tables and leases exactly as Core describes them."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa

from slipstream.storage.metadata import MetadataStore
from slipstream.storage.metadata.engines import normalize_url
from slipstream.storage.metadata.leases import LeaseStore
from slipstream.storage.metadata.schema import leases
from slipstream.storage.metadata.server_records import ExecutionInfo, ScheduleState, SlotRecord
from slipstream.storage.metadata.server_store import ServerStore
from slipstream.storage.metadata.server_tables import (
    catalog,
    execution_index,
    execution_labels,
    schedule_slots,
    schedules,
)
from slipstream.storage.records import ExecutionRecord, Lease, NodeRecord


def test_migrated_columns_match_the_core_tables(database_url: str) -> None:
    MetadataStore(database_url).close()
    engine = sa.create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            tables = (catalog, execution_index, execution_labels, schedules, schedule_slots, leases)
            for table in tables:
                migrated = {c["name"] for c in inspector.get_columns(table.name)}
                assert migrated == {c.name for c in table.columns}, table.name
    finally:
        engine.dispose()


def test_each_schedule_slot_is_fired_once_with_its_execution(database_url: str) -> None:
    first, second = ServerStore(database_url), ServerStore(database_url)
    engine = MetadataStore(database_url)
    try:

        def firing(execution_id: str) -> tuple[Any, ...]:
            slot = SlotRecord(project="p", domain="d", name="plan", slot=1000.0, execution_id="")
            record = ExecutionRecord(
                id=execution_id,
                name="w",
                kind="workflow",
                phase="QUEUED",
                template="{}",
                inputs="{}",
                created_at=1.0,
            )
            node = NodeRecord(execution_id=execution_id, node_id="n0")
            info = ExecutionInfo(execution_id=execution_id, entity_kind="workflow", entity_name="w")
            return (
                msgspec.structs.replace(slot, execution_id=execution_id),
                info,
                record,
                [node],
                Lease(execution_id=execution_id),
            )

        assert first.fire_slot(*firing("e1"))
        assert not second.fire_slot(*firing("e2"))  # another server, the same slot
        assert second.last_slot("p", "d", "plan") == 1000.0
        # The slot, its execution, its nodes and its (free) lease were stored together.
        assert engine.get_execution("e1") is not None and engine.get_execution("e2") is None
        assert [n.node_id for n in engine.get_nodes("e1")] == ["n0"]
        assert first.get_info("e1") is not None and first.get_info("e2") is None
        leases = LeaseStore(database_url)
        try:
            (taken,) = leases.claim("server-b", 15.0, 2.0, 10)
            assert (taken.execution_id, taken.token) == ("e1", 1)
        finally:
            leases.close()
        first.set_schedule(
            ScheduleState(project="p", domain="d", name="plan", version="v1", active=True)
        )
        first.set_schedule(
            ScheduleState(project="p", domain="d", name="plan", version="v2", active=True)
        )
        (state,) = second.active_schedules()
        assert state.version == "v2"
    finally:
        first.close()
        second.close()
        engine.close()

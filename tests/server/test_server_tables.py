"""Migration 0002 creates the server's tables exactly as server_tables describes them."""

from __future__ import annotations

import sqlalchemy as sa

from slipstream.storage.metadata import MetadataStore
from slipstream.storage.metadata.engines import normalize_url
from slipstream.storage.metadata.server_records import ScheduleState, SlotRecord
from slipstream.storage.metadata.server_store import ServerStore
from slipstream.storage.metadata.server_tables import (
    catalog,
    execution_index,
    execution_labels,
    schedule_slots,
    schedules,
)


def test_migrated_columns_match_the_core_tables(database_url: str) -> None:
    MetadataStore(database_url).close()
    engine = sa.create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            for table in (catalog, execution_index, execution_labels, schedules, schedule_slots):
                migrated = {c["name"] for c in inspector.get_columns(table.name)}
                assert migrated == {c.name for c in table.columns}, table.name
    finally:
        engine.dispose()


def test_each_schedule_slot_is_claimed_once(database_url: str) -> None:
    first, second = ServerStore(database_url), ServerStore(database_url)
    try:
        slot = SlotRecord(project="p", domain="d", name="plan", slot=1000.0, execution_id="e1")
        assert first.claim_slot(slot)
        assert not second.claim_slot(slot)  # another server, the same slot
        assert second.last_slot("p", "d", "plan") == 1000.0
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

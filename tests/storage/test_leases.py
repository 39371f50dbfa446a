"""Leases on SQLite and PostgreSQL: claimed once, renewed by their owner, fencing every write."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from slipstream.errors import LeaseLostError
from slipstream.storage.metadata import MetadataStore
from slipstream.storage.metadata.leases import LeaseStore
from slipstream.storage.records import EventRecord, ExecutionRecord, Lease, WriteBatch


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[MetadataStore, LeaseStore]]:
    metadata, leases = MetadataStore(database_url), LeaseStore(database_url)
    yield metadata, leases
    leases.close()
    metadata.close()


def _execution(store: MetadataStore, eid: str, lease: Lease, phase: str = "RUNNING") -> None:
    record = ExecutionRecord(
        id=eid, name="w", kind="workflow", phase=phase, template="{}", inputs="{}", created_at=1.0
    )
    store.create_execution(record, [], lease)


def _event(eid: str, phase: str, lease: Lease) -> WriteBatch:
    return WriteBatch(events=[EventRecord(execution_id=eid, phase=phase, at=1.0)], lease=lease)


def test_a_taken_over_lease_fences_its_old_owner_out(
    stores: tuple[MetadataStore, LeaseStore],
) -> None:
    metadata, leases = stores
    old = Lease(execution_id="e1", owner="a", token=1, expires_at=time.time() - 1)
    _execution(metadata, "e1", old)
    metadata.write(_event("e1", "BEFORE", old))
    (new,) = leases.claim("b", 15.0, time.time(), 10)  # expired: b takes it over
    assert (new.owner, new.token) == ("b", 2)
    with pytest.raises(LeaseLostError, match="no longer holds its lease"):
        metadata.write(_event("e1", "STALE", old))
    with pytest.raises(LeaseLostError):
        metadata.heartbeat("e1", 1, time.time(), old)
    metadata.write(_event("e1", "AFTER", new))
    assert [e.phase for e in metadata.get_events("e1")] == ["BEFORE", "AFTER"]


def test_claims_take_free_or_expired_leases_of_unfinished_executions_only(
    stores: tuple[MetadataStore, LeaseStore],
) -> None:
    metadata, leases = stores
    now = time.time()
    _execution(
        metadata, "live", Lease(execution_id="live", owner="a", token=1, expires_at=now + 60)
    )
    _execution(metadata, "free", Lease(execution_id="free"), phase="QUEUED")
    _execution(metadata, "dead", Lease(execution_id="dead", owner="a", token=4, expires_at=now - 1))
    _execution(metadata, "null", Lease(execution_id="null", owner="a", token=1))
    _execution(
        metadata, "ended", Lease(execution_id="ended", owner="a", token=1), phase="SUCCEEDED"
    )
    taken = {lease.execution_id: lease.token for lease in leases.claim("b", 15.0, now, 10)}
    assert taken == {"free": 1, "dead": 5, "null": 2}
    assert leases.claim("c", 15.0, now, 10) == []  # b holds them now
    # b renews what it holds; a no longer holds "dead", only "live"
    assert leases.renew("b", ["free", "dead", "live"], 15.0, now) == {"free", "dead"}
    assert leases.renew("a", ["live", "dead"], 15.0, now) == {"live"}
    # the only server of a database takes every lease not its own at once
    assert {lease.execution_id for lease in leases.claim("z", 15.0, now, 10, any_owner=True)} == {
        "live",
        "free",
        "dead",
        "null",
    }
    assert leases.expire("z") == 4
    assert len(leases.claim("y", 15.0, now, 2)) == 2  # handed over; at most the limit
    held = leases.get("free") or leases.get("live")
    assert held is not None
    leases.release(Lease(execution_id=held.execution_id, owner=held.owner, token=0))
    assert leases.get(held.execution_id) is not None  # not with a stale token
    leases.release(held)
    assert leases.get(held.execution_id) is None


def test_concurrent_claims_never_take_one_execution_twice(database_url: str) -> None:
    setup = MetadataStore(database_url)
    for i in range(60):
        _execution(setup, f"e{i:02d}", Lease(execution_id=f"e{i:02d}"), phase="QUEUED")
    setup.close()
    taken: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        store = LeaseStore(database_url)
        try:
            got: list[str] = []
            while True:
                batch = store.claim(name, 15.0, time.time(), 3)
                if not batch:
                    break
                got.extend(lease.execution_id for lease in batch)
            taken[name] = got
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=claimer, args=(f"s{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    every = [eid for got in taken.values() for eid in got]
    assert sorted(every) == [f"e{i:02d}" for i in range(60)]  # each exactly once

"""Every MetadataStore method, on SQLite and on PostgreSQL (the database_url fixture)."""

from __future__ import annotations

import pytest

from slipstream.config import Settings
from slipstream.errors import SlipstreamError
from slipstream.storage.metadata import (
    EntityConflictError,
    MetadataStore,
    MetadataStoreClosedError,
    metadata_store_from_settings,
)
from slipstream.storage.records import (
    AttemptRecord,
    CacheEntry,
    EventRecord,
    ExecutionRecord,
    NodeRecord,
    WriteBatch,
)


def execution(
    id: str = "e1", *, phase: str = "QUEUED", created_at: float = 100.0, name: str = "wf"
) -> ExecutionRecord:
    return ExecutionRecord(
        id=id,
        name=name,
        kind="workflow",
        phase=phase,
        template='{"apiVersion":"slipstream/v1"}',
        inputs='{"x":{"value":1}}',
        options={"runner": "inprocess", "nested": {"a": [1, 2]}},
        created_at=created_at,
    )


def node(node_id: str = "n0", execution_id: str = "e1", **changes: object) -> NodeRecord:
    record = NodeRecord(execution_id=execution_id, node_id=node_id, target="mod.task")
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def attempt(node_id: str = "n0", number: int = 1, **changes: object) -> AttemptRecord:
    record = AttemptRecord(
        execution_id="e1",
        node_id=node_id,
        attempt=number,
        phase="RUNNING",
        runner="process",
        handle={"pid": 4242},
        output_prefix=f"file:///b/runs/e1/{node_id}/{number}",
        started_at=10.0 + number,
    )
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def cache_entry(key: str, task: str = "mod.t", created: float = 50.0, **kw: object) -> CacheEntry:
    return CacheEntry(
        key=key,
        task_name=task,
        cache_version="1",
        outputs='{"o0":{"value":2}}',
        created_at=created,
        execution_id="e1",
        node_id="n0",
        **kw,  # type: ignore[arg-type]
    )


# -- executions ---------------------------------------------------------------------------


def test_create_and_get_execution_round_trips(store: MetadataStore) -> None:
    record = execution()
    store.create_execution(record, [node("n0"), node("dyn-0/n1", parent_id="dyn-0")])
    assert store.get_execution("e1") == record
    assert [n.node_id for n in store.get_nodes("e1")] == ["dyn-0/n1", "n0"]
    assert store.get_execution("missing") is None


def test_creating_an_execution_twice_is_an_error_naming_it(store: MetadataStore) -> None:
    store.create_execution(execution(), [])
    with pytest.raises(SlipstreamError, match="'e1'"):
        store.create_execution(execution(), [node()])
    assert store.get_nodes("e1") == []  # the failed create wrote nothing


def test_list_executions_newest_first_with_filters(store: MetadataStore) -> None:
    store.create_execution(execution("old", created_at=1.0, phase="SUCCEEDED"), [])
    store.create_execution(execution("mid", created_at=2.0, name="other"), [])
    store.create_execution(execution("new", created_at=3.0, phase="SUCCEEDED"), [])
    assert [e.id for e in store.list_executions()] == ["new", "mid", "old"]
    assert [e.id for e in store.list_executions(limit=2)] == ["new", "mid"]
    assert [e.id for e in store.list_executions(phase="SUCCEEDED")] == ["new", "old"]
    assert [e.id for e in store.list_executions(name="other")] == ["mid"]
    assert store.list_executions(phase="RUNNING") == []
    with pytest.raises(ValueError, match="0"):
        store.list_executions(limit=0)


# -- write(batch) -------------------------------------------------------------------------


def test_write_applies_a_whole_step(store: MetadataStore) -> None:
    store.create_execution(execution(), [node("n0"), node("n1")])
    running = execution(phase="RUNNING")
    running.started_at = 101.0
    store.write(
        WriteBatch(
            execution=running,
            nodes=[node("n0", phase="RUNNING", attempts=1, info={"dashboard": "http://d"})],
            attempts=[attempt("n0")],
            events=[
                EventRecord(execution_id="e1", phase="RUNNING", at=101.0, message="started"),
                EventRecord(execution_id="e1", node_id="n0", attempt=1, phase="RUNNING", at=102),
            ],
            cache_entries=[cache_entry("k1")],
        )
    )
    assert store.get_execution("e1") == running
    assert store.get_node("e1", "n0") == node(
        "n0", phase="RUNNING", attempts=1, info={"dashboard": "http://d"}
    )
    assert store.get_node("e1", "n1") == node("n1")
    assert store.get_node("e1", "nope") is None
    assert store.get_attempts("e1") == [attempt("n0")]
    events = store.get_events("e1")
    assert [(e.node_id, e.message) for e in events] == [("", "started"), ("n0", "")]
    assert all(e.id is not None for e in events)
    assert store.cache_get("k1", now=0.0) == cache_entry("k1")


def test_write_upserts_nodes_and_attempts_whole(store: MetadataStore) -> None:
    store.create_execution(execution(), [node("n0")])
    store.write(WriteBatch(nodes=[node("n0", phase="RUNNING")], attempts=[attempt("n0")]))
    failed = attempt("n0", phase="FAILED", error='{"kind":"user"}', ended_at=20.0)
    store.write(
        WriteBatch(
            nodes=[node("n0", phase="SUCCEEDED", cached=True, outputs='{"o0":{}}')],
            attempts=[failed, attempt("n0", 2, phase="SUCCEEDED", info={"host": "x"})],
        )
    )
    assert store.get_node("e1", "n0") == node(
        "n0", phase="SUCCEEDED", cached=True, outputs='{"o0":{}}'
    )
    assert store.get_attempts("e1", "n0") == [
        failed,
        attempt("n0", 2, phase="SUCCEEDED", info={"host": "x"}),
    ]
    assert store.get_attempts("e1", "n1") == []


def test_write_of_many_rows_uses_one_transaction(store: MetadataStore) -> None:
    store.create_execution(execution(), [])
    nodes = [node(f"map/{i}") for i in range(50)]
    events = [EventRecord(execution_id="e1", node_id=f"map/{i}", at=float(i)) for i in range(50)]
    store.write(WriteBatch(nodes=nodes, events=events))
    assert len(store.get_nodes("e1")) == 50
    assert [e.at for e in store.get_events("e1")] == [float(i) for i in range(50)]


def test_a_failing_batch_writes_nothing(store: MetadataStore) -> None:
    store.create_execution(execution(), [node("n0")])
    broken = attempt("n0")
    broken.runner = None  # type: ignore[assignment]  # violates NOT NULL
    with pytest.raises(Exception):  # noqa: B017 - the driver's own IntegrityError
        store.write(
            WriteBatch(
                nodes=[node("n0", phase="RUNNING")],
                events=[EventRecord(execution_id="e1", message="lost")],
                attempts=[broken],
            )
        )
    assert store.get_node("e1", "n0") == node("n0")
    assert store.get_events("e1") == []
    store.write(WriteBatch(events=[EventRecord(execution_id="e1", message="after")]))
    assert [e.message for e in store.get_events("e1")] == ["after"]


def test_empty_batch_is_a_no_op(store: MetadataStore) -> None:
    store.create_execution(execution(), [node("n0")])
    store.write(WriteBatch())
    assert store.get_execution("e1") == execution()
    assert store.get_events("e1") == []


def test_write_never_overwrites_abort_requested(store: MetadataStore) -> None:
    store.create_execution(execution(phase="RUNNING"), [])
    assert store.request_abort("e1") is True
    stale = execution(phase="RUNNING")  # the engine's copy, read before the abort
    assert stale.abort_requested is False
    store.write(WriteBatch(execution=stale))
    assert store.is_abort_requested("e1") is True
    got = store.get_execution("e1")
    assert got is not None and got.abort_requested is True and got.phase == "RUNNING"


def test_new_execution_through_write_keeps_its_abort_flag(store: MetadataStore) -> None:
    record = execution("e9")
    record.abort_requested = True
    store.write(WriteBatch(execution=record))
    assert store.is_abort_requested("e9") is True


def test_request_abort_only_for_unfinished_executions(store: MetadataStore) -> None:
    store.create_execution(execution("done", phase="SUCCEEDED"), [])
    store.create_execution(execution("live", phase="QUEUED"), [])
    assert store.request_abort("done") is False
    assert store.is_abort_requested("done") is False
    assert store.request_abort("missing") is False
    assert store.is_abort_requested("missing") is False
    assert store.is_abort_requested("live") is False
    assert store.request_abort("live") is True
    assert store.request_abort("live") is True  # idempotent
    assert store.is_abort_requested("live") is True


def test_heartbeat_is_kept_by_later_writes(store: MetadataStore) -> None:
    store.create_execution(execution(phase="RUNNING"), [])
    store.heartbeat("e1", pid=321, at=555.5)
    got = store.get_execution("e1")
    assert got is not None and (got.engine_pid, got.engine_heartbeat) == (321, 555.5)
    store.write(WriteBatch(execution=execution(phase="SUCCEEDED")))
    got = store.get_execution("e1")
    assert got is not None and got.phase == "SUCCEEDED"
    assert (got.engine_pid, got.engine_heartbeat) == (321, 555.5)


def test_get_events_after_an_id_tails_the_timeline(store: MetadataStore) -> None:
    store.create_execution(execution(), [])
    store.create_execution(execution("other"), [])
    for i in range(3):
        store.write(WriteBatch(events=[EventRecord(execution_id="e1", message=f"m{i}")]))
        store.write(WriteBatch(events=[EventRecord(execution_id="other", message="x")]))
    events = store.get_events("e1")
    assert [e.message for e in events] == ["m0", "m1", "m2"]
    assert [e.message for e in store.get_events("e1", after_id=events[0].id or 0)] == ["m1", "m2"]


# -- cache --------------------------------------------------------------------------------


def test_cache_entries_expire(store: MetadataStore) -> None:
    store.write(
        WriteBatch(cache_entries=[cache_entry("ttl", expires_at=200.0), cache_entry("forever")])
    )
    assert store.cache_get("ttl", now=199.9) == cache_entry("ttl", expires_at=200.0)
    assert store.cache_get("ttl", now=200.0) is None
    assert store.cache_get("ttl", now=1e12) is None
    assert store.cache_get("forever", now=1e12) == cache_entry("forever")
    assert store.cache_get("unknown", now=0.0) is None


def test_cache_upsert_replaces_an_entry(store: MetadataStore) -> None:
    store.write(WriteBatch(cache_entries=[cache_entry("k", created=1.0)]))
    store.write(WriteBatch(cache_entries=[cache_entry("k", created=2.0)]))
    assert store.cache_get("k", now=0.0) == cache_entry("k", created=2.0)


def test_cache_list_and_delete(store: MetadataStore) -> None:
    store.write(
        WriteBatch(
            cache_entries=[
                cache_entry("a1", "mod.a", created=10.0),
                cache_entry("a2", "mod.a", created=30.0),
                cache_entry("b1", "mod.b", created=20.0),
            ]
        )
    )
    assert [e.key for e in store.cache_list()] == ["a2", "b1", "a1"]
    assert [e.key for e in store.cache_list("mod.a")] == ["a2", "a1"]
    assert store.cache_list("mod.zzz") == []
    assert store.cache_delete(task_name="mod.a", older_than=20.0) == 1
    assert [e.key for e in store.cache_list()] == ["a2", "b1"]
    assert store.cache_delete(older_than=25.0) == 1
    assert [e.key for e in store.cache_list()] == ["a2"]
    assert store.cache_delete(task_name="mod.b") == 0
    assert store.cache_delete() == 1
    assert store.cache_list() == []


def test_cache_reservations_are_leases(store: MetadataStore) -> None:
    assert store.cache_reserve("k", "engine-a", lease_seconds=10, now=100.0) is True
    assert store.cache_reserve("k", "engine-b", lease_seconds=10, now=105.0) is False
    assert store.cache_reserve("k", "engine-a", lease_seconds=10, now=108.0) is True  # renews
    assert store.cache_reserve("k", "engine-b", lease_seconds=10, now=117.0) is False
    assert store.cache_reserve("k", "engine-b", lease_seconds=10, now=118.0) is True  # expired
    assert store.cache_reserve("k", "engine-a", lease_seconds=10, now=119.0) is False
    store.cache_release("k", "engine-a")  # not its reservation: nothing happens
    assert store.cache_reserve("k", "engine-a", lease_seconds=10, now=120.0) is False
    store.cache_release("k", "engine-b")
    assert store.cache_reserve("k", "engine-a", lease_seconds=10, now=121.0) is True
    assert store.cache_reserve("other", "engine-b", lease_seconds=1, now=121.0) is True


@pytest.mark.parametrize(("owner", "lease"), [("", 10.0), ("me", 0.0), ("me", -1.0)])
def test_cache_reserve_refuses_bad_arguments(
    store: MetadataStore, owner: str, lease: float
) -> None:
    with pytest.raises(ValueError, match=repr(owner) if not owner else repr(lease)):
        store.cache_reserve("k", owner, lease_seconds=lease, now=0.0)


# -- registered entities ------------------------------------------------------------------


def test_register_and_get_entities(store: MetadataStore) -> None:
    store.register_entity("wf.train", "v1", "workflow", '{"t":1}')
    store.register_entity("wf.train", "v1", "workflow", '{"t":1}')  # same again: fine
    store.register_entity("wf.train", "v2", "workflow", '{"t":2}')
    store.register_entity("mod.task", "v1", "task", '{"task":1}')
    one = store.get_entity("wf.train", "v1")
    assert one is not None and (one.kind, one.template) == ("workflow", '{"t":1}')
    assert one.created_at > 0
    latest = store.get_entity("wf.train")
    assert latest is not None and latest.version == "v2"
    assert store.get_entity("wf.train", "v9") is None
    assert store.get_entity("nope") is None
    assert [(e.name, e.version) for e in store.list_entities()] == [
        ("mod.task", "v1"),
        ("wf.train", "v2"),
    ]
    assert [e.name for e in store.list_entities(kind="task")] == ["mod.task"]


def test_registering_different_content_under_a_version_is_refused(store: MetadataStore) -> None:
    store.register_entity("wf", "v1", "workflow", '{"t":1}')
    with pytest.raises(EntityConflictError, match="'v1'"):
        store.register_entity("wf", "v1", "workflow", '{"t":"changed"}')
    with pytest.raises(EntityConflictError, match="kind"):
        store.register_entity("wf", "v1", "task", '{"t":1}')
    with pytest.raises(ValueError, match="version ''"):
        store.register_entity("wf", "", "workflow", "{}")
    got = store.get_entity("wf", "v1")
    assert got is not None and got.template == '{"t":1}'


# -- lifecycle ----------------------------------------------------------------------------


def test_stores_on_one_url_share_an_engine(database_url: str) -> None:
    first, second = MetadataStore(database_url), MetadataStore(database_url)
    try:
        assert first._engine is second._engine
        first.create_execution(execution(), [])
        first.close()
        assert second.get_execution("e1") == execution()  # still open for the other user
    finally:
        first.close()
        second.close()


def test_closed_store_refuses_use(database_url: str) -> None:
    opened = MetadataStore(database_url)
    opened.close()
    opened.close()  # twice is fine
    with pytest.raises(MetadataStoreClosedError, match="closed"):
        opened.get_execution("e1")
    with pytest.raises(MetadataStoreClosedError):
        opened.write(WriteBatch(events=[EventRecord(execution_id="e1")]))


def test_store_from_settings(database_url: str) -> None:
    with metadata_store_from_settings(Settings(database_url=database_url)) as opened:
        opened.create_execution(execution(), [])
        assert opened.get_execution("e1") is not None

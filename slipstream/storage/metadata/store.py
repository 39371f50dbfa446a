"""MetadataStore: executions, nodes, attempts, events, cache and registry; used by the engine."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from slipstream.errors import SlipstreamError
from slipstream.storage.metadata import engines, rows
from slipstream.storage.metadata.batch import BatchWriter, dialect_insert
from slipstream.storage.metadata.faults import translate_faults
from slipstream.storage.metadata.leases import check_fence, insert_lease
from slipstream.storage.metadata.schema import (
    attempts,
    cache_entries,
    cache_reservations,
    events,
    executions,
    nodes,
    registered_entities,
)
from slipstream.storage.metadata.schema import (
    nodes as nodes_table,
)
from slipstream.storage.records import (
    AttemptRecord,
    CacheEntry,
    EntityRecord,
    EventRecord,
    ExecutionRecord,
    Lease,
    NodeRecord,
    WriteBatch,
)
from slipstream.types import ExecutionPhase

if TYPE_CHECKING:
    from slipstream.config import Settings

_TERMINAL = [p.value for p in ExecutionPhase if p.terminal]


class EntityConflictError(SlipstreamError):
    """A name and version is already registered with a different template."""


class MetadataStoreClosedError(SlipstreamError):
    """The store was used after close()."""


# Statements on the engine's frequent paths are built once: SQLAlchemy memoizes their cache
# keys, so each call skips construction and goes straight to the compiled form.
_P = sa.bindparam
_GET_EXECUTION = sa.select(executions).where(executions.c.id == _P("eid"))
_IS_ABORT_REQUESTED = sa.select(executions.c.abort_requested).where(executions.c.id == _P("eid"))
_REQUEST_ABORT = (
    executions.update()
    .where(executions.c.id == _P("eid"), executions.c.phase.not_in(_TERMINAL))
    .values(abort_requested=True)
)
_HEARTBEAT = (
    executions.update()
    .where(executions.c.id == _P("eid"))
    .values(engine_heartbeat=_P("at"), engine_pid=_P("pid"))
)
_GET_NODES = sa.select(nodes).where(nodes.c.execution_id == _P("eid")).order_by(nodes.c.node_id)
_GET_NODE = sa.select(nodes).where(nodes.c.execution_id == _P("eid"), nodes.c.node_id == _P("nid"))
_GET_EVENTS = (
    sa.select(events)
    .where(events.c.execution_id == _P("eid"), events.c.id > _P("after"))
    .order_by(events.c.id)
)
_CACHE_GET = sa.select(cache_entries).where(cache_entries.c.key == _P("k"))
_CACHE_EVICT = cache_entries.delete().where(cache_entries.c.key == _P("k"))
_CACHE_RELEASE = cache_reservations.delete().where(
    cache_reservations.c.key == _P("k"), cache_reservations.c.owner == _P("who")
)


def _reserve_statement(dialect: str) -> Any:
    stmt = dialect_insert(dialect, cache_reservations).values(
        key=_P("k"), owner=_P("who"), expires_at=_P("until")
    )
    # One statement, so two contenders can never both win: the update only happens when
    # the current lease is expired or already ours.
    return stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
        where=sa.or_(
            cache_reservations.c.expires_at <= _P("now"),
            cache_reservations.c.owner == stmt.excluded.owner,
        ),
    ).returning(cache_reservations.c.owner)


class MetadataStore:
    """The metadata database (SQLite file or PostgreSQL), migrated to head when opened."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        """Open (and migrate) the database at url; MetadataStoreError saying why it cannot be.

        read_only: create and migrate nothing (NoDatabaseError when there is none yet).
        """
        self.url = engines.normalize_url(url)
        self._key = engines.engine_key(self.url, read_only)
        self._engine: Engine = engines.acquire_engine(self.url, read_only)
        self._writer: Engine = engines.write_engine(self._engine)
        self._closed = False
        self._dialect = self._engine.dialect.name
        self._batches = BatchWriter(self._engine)
        self._reserve = _reserve_statement(self._dialect)

    def __repr__(self) -> str:
        return f"MetadataStore({engines.display_url(self.url)!r})"

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._batches.close()
            engines.release_engine(self._key)

    def _read(self) -> Engine:
        if self._closed:
            raise MetadataStoreClosedError(f"{self!r} is closed")
        return self._engine

    def _write(self) -> Engine:
        if self._closed:
            raise MetadataStoreClosedError(f"{self!r} is closed")
        return self._writer

    # -- executions ----------------------------------------------------------------------

    @translate_faults
    def create_execution(
        self, execution: ExecutionRecord, nodes: list[NodeRecord], lease: Lease | None = None
    ) -> None:
        """Insert a new execution, its initial nodes (and its lease) in one transaction."""
        try:
            with self._write().begin() as conn:
                insert_execution(conn, execution, nodes, lease)
        except sa.exc.IntegrityError:
            raise SlipstreamError(
                f"execution {execution.id!r} already exists (or has duplicate node ids)"
            ) from None

    @translate_faults
    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        with self._read().connect() as conn:
            row = conn.execute(_GET_EXECUTION, {"eid": execution_id}).mappings().first()
        return None if row is None else rows.execution_record(row)

    @translate_faults
    def list_executions(
        self, limit: int = 50, phase: str | None = None, name: str | None = None
    ) -> list[ExecutionRecord]:
        """Newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit {limit!r} is not a positive integer")
        query = sa.select(executions)
        if phase is not None:
            query = query.where(executions.c.phase == str(getattr(phase, "value", phase)))
        if name is not None:
            query = query.where(executions.c.name == name)
        query = query.order_by(executions.c.created_at.desc(), executions.c.id.desc()).limit(limit)
        with self._read().connect() as conn:
            return [rows.execution_record(r) for r in conn.execute(query).mappings()]

    @translate_faults
    def write(self, batch: WriteBatch) -> None:
        """Apply one engine step in one transaction; an empty batch touches nothing.

        Nodes, attempts and cache entries are upserted whole; the execution too, except that
        abort_requested is never overwritten (only request_abort sets it) and a None
        engine_heartbeat / engine_pid keeps the stored value.
        """
        if not batch:
            return
        self._write()
        self._batches.write(batch)

    @translate_faults
    def request_abort(self, execution_id: str) -> bool:
        """Flag an unfinished execution for abort; False if unknown or already finished."""
        with self._write().begin() as conn:
            result = conn.execute(_REQUEST_ABORT, {"eid": execution_id})
        return bool(result.rowcount)

    @translate_faults
    def is_abort_requested(self, execution_id: str) -> bool:
        with self._read().connect() as conn:
            value = conn.execute(_IS_ABORT_REQUESTED, {"eid": execution_id}).scalar()
        return bool(value)

    @translate_faults
    def heartbeat(self, execution_id: str, pid: int, at: float, lease: Lease | None = None) -> None:
        """The engine driving it is alive (with a lease: LeaseLostError if it is not its own)."""
        with self._write().begin() as conn:
            if lease is not None:
                check_fence(conn, lease)
            conn.execute(_HEARTBEAT, {"eid": execution_id, "at": at, "pid": pid})

    # -- nodes, attempts, events ---------------------------------------------------------

    @translate_faults
    def get_nodes(self, execution_id: str) -> list[NodeRecord]:
        with self._read().connect() as conn:
            result = conn.execute(_GET_NODES, {"eid": execution_id})
            return [rows.node_record(r) for r in result.mappings()]

    @translate_faults
    def get_node(self, execution_id: str, node_id: str) -> NodeRecord | None:
        with self._read().connect() as conn:
            row = conn.execute(_GET_NODE, {"eid": execution_id, "nid": node_id}).mappings().first()
        return None if row is None else rows.node_record(row)

    @translate_faults
    def get_attempts(self, execution_id: str, node_id: str | None = None) -> list[AttemptRecord]:
        query = sa.select(attempts).where(attempts.c.execution_id == execution_id)
        if node_id is not None:
            query = query.where(attempts.c.node_id == node_id)
        query = query.order_by(attempts.c.node_id, attempts.c.attempt)
        with self._read().connect() as conn:
            return [rows.attempt_record(r) for r in conn.execute(query).mappings()]

    @translate_faults
    def get_events(self, execution_id: str, after_id: int = 0) -> list[EventRecord]:
        """The timeline in write order; after_id skips events already seen (for tailing)."""
        with self._read().connect() as conn:
            result = conn.execute(_GET_EVENTS, {"eid": execution_id, "after": after_id})
            return [rows.event_record(r) for r in result.mappings()]

    # -- cache ---------------------------------------------------------------------------

    @translate_faults
    def cache_get(self, key: str, now: float) -> CacheEntry | None:
        """The entry for key unless missing or expired at now."""
        with self._read().connect() as conn:
            row = conn.execute(_CACHE_GET, {"k": key}).mappings().first()
        if row is None:
            return None
        entry = rows.cache_record(row)
        if entry.expires_at is not None and entry.expires_at <= now:
            return None
        return entry

    @translate_faults
    def cache_list(self, task_name: str | None = None) -> list[CacheEntry]:
        """Entries (expired ones included), newest first."""
        query = sa.select(cache_entries)
        if task_name is not None:
            query = query.where(cache_entries.c.task_name == task_name)
        query = query.order_by(cache_entries.c.created_at.desc(), cache_entries.c.key)
        with self._read().connect() as conn:
            return [rows.cache_record(r) for r in conn.execute(query).mappings()]

    @translate_faults
    def cache_delete(self, task_name: str | None = None, older_than: float | None = None) -> int:
        """Delete entries (of task_name, created before older_than); return how many."""
        query = cache_entries.delete()
        if task_name is not None:
            query = query.where(cache_entries.c.task_name == task_name)
        if older_than is not None:
            query = query.where(cache_entries.c.created_at < older_than)
        with self._write().begin() as conn:
            return int(conn.execute(query).rowcount)

    @translate_faults
    def cache_evict(self, key: str) -> bool:
        """Delete the entry at key (a broken one); True if there was one."""
        with self._write().begin() as conn:
            return bool(conn.execute(_CACHE_EVICT, {"k": key}).rowcount)

    @translate_faults
    def cache_reserve(self, key: str, owner: str, lease_seconds: float, now: float) -> bool:
        """Take or renew the reservation on key; True if owner now holds it."""
        if not owner:
            raise ValueError(f"cache reservation owner {owner!r} is empty")
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds {lease_seconds!r} is not a positive number")
        with self._write().begin() as conn:
            won = conn.execute(
                self._reserve, {"k": key, "who": owner, "until": now + lease_seconds, "now": now}
            ).first()
        return won is not None and won[0] == owner

    @translate_faults
    def cache_release(self, key: str, owner: str) -> None:
        """Give up owner's reservation on key (someone else's is left alone)."""
        with self._write().begin() as conn:
            conn.execute(_CACHE_RELEASE, {"k": key, "who": owner})

    # -- registered tasks and workflows --------------------------------------------------

    @translate_faults
    def register_entity(self, name: str, version: str, kind: str, template_json: str) -> None:
        """Register a template; the same one again is a no-op, a different one an error."""
        for label, value in (("name", name), ("version", version), ("kind", kind)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"entity {label} {value!r} is not a non-empty string")
        stmt = (
            dialect_insert(self._dialect, registered_entities)
            .values(
                name=name,
                version=version,
                kind=kind,
                template=template_json,
                created_at=time.time(),
            )
            .on_conflict_do_nothing(index_elements=["name", "version"])
            .returning(registered_entities.c.name)
        )
        with self._write().begin() as conn:
            if conn.execute(stmt).first() is not None:
                return  # newly registered
            existing = conn.execute(
                sa.select(registered_entities.c.kind, registered_entities.c.template).where(
                    registered_entities.c.name == name, registered_entities.c.version == version
                )
            ).one()
        if existing.kind != kind or existing.template != template_json:
            raise EntityConflictError(
                f"{kind} {name!r} version {version!r} is already registered with a different "
                f"{'kind (' + existing.kind + ')' if existing.kind != kind else 'template'}; "
                "register it under a new version"
            )

    @translate_faults
    def get_entity(self, name: str, version: str | None = None) -> EntityRecord | None:
        """One version of an entity, or (version=None) the most recently registered one."""
        query = sa.select(registered_entities).where(registered_entities.c.name == name)
        if version is not None:
            query = query.where(registered_entities.c.version == version)
        query = query.order_by(
            registered_entities.c.created_at.desc(), registered_entities.c.version.desc()
        ).limit(1)
        with self._read().connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else rows.entity_record(row)

    @translate_faults
    def list_entities(self, kind: str | None = None) -> list[EntityRecord]:
        """The latest version of every registered entity (of kind), by name."""
        query = sa.select(registered_entities)
        if kind is not None:
            query = query.where(registered_entities.c.kind == kind)
        query = query.order_by(
            registered_entities.c.name,
            registered_entities.c.created_at.desc(),
            registered_entities.c.version.desc(),
        )
        latest: dict[str, EntityRecord] = {}
        with self._read().connect() as conn:
            for row in conn.execute(query).mappings():
                if row["name"] not in latest:
                    latest[row["name"]] = rows.entity_record(row)
        return list(latest.values())


def insert_execution(
    conn: sa.Connection, execution: ExecutionRecord, nodes: list[NodeRecord], lease: Lease | None
) -> None:
    """Inside a write transaction: a new execution's row, its nodes' rows and its lease."""
    conn.execute(executions.insert(), rows.execution_row(execution))
    if nodes:
        conn.execute(nodes_table.insert(), [rows.node_row(n) for n in nodes])
    if lease is not None:
        insert_lease(conn, lease)


def metadata_store_from_settings(settings: Settings) -> MetadataStore:
    return MetadataStore(settings.resolved_database_url)

"""The engine's hot path: one WriteBatch in one transaction on the raw driver; used by store.py."""

from __future__ import annotations

import os
import threading
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from slipstream.storage.metadata.leases import fence_sql, lost
from slipstream.storage.metadata.schema import attempts, cache_entries, events, executions, nodes
from slipstream.storage.records import (
    AttemptRecord,
    CacheEntry,
    EventRecord,
    ExecutionRecord,
    NodeRecord,
    WriteBatch,
)


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """INSERT with ON CONFLICT support for the two dialects we run on."""
    # Import only the dialect in use: the postgresql package costs ~0.1 s to import.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def upsert(
    dialect: str,
    table: sa.Table,
    keep: tuple[str, ...] = (),
    coalesce: tuple[str, ...] = (),
) -> Any:
    """INSERT ... ON CONFLICT (pk) DO UPDATE every column but the key and those in keep."""
    stmt = dialect_insert(dialect, table)
    keys = [c.name for c in table.primary_key.columns]
    updates: dict[str, Any] = {}
    for column in table.columns:
        if column.name in keys or column.name in keep:
            continue
        new = stmt.excluded[column.name]
        updates[column.name] = sa.func.coalesce(new, column) if column.name in coalesce else new
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)


_encode_json = msgspec.json.Encoder(order="deterministic").encode
_astuple = msgspec.structs.astuple


class _Prepared:
    """A statement compiled once to positional driver SQL, fed straight from a record.

    Parameters come from msgspec's astuple in the record's field order (no dict per row),
    with the dict fields encoded as JSON text.
    """

    def __init__(
        self,
        engine: Engine,
        stmt: Any,
        record: type[Any],
        json_fields: tuple[str, ...],
        drop: tuple[str, ...] = (),
    ) -> None:
        dialect = engine.dialect
        if not dialect.positional:  # psycopg takes %s as well as %(name)s
            dialect = type(dialect)(paramstyle="format")  # type: ignore[call-arg]
        fields = [f.name for f in msgspec.structs.fields(record)]
        columns = [name for name in fields if name not in drop]
        compiled = stmt.compile(dialect=dialect, column_keys=columns)
        self.sql = str(compiled)
        names = list(compiled.positiontup or ())
        if sorted(names) != sorted(columns):
            raise RuntimeError(f"{record.__name__}: statement binds {names}, expected {columns}")
        self._take = [fields.index(name) for name in names]
        self._json = [names.index(name) for name in json_fields]

    def params(self, record: Any) -> list[Any]:
        values = _astuple(record)
        row = [values[i] for i in self._take]
        for position in self._json:
            row[position] = _encode_json(row[position]).decode()
        return row


class BatchWriter:
    """Writes WriteBatches with the driver's executemany on precompiled SQL.

    Going around SQLAlchemy's per-statement machinery (events, result setup) is what makes
    a scheduling step cost tens of microseconds instead of hundreds; SQLite reuses its
    prepared statements for identical SQL text, psycopg prepares them after a few runs.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        self._sqlite = dialect == "sqlite"
        self._lock = threading.Lock()
        self._held: Any = None
        self._held_pid = 0

        self.execution = _Prepared(
            engine,
            upsert(
                dialect,
                executions,
                keep=("abort_requested",),
                # A record read before the last heartbeat must not erase it.
                coalesce=("engine_heartbeat", "engine_pid"),
            ),
            ExecutionRecord,
            ("options",),
        )
        self.node = _Prepared(engine, upsert(dialect, nodes), NodeRecord, ("info",))
        self.attempt = _Prepared(
            engine, upsert(dialect, attempts), AttemptRecord, ("handle", "info")
        )
        self.cache = _Prepared(engine, upsert(dialect, cache_entries), CacheEntry, ())
        self.event = _Prepared(engine, events.insert(), EventRecord, (), drop=("id",))
        self.fence = fence_sql(dialect, "qmark" if self._sqlite else "format")

    def write(self, batch: WriteBatch) -> None:
        if self._sqlite:
            # SQLite has one writer at a time anyway: keep one connection for writes instead
            # of a pool checkout per step (a third of the cost of a small batch).
            with self._lock:
                raw = self._held_connection()
                try:
                    cursor = raw.cursor()
                    # The write lock up front: a concurrent writer waits (busy_timeout).
                    cursor.execute("BEGIN IMMEDIATE")
                    self._run(raw, cursor, batch)
                except BaseException:
                    self._drop_held()  # a fresh connection next time, whatever went wrong
                    raise
            return
        raw = self._engine.raw_connection()
        try:
            # Pipeline mode sends every statement and the COMMIT in one round trip.
            driver = raw.driver_connection
            assert driver is not None
            with driver.pipeline():
                self._run(raw, driver.cursor(), batch)
        finally:
            raw.close()  # back to the pool

    def _held_connection(self) -> Any:
        if self._held is not None and self._held_pid != os.getpid():
            self._held = None  # inherited through fork: never touch the parent's handle
        if self._held is None:
            self._held = self._engine.raw_connection()
            self._held_pid = os.getpid()
        return self._held

    def _drop_held(self) -> None:
        held, self._held = self._held, None
        if held is not None and self._held_pid == os.getpid():
            held.close()

    def close(self) -> None:
        """Give the held write connection back to the pool."""
        with self._lock:
            self._drop_held()

    def _run(self, raw: Any, cursor: Any, batch: WriteBatch) -> None:
        try:
            lease = batch.lease
            if lease is not None:  # the fence: first, so a stale owner writes nothing
                cursor.execute(self.fence, (lease.execution_id, lease.owner, lease.token))
                if cursor.fetchone() is None:
                    raise lost(lease)
            if batch.execution is not None:
                cursor.execute(self.execution.sql, self.execution.params(batch.execution))
            self._many(cursor, self.node, batch.nodes)
            self._many(cursor, self.attempt, batch.attempts)
            self._many(cursor, self.cache, batch.cache_entries)
            self._many(cursor, self.event, batch.events)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            cursor.close()

    @staticmethod
    def _many(cursor: Any, prepared: _Prepared, records: list[Any]) -> None:
        if not records:
            return
        if len(records) == 1:
            cursor.execute(prepared.sql, prepared.params(records[0]))
        else:
            cursor.executemany(prepared.sql, [prepared.params(r) for r in records])

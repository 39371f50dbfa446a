"""The engine's hot path: one WriteBatch in one transaction on the raw driver; used by store.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from slipstream.storage.metadata import rows
from slipstream.storage.metadata.schema import attempts, cache_entries, events, executions, nodes
from slipstream.storage.records import WriteBatch


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """INSERT with ON CONFLICT support for the two dialects we run on."""
    from sqlalchemy.dialects import postgresql, sqlite

    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


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


class _Prepared:
    """A statement compiled once to driver SQL, plus how to lay out its parameters."""

    def __init__(self, engine: Engine, stmt: Any, columns: list[str]) -> None:
        compiled = stmt.compile(dialect=engine.dialect, column_keys=columns)
        self.sql = str(compiled)
        order = compiled.positiontup
        self.params: Callable[[dict[str, Any]], Any]
        if order:
            names = list(order)
            self.params = lambda row: tuple(row[n] for n in names)
        else:
            self.params = lambda row: row


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

        def prepare(stmt: Any, table: sa.Table, drop: tuple[str, ...] = ()) -> _Prepared:
            return _Prepared(engine, stmt, [c.name for c in table.columns if c.name not in drop])

        self.execution = prepare(
            upsert(
                dialect,
                executions,
                keep=("abort_requested",),
                # A record read before the last heartbeat must not erase it.
                coalesce=("engine_heartbeat", "engine_pid"),
            ),
            executions,
        )
        self.node = prepare(upsert(dialect, nodes), nodes)
        self.attempt = prepare(upsert(dialect, attempts), attempts)
        self.cache = prepare(upsert(dialect, cache_entries), cache_entries)
        self.event = prepare(events.insert(), events, drop=("id",))

    def write(self, batch: WriteBatch) -> None:
        raw = self._engine.raw_connection()
        try:
            if self._sqlite:
                cursor = raw.cursor()
                # The write lock up front: a concurrent writer waits (busy_timeout) for it.
                cursor.execute("BEGIN IMMEDIATE")
                self._run(raw, cursor, batch)
            else:
                # Pipeline mode sends every statement and the COMMIT in one round trip.
                driver = raw.driver_connection
                assert driver is not None
                with driver.pipeline():
                    self._run(raw, driver.cursor(), batch)
        finally:
            raw.close()  # back to the pool

    def _run(self, raw: Any, cursor: Any, batch: WriteBatch) -> None:
        try:
            if batch.execution is not None:
                row = rows.execution_row(batch.execution)
                cursor.execute(self.execution.sql, self.execution.params(row))
            self._many(cursor, self.node, rows.node_row, batch.nodes)
            self._many(cursor, self.attempt, rows.attempt_row, batch.attempts)
            self._many(cursor, self.cache, rows.cache_row, batch.cache_entries)
            self._many(cursor, self.event, rows.event_row, batch.events)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            cursor.close()

    @staticmethod
    def _many(
        cursor: Any, prepared: _Prepared, to_row: Callable[[Any], dict], records: list
    ) -> None:
        if not records:
            return
        params = prepared.params
        if len(records) == 1:
            cursor.execute(prepared.sql, params(to_row(records[0])))
        else:
            cursor.executemany(prepared.sql, [params(to_row(r)) for r in records])

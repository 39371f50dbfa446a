"""Leases of executions: claim, renew, release, and the fence every engine write checks.

Used by the server (`LeaseStore`: which server drives which execution) and by the metadata
store's writes (`check_fence`, `insert_lease`). A claim takes rows with
`SELECT ... FOR UPDATE SKIP LOCKED`, so two servers claiming at once never take the same
execution, and raises the fencing token, so the previous owner's next write fails. On
SQLite there are no row locks: its write transactions (BEGIN IMMEDIATE) serialise claims.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from slipstream.errors import LeaseLostError
from slipstream.storage.metadata import engines
from slipstream.storage.metadata.schema import executions, leases
from slipstream.storage.records import Lease
from slipstream.types import ExecutionPhase

_TERMINAL = [p.value for p in ExecutionPhase if p.terminal]


def fence_sql(dialect: str, paramstyle: str) -> str:
    """Driver SQL selecting the lease row iff (execution, owner, token) still hold it.

    On PostgreSQL the row is share-locked to the end of the write: a takeover (which updates
    the row) waits for the write to commit, and then the old owner's next write fails.
    """
    mark = "?" if paramstyle == "qmark" else "%s"
    sql = f"SELECT 1 FROM leases WHERE execution_id = {mark} AND owner = {mark} AND token = {mark}"
    return sql + (" FOR SHARE" if dialect == "postgresql" else "")


def lost(lease: Lease) -> LeaseLostError:
    return LeaseLostError(
        f"execution {lease.execution_id!r}: this server ({lease.owner}) no longer holds its "
        f"lease (token {lease.token}); another server drives it now"
    )


_FENCE = sa.select(sa.literal(1)).where(
    leases.c.execution_id == sa.bindparam("eid"),
    leases.c.owner == sa.bindparam("owner"),
    leases.c.token == sa.bindparam("token"),
)


def check_fence(conn: Connection, lease: Lease) -> None:
    """Inside a write transaction: LeaseLostError unless the lease is still the execution's."""
    query = _FENCE.with_for_update(read=True) if conn.dialect.name == "postgresql" else _FENCE
    params = {"eid": lease.execution_id, "owner": lease.owner, "token": lease.token}
    if conn.execute(query, params).first() is None:
        raise lost(lease)


def insert_lease(conn: Connection, lease: Lease) -> None:
    conn.execute(
        leases.insert(),
        {
            "execution_id": lease.execution_id,
            "owner": lease.owner,
            "token": lease.token,
            "expires_at": lease.expires_at,
        },
    )


class LeaseStore:
    """The leases table, in the same database as the MetadataStore (migrated with it)."""

    def __init__(self, url: str) -> None:
        self.url = engines.normalize_url(url)
        acquired: Engine = engines.acquire_engine(self.url)
        self._engine, self._writer = acquired, engines.write_engine(acquired)
        self._released = False

    def close(self) -> None:
        """Give the shared Engine back (once)."""
        if self._released:
            return
        self._released = True
        engines.release_engine(self.url)

    def get(self, execution_id: str) -> Lease | None:
        query = sa.select(leases).where(leases.c.execution_id == execution_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else Lease(**row._asdict())

    def create(self, lease: Lease) -> None:
        with self._writer.begin() as conn:
            insert_lease(conn, lease)

    def claim(
        self, owner: str, seconds: float, now: float, limit: int, *, any_owner: bool = False
    ) -> list[Lease]:
        """Take up to `limit` leases of unfinished executions that are unowned or expired
        (any_owner: every one not ours, for the only server of a database); oldest first."""
        if limit < 1:
            return []
        if any_owner:
            free: Any = leases.c.owner != owner
        else:
            free = sa.or_(
                leases.c.owner == "", leases.c.expires_at.is_(None), leases.c.expires_at < now
            )
        pick = (
            sa.select(leases.c.execution_id, leases.c.token)
            .select_from(leases.join(executions, executions.c.id == leases.c.execution_id))
            .where(free, executions.c.phase.not_in(_TERMINAL))
            .order_by(executions.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=leases)
        )
        until = now + seconds
        taken: list[Lease] = []
        with self._writer.begin() as conn:
            for execution_id, token in conn.execute(pick).all():
                conn.execute(
                    leases.update()
                    .where(leases.c.execution_id == execution_id)
                    .values(owner=owner, token=token + 1, expires_at=until)
                )
                taken.append(
                    Lease(execution_id=execution_id, owner=owner, token=token + 1, expires_at=until)
                )
        return taken

    def renew(self, owner: str, execution_ids: list[str], seconds: float, now: float) -> set[str]:
        """Push the expiry of owner's leases on these executions; the ids still owner's."""
        if not execution_ids:
            return set()
        query = (
            leases.update()
            .where(leases.c.owner == owner, leases.c.execution_id.in_(execution_ids))
            .values(expires_at=now + seconds)
            .returning(leases.c.execution_id)
        )
        with self._writer.begin() as conn:
            return {str(row[0]) for row in conn.execute(query)}

    def expire(self, owner: str) -> int:
        """Let every lease of owner go at once (a server stopping): others may claim them."""
        query = leases.update().where(leases.c.owner == owner).values(expires_at=0.0)
        with self._writer.begin() as conn:
            return int(conn.execute(query).rowcount)

    def release(self, lease: Lease) -> None:
        """Drop the lease of an execution that ended (only while it is still this one)."""
        query = leases.delete().where(
            leases.c.execution_id == lease.execution_id,
            leases.c.owner == lease.owner,
            leases.c.token == lease.token,
        )
        with self._writer.begin() as conn:
            conn.execute(query)

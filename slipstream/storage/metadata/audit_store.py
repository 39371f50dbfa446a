"""The audit trail: who did what to which target, when, from where; written and read by the server.

One row per state-changing request and per refused one (401/403), in the same database as the
MetadataStore (table `audit_events`, migration 0003); newest first, cursor paging.
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from slipstream.storage.metadata import engines
from slipstream.storage.metadata.schema import Time, metadata

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", Time, nullable=False, index=True),
    sa.Column("who", sa.String, nullable=False, index=True),  # a token's name, or the CLI's user
    sa.Column("scope", sa.String, nullable=False),  # the caller's scope ("" when refused at 401)
    sa.Column("action", sa.String, nullable=False, index=True),  # launch, abort, activate, ...
    sa.Column("target", sa.String, nullable=False),  # execution id, entity name, bundle digest
    sa.Column("method", sa.String, nullable=False),
    sa.Column("path", sa.String, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),  # the HTTP status answered
    sa.Column("client", sa.String, nullable=False),  # the peer's address
    sa.Column("detail", sa.Text, nullable=False),  # why it was refused, or what it made
)


class AuditEvent(msgspec.Struct, kw_only=True):
    at: float
    who: str
    scope: str
    action: str
    target: str
    method: str
    path: str
    status: int
    client: str
    detail: str = ""
    id: int = 0


class AuditFilter(msgspec.Struct, kw_only=True, frozen=True):
    who: str | None = None
    action: str | None = None
    target: str | None = None
    refused: bool | None = None  # True: only 401/403; False: none of them
    after: float | None = None
    before: float | None = None


_REFUSED = (401, 403)
_FIELDS = [c.name for c in audit_events.columns]


class AuditStore:
    """Appends events and lists them; its own reference to the process's shared Engine."""

    def __init__(self, url: str) -> None:
        self.url = engines.normalize_url(url)
        self._engine: Engine = engines.acquire_engine(self.url)
        self._writer: Engine = engines.write_engine(self._engine)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            engines.release_engine(self.url)

    def record(self, event: AuditEvent) -> int:
        row = msgspec.structs.asdict(event)
        row.pop("id")
        with self._writer.begin() as conn:
            result = conn.execute(audit_events.insert().values(**row))
            key = result.inserted_primary_key
            return int(key[0]) if key else 0

    def list_events(
        self, where: AuditFilter, limit: int = 50, after_last: tuple[float, int] | None = None
    ) -> list[AuditEvent]:
        """Newest first (by the time the request came, then id: an event is written after its
        answer, so a quicker later request may be written first); `after_last` is the (at, id)
        of the last event of the previous page."""
        c = audit_events.c
        query = sa.select(audit_events)
        for column, value in (
            (c.who, where.who),
            (c.action, where.action),
            (c.target, where.target),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.refused is not None:
            refused = c.status.in_(_REFUSED)
            query = query.where(refused if where.refused else sa.not_(refused))
        if where.after is not None:
            query = query.where(c.at >= where.after)
        if where.before is not None:
            query = query.where(c.at < where.before)
        if after_last is not None:
            at, last = after_last
            query = query.where(sa.or_(c.at < at, sa.and_(c.at == at, c.id < last)))
        query = query.order_by(c.at.desc(), c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [AuditEvent(**dict(m)) for m in conn.execute(query).mappings()]

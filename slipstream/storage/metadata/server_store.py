"""ServerStore: catalog, execution index with labels, schedule slots; used by the server."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from slipstream.errors import SlipstreamError
from slipstream.storage.metadata import engines
from slipstream.storage.metadata.batch import dialect_insert
from slipstream.storage.metadata.schema import attempts, executions, nodes
from slipstream.storage.metadata.server_records import (
    CatalogEntry,
    ExecutionFilter,
    ExecutionInfo,
    ExecutionSummary,
    ScheduleState,
    SlotRecord,
)
from slipstream.storage.metadata.server_tables import (
    catalog,
    execution_index,
    execution_labels,
    schedule_slots,
    schedules,
)
from slipstream.storage.metadata.store import insert_execution
from slipstream.storage.records import AttemptRecord, ExecutionRecord, Lease, NodeRecord
from slipstream.types import ExecutionPhase

_TERMINAL = [p.value for p in ExecutionPhase if p.terminal]
_encode = msgspec.json.Encoder(order="deterministic").encode
_decode_labels = msgspec.json.Decoder(dict[str, str]).decode
_decode_object = msgspec.json.Decoder(dict[str, Any]).decode
_ATTEMPT_FIELDS = AttemptRecord.__struct_fields__
_SUMMARY_COLUMNS = (
    executions.c.id,
    executions.c.name,
    executions.c.kind,
    executions.c.phase,
    executions.c.created_at,
    executions.c.started_at,
    executions.c.ended_at,
)


class CatalogConflictError(SlipstreamError):
    """A (project, domain, kind, name, version) is already registered with other content."""


def _entry(row: Any) -> CatalogEntry:
    return CatalogEntry(**row._asdict())


def _info(mapping: Any) -> ExecutionInfo:
    row = dict(mapping)
    row["labels"] = _decode_labels(row["labels"]) if row["labels"] else {}
    return ExecutionInfo(**row)


class ServerStore:
    """The server's own tables, in the same database as the MetadataStore (migrated with it)."""

    def __init__(self, url: str) -> None:
        self.url = engines.normalize_url(url)
        self._engine: Engine = engines.acquire_engine(self.url)
        self._writer: Engine = engines.write_engine(self._engine)
        self._dialect = self._engine.dialect.name
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            engines.release_engine(self.url)

    # -- the catalog ---------------------------------------------------------------------------

    def register(self, entries: list[CatalogEntry]) -> list[bool]:
        """Store entries in one transaction; True for each new one. Same content is a no-op;
        other content under a taken version raises CatalogConflictError and stores nothing."""
        now = time.time()
        created: list[bool] = []
        with self._writer.begin() as conn:
            for entry in entries:
                row = msgspec.structs.asdict(entry)
                row["created_at"] = now
                stmt = (
                    dialect_insert(self._dialect, catalog)
                    .values(**row)
                    .on_conflict_do_nothing()
                    .returning(catalog.c.name)
                )
                if conn.execute(stmt).first() is not None:
                    created.append(True)
                    continue
                digest = conn.execute(
                    sa.select(catalog.c.digest).where(*self._key(entry))
                ).scalar_one()
                if digest != entry.digest:
                    raise CatalogConflictError(
                        f"{entry.kind} {entry.name!r} version {entry.version!r} is already "
                        f"registered in {entry.project}/{entry.domain} with different content; "
                        "register it under a new version"
                    )
                created.append(False)
        return created

    @staticmethod
    def _key(entry: CatalogEntry) -> list[Any]:
        return [
            catalog.c.project == entry.project,
            catalog.c.domain == entry.domain,
            catalog.c.kind == entry.kind,
            catalog.c.name == entry.name,
            catalog.c.version == entry.version,
        ]

    def get_entry(
        self, project: str, domain: str, kind: str, name: str, version: str | None = None
    ) -> CatalogEntry | None:
        """One version, or (version=None) the most recently registered one."""
        query = sa.select(catalog).where(
            catalog.c.project == project,
            catalog.c.domain == domain,
            catalog.c.kind == kind,
            catalog.c.name == name,
        )
        if version is not None:
            query = query.where(catalog.c.version == version)
        query = query.order_by(catalog.c.created_at.desc(), catalog.c.version.desc()).limit(1)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _entry(row)

    def list_entries(
        self,
        kind: str,
        project: str | None = None,
        domain: str | None = None,
        name: str | None = None,
    ) -> list[CatalogEntry]:
        """Every version of every entity of kind, by name, newest version first."""
        query = sa.select(catalog).where(catalog.c.kind == kind)
        for column, value in (
            (catalog.c.project, project),
            (catalog.c.domain, domain),
            (catalog.c.name, name),
        ):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(
            catalog.c.project,
            catalog.c.domain,
            catalog.c.name,
            catalog.c.created_at.desc(),
            catalog.c.version.desc(),
        )
        with self._engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    # -- the execution index -------------------------------------------------------------------

    def add_execution(self, info: ExecutionInfo) -> None:
        with self._writer.begin() as conn:
            self._index(conn, info)

    @staticmethod
    def _index(conn: sa.Connection, info: ExecutionInfo) -> None:
        row = msgspec.structs.asdict(info)
        row["labels"] = _encode(info.labels).decode()
        conn.execute(execution_index.insert(), row)
        if info.labels:
            conn.execute(
                execution_labels.insert(),
                [
                    {"execution_id": info.execution_id, "key": k, "value": v}
                    for k, v in info.labels.items()
                ],
            )

    def get_info(self, execution_id: str) -> ExecutionInfo | None:
        query = sa.select(execution_index).where(execution_index.c.execution_id == execution_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _info(row._asdict())

    def _filtered(self, query: Any, where: ExecutionFilter) -> Any:
        ix = execution_index.c
        if where.phases:
            query = query.where(executions.c.phase.in_(where.phases))
        if where.name is not None:
            query = query.where(executions.c.name == where.name)
        # An execution run outside the server belongs to the default project and domain.
        for column, value, default in (
            (ix.project, where.project, "default"),
            (ix.domain, where.domain, "development"),
        ):
            if value is not None:
                match = column == value
                query = query.where(
                    sa.or_(match, ix.execution_id.is_(None)) if value == default else match
                )
        for column, value in (
            (ix.launch_plan, where.launch_plan),
            (ix.launched_by, where.launched_by),
        ):
            if value is not None:
                query = query.where(column == value)
        for key, value in where.labels.items():
            query = query.where(
                sa.exists().where(
                    execution_labels.c.execution_id == executions.c.id,
                    execution_labels.c.key == key,
                    execution_labels.c.value == value,
                )
            )
        if where.created_after is not None:
            query = query.where(executions.c.created_at >= where.created_after)
        if where.created_before is not None:
            query = query.where(executions.c.created_at < where.created_before)
        return query

    def _joined(self, *columns: Any) -> Any:
        return sa.select(*columns).select_from(
            executions.outerjoin(execution_index, execution_index.c.execution_id == executions.c.id)
        )

    def list_executions(
        self,
        where: ExecutionFilter,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[ExecutionSummary]:
        """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
        query = self._filtered(self._joined(*_SUMMARY_COLUMNS, *execution_index.c), where)
        if before is not None:
            at, eid = before
            query = query.where(
                sa.or_(
                    executions.c.created_at < at,
                    sa.and_(executions.c.created_at == at, executions.c.id < eid),
                )
            )
        query = query.order_by(executions.c.created_at.desc(), executions.c.id.desc()).limit(limit)
        out = []
        with self._engine.connect() as conn:
            for m in conn.execute(query).mappings():
                info = (
                    None
                    if m[execution_index.c.execution_id] is None
                    else _info({c.name: m[c] for c in execution_index.c})
                )
                out.append(ExecutionSummary(**{c.name: m[c] for c in _SUMMARY_COLUMNS}, info=info))
        return out

    def phase_counts(self, where: ExecutionFilter) -> dict[str, int]:
        """How many executions match, per phase (the filter's own phases ignored)."""
        unphased = msgspec.structs.replace(where, phases=())
        query = self._filtered(
            self._joined(executions.c.phase, sa.func.count()), unphased
        ).group_by(executions.c.phase)
        with self._engine.connect() as conn:
            return {str(phase): int(n) for phase, n in conn.execute(query)}

    # -- schedules -----------------------------------------------------------------------------

    def set_schedule(self, state: ScheduleState) -> None:
        row = msgspec.structs.asdict(state)
        row["updated_at"] = time.time()
        stmt = dialect_insert(self._dialect, schedules).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["project", "domain", "name"],
            set_={k: stmt.excluded[k] for k in ("version", "active", "updated_at")},
        )
        with self._writer.begin() as conn:
            conn.execute(stmt)

    def get_schedule(self, project: str, domain: str, name: str) -> ScheduleState | None:
        query = sa.select(schedules).where(
            schedules.c.project == project, schedules.c.domain == domain, schedules.c.name == name
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else ScheduleState(**row._asdict())

    def active_schedules(self) -> list[ScheduleState]:
        query = sa.select(schedules).where(schedules.c.active.is_(True))
        with self._engine.connect() as conn:
            return [ScheduleState(**r._asdict()) for r in conn.execute(query)]

    def last_slot(self, project: str, domain: str, name: str) -> float | None:
        query = sa.select(sa.func.max(schedule_slots.c.slot)).where(
            schedule_slots.c.project == project,
            schedule_slots.c.domain == domain,
            schedule_slots.c.name == name,
        )
        with self._engine.connect() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else float(value)

    def fire_slot(
        self,
        slot: SlotRecord,
        info: ExecutionInfo,
        execution: ExecutionRecord,
        nodes: list[NodeRecord],
        lease: Lease,
    ) -> bool:
        """Take a slot and store the execution it fires, with its lease, in one transaction;
        False (nothing stored) if the slot was taken already (by this or another server).

        So a slot fires exactly once: a server killed after this commit leaves a QUEUED
        execution whose lease another server takes up."""
        row = msgspec.structs.asdict(slot)
        stmt = (
            dialect_insert(self._dialect, schedule_slots)
            .values(**row)
            .on_conflict_do_nothing()
            .returning(schedule_slots.c.slot)
        )
        with self._writer.begin() as conn:
            if conn.execute(stmt).first() is None:
                return False
            self._index(conn, info)
            insert_execution(conn, execution, nodes, lease)
        return True

    # -- reading an execution at once ----------------------------------------------------------

    def node_attempts(self, execution_id: str) -> list[AttemptRecord]:
        """Attempts of the execution's nodes (not of map items, which the map summarises)."""
        columns = [attempts.c[name] for name in _ATTEMPT_FIELDS]
        query = (
            sa.select(*columns)
            .select_from(
                attempts.join(
                    nodes,
                    sa.and_(
                        nodes.c.execution_id == attempts.c.execution_id,
                        nodes.c.node_id == attempts.c.node_id,
                    ),
                )
            )
            .where(attempts.c.execution_id == execution_id)
            .order_by(attempts.c.node_id, attempts.c.attempt)
        )
        out = []
        with self._engine.connect() as conn:
            # Positional rows: thousands of attempts are read per detail, so no row mappings.
            for row in conn.execute(query):
                values = dict(zip(_ATTEMPT_FIELDS, row, strict=True))
                values["handle"] = _decode_object(values["handle"]) if values["handle"] else {}
                values["info"] = _decode_object(values["info"]) if values["info"] else {}
                out.append(AttemptRecord(**values))
        return out

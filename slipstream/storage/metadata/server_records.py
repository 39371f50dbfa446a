"""Rows of the server's tables as plain Structs; read and written by server_store."""

from __future__ import annotations

import msgspec


class CatalogEntry(msgspec.Struct, kw_only=True):
    """A registered task, workflow or launch plan."""

    project: str
    domain: str
    kind: str  # "task" | "workflow" | "launch_plan"
    name: str
    version: str
    template: str  # IR JSON
    digest: str = ""  # sha256 of template
    bundle_uri: str = ""
    created_at: float = 0.0


class ExecutionInfo(msgspec.Struct, kw_only=True):
    """Who launched an execution, from what, with which labels, and from which parent."""

    execution_id: str
    project: str = "default"
    domain: str = "development"
    entity_kind: str = "workflow"
    entity_name: str = ""
    version: str = ""
    launch_plan: str = ""
    launched_by: str = ""
    parent_id: str = ""
    relation: str = ""  # "", "relaunch", "recover", "schedule"
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    created_at: float = 0.0


class ExecutionSummary(msgspec.Struct, kw_only=True):
    """One line of an executions list: the engine's row joined with its info (if any)."""

    id: str
    name: str
    kind: str
    phase: str
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    info: ExecutionInfo | None = None  # None for an execution run outside the server


class ExecutionFilter(msgspec.Struct, kw_only=True):
    phases: tuple[str, ...] = ()
    project: str | None = None
    domain: str | None = None
    name: str | None = None
    launch_plan: str | None = None
    launched_by: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    created_after: float | None = None
    created_before: float | None = None


class ScheduleState(msgspec.Struct, kw_only=True):
    project: str
    domain: str
    name: str
    version: str
    active: bool
    updated_at: float = 0.0


class SlotRecord(msgspec.Struct, kw_only=True):
    project: str
    domain: str
    name: str
    slot: float
    execution_id: str
    skipped: int = 0
    fired_at: float = 0.0

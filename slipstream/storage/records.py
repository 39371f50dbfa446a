"""Rows of the metadata store as plain Structs; written by the engine, read by CLI and server."""

from __future__ import annotations

import math
from typing import Any

import msgspec


class ExecutionRecord(msgspec.Struct, kw_only=True):
    id: str
    name: str  # workflow or task name
    kind: str  # "workflow" | "task"
    phase: str  # ExecutionPhase value
    template: str  # the WorkflowTemplate / TaskTemplate as IR JSON
    inputs: str  # LiteralMap as IR JSON
    outputs: str | None = None  # LiteralMap as IR JSON
    error: str | None = None  # ErrorDocument as IR JSON
    options: dict[str, Any] = msgspec.field(default_factory=dict)  # runner, source_root, ...
    created_at: float = 0.0  # unix seconds
    started_at: float | None = None
    ended_at: float | None = None
    abort_requested: bool = False
    engine_heartbeat: float | None = None  # last time the engine owning it was alive
    engine_pid: int | None = None


class NodeRecord(msgspec.Struct, kw_only=True):
    execution_id: str
    node_id: str  # "/"-separated for nested nodes ("dyn-1/n0")
    parent_id: str = ""  # the enclosing dynamic / sub-workflow node, "" at top level
    kind: str = "task"
    target: str = ""  # task / workflow name
    phase: str = "QUEUED"
    cached: bool = False
    user_attempts: int = 0  # attempts whose failure spent the user budget
    system_attempts: int = 0  # attempts whose failure spent the system budget
    attempts: int = 0  # attempts launched in all
    outputs: str | None = None  # LiteralMap as IR JSON
    error: str | None = None  # ErrorDocument as IR JSON
    info: dict[str, Any] = msgspec.field(default_factory=dict)  # dashboard link, map summary...
    started_at: float | None = None
    ended_at: float | None = None


class AttemptRecord(msgspec.Struct, kw_only=True):
    execution_id: str
    node_id: str
    attempt: int  # 1-based
    phase: str  # AttemptPhase value
    runner: str
    handle: dict[str, Any] = msgspec.field(default_factory=dict)  # to re-adopt (pid, pod name)
    output_prefix: str = ""
    error: str | None = None
    info: dict[str, Any] = msgspec.field(default_factory=dict)
    started_at: float = 0.0
    ended_at: float | None = None


class EventRecord(msgspec.Struct, kw_only=True):
    execution_id: str
    node_id: str = ""  # "" for the execution itself
    attempt: int = 0
    phase: str = ""
    at: float = 0.0
    message: str = ""
    id: int | None = None  # assigned by the store


class CacheEntry(msgspec.Struct, kw_only=True):
    key: str
    task_name: str
    cache_version: str
    outputs: str  # LiteralMap as IR JSON
    created_at: float
    expires_at: float | None = None
    execution_id: str = ""
    node_id: str = ""


class Lease(msgspec.Struct, kw_only=True):
    """Which server drives an execution: owner ("" = any server may claim it), a fencing token
    that grows at every takeover, and the expiry (unix seconds; None = stale).

    held_until is the owner's own deadline (time.monotonic(), never stored): past it the
    owner's engine writes nothing more, whether or not another server took over yet.
    """

    execution_id: str
    owner: str = ""
    token: int = 0
    expires_at: float | None = None
    held_until: float = math.inf


class WriteBatch(msgspec.Struct, kw_only=True):
    """Everything one engine step changes, written in one transaction.

    With a lease, the write happens only while that lease (owner and token) is still the
    execution's: otherwise LeaseLostError and nothing is written.
    """

    events: list[EventRecord] = msgspec.field(default_factory=list)
    nodes: list[NodeRecord] = msgspec.field(default_factory=list)  # upserted whole
    attempts: list[AttemptRecord] = msgspec.field(default_factory=list)  # upserted whole
    execution: ExecutionRecord | None = None  # upserted whole (abort_requested untouched)
    cache_entries: list[CacheEntry] = msgspec.field(default_factory=list)  # upserted
    lease: Lease | None = None  # the fence: not content (an empty batch stays empty)

    def __bool__(self) -> bool:
        return bool(
            self.events or self.nodes or self.attempts or self.execution or self.cache_entries
        )


class EntityRecord(msgspec.Struct, kw_only=True):
    """A registered task or workflow: its template by name and version."""

    name: str
    version: str
    kind: str  # "task" | "workflow"
    template: str  # TaskTemplate / WorkflowTemplate as IR JSON
    created_at: float = 0.0

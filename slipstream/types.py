"""Shared vocabulary (phases, IDs, error kinds): a leaf every layer imports, importing nothing."""

from __future__ import annotations

import enum
from typing import Any, TypeAlias

API_VERSION = "slipstream/v1"

ExecutionId: TypeAlias = str
NodeId: TypeAlias = str
JSON: TypeAlias = Any


class ExecutionPhase(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_EXECUTION


class NodePhase(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    ABORTED = "ABORTED"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_NODE


class AttemptPhase(enum.StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"


class ErrorKind(enum.StrEnum):
    USER = "user"
    SYSTEM = "system"


_TERMINAL_EXECUTION = frozenset(
    {ExecutionPhase.SUCCEEDED, ExecutionPhase.FAILED, ExecutionPhase.ABORTED}
)
_TERMINAL_NODE = frozenset(
    {NodePhase.SUCCEEDED, NodePhase.FAILED, NodePhase.SKIPPED, NodePhase.ABORTED}
)

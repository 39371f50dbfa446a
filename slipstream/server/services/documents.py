"""Records of the stores as the API's JSON documents; used by the execution service."""

from __future__ import annotations

import base64
import json
from typing import Any

from slipstream.compiler.values import literal_to_display
from slipstream.ir import ErrorDocument, LiteralMapDocument, LiteralType, TypedInterface, decode
from slipstream.storage.metadata.server_records import ExecutionInfo, ExecutionSummary
from slipstream.storage.records import AttemptRecord, EventRecord, ExecutionRecord, NodeRecord

_ANY = LiteralType("any")


def error_document(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    error = decode(text, ErrorDocument)
    return {
        "kind": error.kind,
        "recoverable": error.recoverable,
        "type": error.type,
        "message": error.message,
        "traceback": error.traceback,
        "timed_out": error.timed_out,
    }


def info_document(info: ExecutionInfo | None) -> dict[str, Any]:
    if info is None:  # run outside the server (slipstream run on a shared store)
        return {
            "project": "default",
            "domain": "development",
            "version": "",
            "launch_plan": "",
            "launched_by": "",
            "parent": "",
            "relation": "",
            "labels": {},
        }
    return {
        "project": info.project,
        "domain": info.domain,
        "version": info.version,
        "launch_plan": info.launch_plan,
        "launched_by": info.launched_by,
        "parent": info.parent_id,
        "relation": info.relation,
        "labels": info.labels,
    }


def summary_document(row: ExecutionSummary) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "phase": row.phase,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        **info_document(row.info),
    }


def values_document(
    text: str | None, interface: TypedInterface | None, outputs: bool
) -> dict[str, Any] | None:
    """Values shown as JSON; offloaded ones as {uri, hash, format}."""
    if not text:
        return None
    literals = decode(text, LiteralMapDocument).literals
    variables = {}
    if interface is not None:
        variables = {v.name: v.type for v in (interface.outputs if outputs else interface.inputs)}
    return {
        name: literal_to_display(literal, variables.get(name, _ANY))
        for name, literal in literals.items()
    }


def attempt_document(attempt: AttemptRecord) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "phase": attempt.phase,
        "runner": attempt.runner,
        "started_at": attempt.started_at,
        "ended_at": attempt.ended_at,
        "error": error_document(attempt.error),
        "info": attempt.info,
    }


def node_document(node: NodeRecord, attempts: list[AttemptRecord]) -> dict[str, Any]:
    return {
        "id": node.node_id,
        "parent": node.parent_id,
        "kind": node.kind,
        "target": node.target,
        "phase": node.phase,
        "cached": node.cached,
        "attempts": node.attempts,
        "user_attempts": node.user_attempts,
        "system_attempts": node.system_attempts,
        "started_at": node.started_at,
        "ended_at": node.ended_at,
        "error": error_document(node.error),
        "info": node.info,  # a map's summary (items succeeded/failed/running), dashboard link
        "attempt_history": [attempt_document(a) for a in attempts],
    }


def execution_document(
    record: ExecutionRecord, info: ExecutionInfo | None, interface: TypedInterface | None
) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "kind": record.kind,
        "phase": record.phase,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "abort_requested": record.abort_requested,
        "runner": record.options.get("runner", ""),
        "inputs": values_document(record.inputs, interface, outputs=False),
        "outputs": values_document(record.outputs, interface, outputs=True),
        "error": error_document(record.error),
        **info_document(info),
    }


def event_document(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "node": event.node_id,
        "attempt": event.attempt,
        "phase": event.phase,
        "at": event.at,
        "message": event.message,
    }


def encode_cursor(created_at: float, execution_id: str) -> str:
    raw = json.dumps([created_at, execution_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The (created_at, id) a cursor stands for; ValueError if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, eid = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except Exception:
        raise ValueError(f"cursor {cursor[:40]!r} is not a cursor this server gave") from None
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not isinstance(eid, str):
        raise ValueError(f"cursor {cursor[:40]!r} is not a cursor this server gave")
    return float(at), eid

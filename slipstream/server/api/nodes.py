"""/api/v1/executions/{id}/nodes/{node}/data|logs: a node's values and its log (SSE to follow)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from slipstream.server.api.deps import services
from slipstream.server.api.sse import frame, poll_stream
from slipstream.server.services import Services

router = APIRouter(prefix="/executions/{execution_id}/nodes", tags=["nodes"])

_MEDIA = {"parquet": "application/vnd.apache.parquet", "json": "application/json"}


@router.get("/{node_id:path}/data/{side}/{name}")
def node_value(
    execution_id: str, node_id: str, side: str, name: str, svc: Services = Depends(services)
) -> StreamingResponse:
    """Stream one offloaded input or output value (side: inputs | outputs) from the blob store."""
    chunks, fmt = svc.executions.open_value(execution_id, node_id, side, name)
    return StreamingResponse(
        chunks,
        media_type=_MEDIA.get(fmt, "application/octet-stream"),
        headers={"content-disposition": f'attachment; filename="{name}.{fmt or "bin"}"'},
    )


@router.get("/{node_id:path}/data")
def node_data(execution_id: str, node_id: str, svc: Services = Depends(services)) -> dict[str, Any]:
    """Inputs and outputs; large (offloaded) values as links (`href`) that stream them."""
    return svc.executions.node_data(execution_id, node_id)


@router.get("/{node_id:path}/logs", response_model=None)
def node_logs(
    execution_id: str,
    node_id: str,
    attempt: int | None = Query(None, ge=1),
    follow: bool = Query(False, description="Stream as Server-Sent Events until it ends."),
    svc: Services = Depends(services),
) -> dict[str, Any] | StreamingResponse:
    """The attempt's log (the last attempt by default); follow=true streams it as SSE."""
    first = svc.executions.logs(execution_id, node_id, attempt)
    if not follow:
        return first
    which = first["attempt"]
    sent = 0

    def step() -> tuple[list[bytes], bool]:
        nonlocal sent
        logs = svc.executions.logs(execution_id, node_id, which)
        text: str = logs["text"]
        frames = []
        if len(text) > sent:
            frames.append(frame("log", {"text": text[sent:]}))
            sent = len(text)
        if not logs["running"]:
            frames.append(frame("end", {"phase": logs["phase"]}))
            return frames, True
        return frames, False

    return poll_stream(step)

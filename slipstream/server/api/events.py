"""GET /api/v1/executions/{id}/events: phase changes as Server-Sent Events, to follow live."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from slipstream.server.api.deps import services
from slipstream.server.api.sse import frame, poll_stream
from slipstream.server.services import Services

router = APIRouter(prefix="/executions/{execution_id}", tags=["events"])


@router.get("/events")
def events(
    execution_id: str,
    after: int = Query(0, ge=0, description="Only events after this id."),
    last_event_id: int | None = Header(None, ge=0),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """Every event (execution and node phases) in write order, then `end` once it is over."""
    svc.executions.events(execution_id, 1 << 62)  # a 404 before the stream starts
    seen = max(after, last_event_id or 0)
    ending = False

    def step() -> tuple[list[bytes], bool]:
        nonlocal seen, ending
        found, done = svc.executions.events(execution_id, seen)
        frames = [frame("event", e, e["id"]) for e in found]
        if found:
            seen = found[-1]["id"]
        if done and not found:
            if ending:  # one more read after the end, for the events written with it
                return [*frames, frame("end", {"execution": execution_id})], True
            ending = True
        return frames, False

    return poll_stream(step)

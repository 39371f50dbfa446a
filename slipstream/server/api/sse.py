"""Server-Sent Events framing and a polling stream; used by the logs and events routers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


def frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in json.dumps(data).splitlines() or [""])
    return ("\n".join(lines) + "\n\n").encode()


def poll_stream(
    step: Callable[[], tuple[list[bytes], bool]],
    *,
    poll_seconds: float = POLL_SECONDS,
    disconnected: Callable[[], Awaitable[bool]] | None = None,
) -> StreamingResponse:
    """Call `step` (in a thread) until it says it is done (or the client went away), sending
    what it returns each time; a keep-alive comment after KEEPALIVE_SECONDS of nothing."""

    async def body() -> AsyncIterator[bytes]:
        idle = 0.0
        while disconnected is None or not await disconnected():
            frames, done = await run_in_threadpool(step)
            for chunk in frames:
                yield chunk
            if done:
                return
            if frames:
                idle = 0.0
            else:
                idle += poll_seconds
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield b": keep-alive\n\n"
            await asyncio.sleep(poll_seconds)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )

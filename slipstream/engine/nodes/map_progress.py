"""What a map node writes down as it goes: its summary (node info) and its finished items in
saved chunks, so a resumed map re-runs none of them; used by the map kind."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from slipstream.engine.nodes.base import RunContext
from slipstream.engine.nodes.map_items import ItemTable

if TYPE_CHECKING:
    from slipstream.engine.state import NodeState

SUMMARY_EVERY_SECONDS = 0.5
SAVE_EVERY_SECONDS = 1.0


class MapProgress:
    """The summary and the saved chunks of one map node."""

    def __init__(self, ctx: RunContext, state: NodeState, items: ItemTable) -> None:
        self.ctx = ctx
        self.state = state
        self.items = items
        self.last_summary = self.last_save = time.monotonic()

    def summarize(self, now: float, running: int, force: bool = False) -> bool:
        """Write the summary unless one was written under SUMMARY_EVERY_SECONDS ago (False)."""
        if not force and now - self.last_summary < SUMMARY_EVERY_SECONDS:
            return False
        self.last_summary = now
        summary = self.items.summary(running)
        self.ctx.node_info(self.state, summary)
        return True

    def next_summary(self) -> float:
        return self.last_summary + SUMMARY_EVERY_SECONDS

    def save_due(self, now: float) -> bool:
        return now - self.last_save >= SAVE_EVERY_SECONDS

    def next_save(self) -> float:
        return self.last_save + SAVE_EVERY_SECONDS

    def save(self, now: float) -> None:
        """Save finished items in a chunk first, then count it in the node record."""
        self.last_save = now
        if self.items.save(self.chunk_uri):
            self.state.record.info["chunks"] = self.items.chunks
            self.ctx.recorder.node(self.state.record)

    def restore(self) -> None:
        info = self.state.record.info
        self.items.restore(int(info.get("chunks", 0)), self.chunk_uri, info.get("errors", []))

    def chunk_uri(self, number: int) -> str:
        prefix = self.ctx.blobs.attempt_prefix(
            self.ctx.execution.id, f"{self.state.id}/progress", number + 1
        )
        return f"{prefix}.json"

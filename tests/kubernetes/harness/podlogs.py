"""What each Pod's container printed, written by the kubelet and served as pods/log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class ContainerRun:
    """The output of one start of a Pod's container (a restart begins a new run)."""

    data: bytearray = field(default_factory=bytearray)
    finished: bool = False


class PodLogs:
    """Log runs keyed by Pod uid, so a re-created Pod with the same name starts empty."""

    def __init__(self) -> None:
        self._runs: dict[str, list[ContainerRun]] = {}
        self._changed = asyncio.Condition()

    def has(self, uid: str) -> bool:
        return bool(self._runs.get(uid))

    def start(self, uid: str) -> ContainerRun:
        run = ContainerRun()
        self._runs.setdefault(uid, []).append(run)
        return run

    async def append(self, run: ContainerRun, data: bytes) -> None:
        run.data.extend(data)
        async with self._changed:
            self._changed.notify_all()

    async def finish(self, run: ContainerRun) -> None:
        run.finished = True
        async with self._changed:
            self._changed.notify_all()

    async def finish_all(self) -> None:
        for runs in self._runs.values():
            for run in runs:
                run.finished = True
        async with self._changed:
            self._changed.notify_all()

    def forget(self, uid: str) -> None:
        self._runs.pop(uid, None)

    def run(self, uid: str, previous: bool = False) -> ContainerRun | None:
        runs = self._runs.get(uid) or []
        index = -2 if previous else -1
        return runs[index] if len(runs) >= -index else None

    def text(self, uid: str, previous: bool = False) -> str:
        run = self.run(uid, previous)
        return "" if run is None else run.data.decode("utf-8", "replace")

    async def follow(self, run: ContainerRun, start: int) -> AsyncIterator[bytes]:
        """Chunks from byte offset `start` until the run finishes."""
        offset = start

        def ready() -> bool:
            return run.finished or len(run.data) > offset

        while True:
            async with self._changed:
                await self._changed.wait_for(ready)
            if len(run.data) > offset:
                chunk = bytes(run.data[offset:])
                offset += len(chunk)
                yield chunk
            elif run.finished:
                return


def tail(data: bytes, tail_lines: int | None, limit_bytes: int | None) -> bytes:
    """The last `tail_lines` lines, then at most `limit_bytes` bytes from the start of those."""
    if tail_lines is not None:
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[-tail_lines:]) if tail_lines > 0 else b""
    if limit_bytes is not None:
        data = data[:limit_bytes]
    return data

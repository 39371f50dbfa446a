"""What the engine tells a watcher (the CLI's live progress) as an execution moves."""

from __future__ import annotations

from typing import Any


class Observer:
    """Subclass and override what you need; called on the engine's thread."""

    def execution_started(self, run: Any) -> None:
        pass

    def node_changed(self, run: Any, state: Any) -> None:
        pass

    def node_info(self, run: Any, state: Any, info: dict[str, Any]) -> None:
        pass

    def execution_changed(self, run: Any) -> None:
        pass

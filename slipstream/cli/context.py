"""The CLI's shared objects: settings and the engine; one per command invocation."""

from __future__ import annotations

from typing import Any

from slipstream.config import Settings, load_settings
from slipstream.engine.local import engine_for


def settings_for(runner: str | None = None) -> Settings:
    settings = load_settings()
    if runner:
        settings = settings.with_values(runner=runner)
    return settings


def engine(runner: str | None = None) -> Any:
    return engine_for(settings_for(runner))

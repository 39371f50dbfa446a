"""The web UI served by `slipstream serve` at `/`: `build_ui_router(services)`; used by app.py.

Server-rendered pages (Jinja2, autoescaped) with htmx, and small scripts for the graph (dagre,
SVG), the timeline and the launch form; every asset ships in this package (static/).
"""

from __future__ import annotations

from typing import Any


def build_ui_router(services: Any) -> Any:
    """The UI's routes (pages, live state, actions, static assets) on the given services."""
    from slipstream.server.ui.router import ui_router

    return ui_router(services)

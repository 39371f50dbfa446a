"""The launch form's specification from an entity's interface document; used by the launch page.

The form itself is drawn in the browser by form.js from this: a JSON Schema per input, its
default, and for a launch plan its defaults (shown, editable) and fixed inputs (read-only).
"""

from __future__ import annotations

import json
from typing import Any


def _text(value: Any) -> str:
    return json.dumps(value, default=str)


def form_spec(
    interface: dict[str, Any],
    plan_defaults: dict[str, Any] | None = None,
    fixed: dict[str, Any] | None = None,
    prefill: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What form.js needs, input by input, in interface order."""
    plan_defaults = plan_defaults or {}
    fixed = fixed or {}
    inputs = []
    for variable in interface.get("inputs", []):
        name = variable["name"]
        entry: dict[str, Any] = {
            "name": name,
            "type": variable.get("type", ""),
            "schema": variable.get("schema", {}),
            "has_default": not variable.get("required", True),
        }
        if "default" in variable:
            entry["default"] = variable["default"]
        if name in plan_defaults:
            entry["has_default"] = True
            entry["default"] = plan_defaults[name]
        if name in fixed:
            entry["has_default"] = True
            entry["default"] = fixed[name]
            entry["fixed"] = True
        inputs.append(entry)
    return {"inputs": inputs, "prefill": prefill or {}}


def interface_rows(spec: dict[str, Any], interface: dict[str, Any]) -> dict[str, list[Any]]:
    """The interface as table rows for the entity page."""
    rows = []
    for entry in spec["inputs"]:
        rows.append(
            {
                "name": entry["name"],
                "type": entry["type"],
                "has_default": entry["has_default"] and not entry.get("fixed"),
                "fixed": bool(entry.get("fixed")),
                "default_text": _text(entry.get("default")) if entry["has_default"] else "",
            }
        )
    outputs = [{"name": v["name"], "type": v.get("type", "")} for v in interface.get("outputs", [])]
    return {"inputs": rows, "outputs": outputs}

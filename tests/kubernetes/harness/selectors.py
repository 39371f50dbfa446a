"""Label and field selectors as the Kubernetes API parses them; used by the test API server."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"(?:[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?"
_VALUE = r"(?:[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?"
_EQUALITY = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^()]*)\)\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")
_FIELD = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*([^,]*?)\s*$")


class SelectorError(ValueError):
    """A selector the real API server would reject (HTTP 400)."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value in self.values
        if self.op == "!=":
            return not present or value not in self.values
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present


def _split(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def parse_label_selector(selector: str) -> list[Requirement]:
    """Parse `a=b,c!=d,e in (f,g),!h`; raise SelectorError naming the bad part."""
    requirements: list[Requirement] = []
    for part in _split(selector):
        if m := _EQUALITY.match(part):
            op = "!=" if m[2] == "!=" else "="
            requirements.append(Requirement(m[1], op, frozenset({m[3]})))
        elif m := _SET.match(part):
            values = frozenset(v.strip() for v in m[3].split(",") if v.strip())
            requirements.append(Requirement(m[1], m[2], values))
        elif m := _EXISTS.match(part):
            requirements.append(Requirement(m[2], "!exists" if m[1] else "exists"))
        else:
            raise SelectorError(
                f"unable to parse requirement {part.strip()!r} in labelSelector {selector!r}: "
                "expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)"
            )
    return requirements


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(
    selector: str, supported: frozenset[str], kind: str
) -> Callable[[Mapping[str, Any]], bool]:
    """Parse `metadata.name=x,status.phase!=Failed` for a kind with the given extra fields."""
    allowed = supported | {"metadata.name", "metadata.namespace"}
    checks: list[tuple[str, bool, str]] = []
    for part in _split(selector):
        m = _FIELD.match(part)
        if m is None:
            raise SelectorError(
                f"invalid fieldSelector requirement {part.strip()!r} in {selector!r}: "
                "expected field=value, field==value or field!=value"
            )
        if m[1] not in allowed:
            raise SelectorError(
                f'field label not supported: "{m[1]}" for {kind}; supported: {sorted(allowed)}'
            )
        checks.append((m[1], m[2] != "!=", m[3]))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) == equal for path, equal, value in checks)

    return matches


@dataclass(frozen=True)
class Selector:
    """A parsed labelSelector + fieldSelector pair."""

    labels: tuple[Requirement, ...] = ()
    fields: Callable[[Mapping[str, Any]], bool] | None = None

    @classmethod
    def parse(
        cls,
        label_selector: str | None,
        field_selector: str | None,
        supported_fields: frozenset[str] = frozenset(),
        kind: str = "",
    ) -> Selector:
        labels = tuple(parse_label_selector(label_selector)) if label_selector else ()
        fields = (
            parse_field_selector(field_selector, supported_fields, kind) if field_selector else None
        )
        return cls(labels, fields)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if not all(req.matches(labels) for req in self.labels):
            return False
        return self.fields is None or self.fields(obj)


def dict_selector(labels: Mapping[str, str]) -> str:
    """`{"a": "b", "c": "d"}` -> `"a=b,c=d"`."""
    return ",".join(f"{key}={value}" for key, value in labels.items())

"""Every identifier a request names, checked in one place before it reaches a store or a path.

`check_request` runs before every route (create_app adds it to all of them): each path
parameter, and the query parameters that name things, must fit the rule of its name; a name
without a rule of its own gets the general one, so a new endpoint is covered too. Uploads check
the file names they unpack with `check_member`. A bad one is an IdentifierError (400) naming
the parameter, the value (shortened) and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import Request

MAX_LENGTH = 1000
_WORD = r"[^\W][\w.:@+=-]{0,199}"  # starts with a letter, digit or _; never "." or ".."
_SEGMENT = re.compile(_WORD)
_DASHED = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"[1-9][0-9]{0,5}")
_FILE_NAME = re.compile(r"[^/\\\x00-\x1f\x7f]{1,200}")


class IdentifierError(ValueError):
    """A request names something with a value that could leave its place (400)."""


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _segments(value: str) -> bool:
    """'/'-separated names, each a word (no '.', '..', backslash, control char or empty)."""
    parts = value.split("/")
    return len(value) <= MAX_LENGTH and all(_SEGMENT.fullmatch(p) for p in parts)


def _file_path(value: str) -> bool:
    """A relative file path: '/'-separated names of any printable characters but '\\', never
    empty, '.' or '..'."""
    parts = value.split("/")
    return len(value) <= MAX_LENGTH and all(
        _FILE_NAME.fullmatch(p) and p.isprintable() and p not in (".", "..") for p in parts
    )


def _fits(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: bool(pattern.fullmatch(value))


RULES: dict[str, tuple[Callable[[str], bool], str]] = {
    "execution_id": (_fits(_DASHED), "an execution id (letters, digits, '-' and '_')"),
    "relaunch": (_fits(_DASHED), "an execution id (letters, digits, '-' and '_')"),
    "node_id": (_segments, "a node id ('/'-separated names of letters, digits, '_', '-', '.')"),
    "attempt": (_fits(_NUMBER), "an attempt number (1, 2, ...)"),
    "side": (lambda v: v in ("inputs", "outputs"), "inputs or outputs"),
    "name": (_fits(_SEGMENT), "a name of letters, digits and _ . : - (no '/', no '..')"),
    "digest": (_fits(_DIGEST), "a sha256 hex digest"),
    "asset": (_segments, "a packaged asset's path"),
    "file name": (
        lambda v: "/" not in v and _file_path(v),
        "a file name (no '/', '\\', control characters, '.' or '..')",
    ),
    "member": (_file_path, "a relative path ('/'-separated, no '\\', '.', '..' or '/' first)"),
}
GENERAL = (_segments, "'/'-separated names without '.', '..', '\\' or control characters")
QUERY_NAMES = ("relaunch", "attempt", "node")


def check_identifier(kind: str, value: str) -> str:
    """value if it fits the rule for `kind` (the general rule for other names)."""
    fits, expected = RULES.get(kind, GENERAL)
    if not isinstance(value, str) or not fits(value):
        raise IdentifierError(f"{kind} {_shown(str(value))} is not valid: expected {expected}")
    return value


def check_member(path: str) -> str:
    """A file's relative path inside an uploaded directory: '/'-separated names, no escape."""
    return check_identifier("member", path)


def check_request(request: Request) -> None:
    """The dependency on every route: its path parameters and naming query parameters."""
    for name, value in request.path_params.items():
        check_identifier(name, str(value))
    for name in QUERY_NAMES:
        for value in request.query_params.getlist(name):
            check_identifier("node_id" if name == "node" else name, value)

"""Database driver errors turned into one MetadataStoreError saying where, what and what to do.

Used by engines.py (opening) and store.py (every public call of MetadataStore).
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from slipstream.errors import MetadataStoreError

F = TypeVar("F", bound=Callable[..., Any])

SETTING = "the database_url setting (SLIPSTREAM_DATABASE_URL, or [tool.slipstream] database_url)"

# (text in the driver's message, what it means, what to do); the first match wins.
_SQLITE_HINTS = (
    (
        "file is not a database",
        "is not an SQLite database (corrupt, or another kind of file)",
        f"move it away to start a new history, or point {SETTING} elsewhere",
    ),
    (
        "malformed",
        "is a corrupt SQLite database",
        f"restore it from a backup or move it away, or point {SETTING} elsewhere",
    ),
    (
        "readonly",
        "is read-only here",
        "make it and its folder writable to run executions; "
        "`executions list`/`show` and `cache list` can still read it",
    ),
    (
        "unable to open",
        "cannot be opened",
        "check that its folder exists and is readable (and writable, to run executions)",
    ),
    ("locked", "is locked by another process (waited up to 30 s)", "retry when it finishes"),
)

_POSTGRES_HINTS = (
    (
        "password authentication failed",
        "refused the user name or password",
        f"check the user and password in {SETTING}",
    ),
    ("does not exist", "has no such database or role", f"create it, or fix {SETTING}"),
    (
        "connection refused",
        "is not reachable (connection refused)",
        f"start the server, or fix the host and port in {SETTING}",
    ),
    ("timeout", "did not answer in time", f"check the server and the network, or {SETTING}"),
    (
        "could not translate host name",
        "names a host that cannot be found",
        f"fix the host in {SETTING}",
    ),
)


def display_url(url: str) -> str:
    """The URL with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def sqlite_path(url: str) -> str:
    return make_url(url).database or ""


def _writable(path: str) -> bool:
    folder = os.path.dirname(os.path.abspath(path))
    return os.access(folder, os.W_OK) and (not os.path.exists(path) or os.access(path, os.W_OK))


def _driver_message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return " ".join(str(orig).split())  # one line: drivers put hints on tabbed lines


def describe(url: str, exc: BaseException, doing: str = "") -> str:
    """One message for exc, raised while using the database at url."""
    message = _driver_message(exc)
    lowered = message.lower()
    sqlite = url.startswith("sqlite")
    where = f"the metadata database {sqlite_path(url) if sqlite else display_url(url)}"
    during = f" (while {doing})" if doing else ""
    if sqlite and not _writable(sqlite_path(url)) and ("unable to open" in lowered):
        lowered += " readonly"  # SQLite cannot make its journal next to the file
    for needle, meaning, todo in _SQLITE_HINTS if sqlite else _POSTGRES_HINTS:
        if needle in lowered:
            return f"{where} {meaning}{during}: {message}; {todo}"
    return f"{where} failed{during}: {message}; check the database and {SETTING}"


def is_driver_error(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.DBAPIError | sqlite3.Error):
        return True
    module = type(exc).__module__
    return module.startswith("psycopg")


def translate_faults(method: F) -> F:
    """Wrap a MetadataStore method: driver errors become a MetadataStoreError naming the store."""
    doing = method.__name__.replace("_", " ")

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except MetadataStoreError:
            raise
        except Exception as exc:
            if not is_driver_error(exc):
                raise
            raise MetadataStoreError(describe(self.url, exc, doing)) from exc

    return wrapper  # type: ignore[return-value]


def fail(url: str, exc: BaseException) -> MetadataStoreError:
    return MetadataStoreError(describe(url, exc, "opening it"))

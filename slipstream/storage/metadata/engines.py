"""One SQLAlchemy Engine per database URL per process, tuned and migrated once; used by store.py."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from slipstream.errors import ConfigError

# The newest revision in slipstream/storage/migrations/versions; checked against Alembic's
# own idea of head by a test, so opening an up-to-date database never loads Alembic.
HEAD_REVISION = "0002"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Key of the PostgreSQL advisory lock that serialises concurrent migrations.
_PG_MIGRATION_LOCK = 7_155_170_001

WRITE_OPTION = "slipstream_write"

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_users: dict[str, int] = {}
_migrated: set[str] = set()


def normalize_url(url: str) -> str:
    """Check a database URL and pick the driver: psycopg 3 for PostgreSQL."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            f"database URL {url!r} is not a URL "
            "(expected sqlite:///path/to/file.db or postgresql://user@host:port/db)"
        )
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme in {"postgresql", "postgres", "postgresql+psycopg"}:
        return "postgresql+psycopg://" + rest
    if scheme in {"sqlite", "sqlite+pysqlite"}:
        database = make_url(url).database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            raise ConfigError(
                f"database URL {url!r} is an in-memory SQLite database, which each "
                "connection would see empty (expected sqlite:///path/to/file.db)"
            )
        return "sqlite:///" + database
    raise ConfigError(
        f"database URL {url!r} uses an unsupported scheme {scheme!r} "
        "(expected sqlite:///path/to/file.db or postgresql://user@host:port/db)"
    )


def display_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def acquire_engine(url: str) -> Engine:
    """The process's Engine for a normalized URL, migrated to head; pair with release_engine."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url)
            _engines[url] = engine
            _users[url] = 0
        _users[url] += 1
    try:
        if url not in _migrated:
            _migrate(engine, url)
    except BaseException:
        release_engine(url)
        raise
    return engine


def release_engine(url: str) -> None:
    """Drop one user of url's Engine; the last one closes its connections."""
    with _lock:
        left = _users.get(url, 0) - 1
        if left > 0:
            _users[url] = left
            return
        _users.pop(url, None)
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database or ""
        folder = os.path.dirname(os.path.abspath(database))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"database URL {url!r}: cannot create {folder!r}: {exc}") from None
        engine = sa.create_engine(url, connect_args={"timeout": 30.0, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=False)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin event emit BEGIN itself (pysqlite's own would be DEFERRED).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a second writer then waits (busy_timeout)
    # instead of failing with "database is locked" when it upgrades a read lock mid-way.
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def write_engine(engine: Engine) -> Engine:
    """A view of engine whose transactions take SQLite's write lock at BEGIN."""
    return engine.execution_options(**{WRITE_OPTION: True})


def _current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])


def _migrate(engine: Engine, url: str) -> None:
    with engine.connect() as conn:
        current = _current_revision(conn)
    if current != HEAD_REVISION:
        with write_engine(engine).begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            # Another process may have migrated while we waited for the lock.
            if _current_revision(conn) != HEAD_REVISION:
                run_alembic_upgrade(conn, url)
    _migrated.add(url)


def run_alembic_upgrade(conn: Connection, url: str) -> None:
    """Upgrade to head on conn, inside its open transaction (Alembic is imported only here)."""
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    try:
        command.upgrade(config, "head")
    except CommandError as exc:
        raise ConfigError(
            f"database {display_url(url)} cannot be migrated: {exc} "
            "(was it created by a newer slipstream?)"
        ) from None


def _after_fork_in_child() -> None:
    # A forked child must not share its parent's sockets or SQLite handles.
    global _lock
    _lock = threading.Lock()
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)

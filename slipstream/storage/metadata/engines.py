"""One SQLAlchemy Engine per database URL per process, tuned and migrated once; used by store.py.

A read-only open (the CLI's list/show commands) creates nothing: no folder, no file, no table;
it reads an SQLite file in a read-only folder too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from slipstream.config import database_url_problem
from slipstream.errors import ConfigError, MetadataStoreError, NoDatabaseError
from slipstream.storage.metadata import faults

# The newest revision in slipstream/storage/migrations/versions; checked against Alembic's
# own idea of head by a test, so opening an up-to-date database never loads Alembic.
HEAD_REVISION = "0004"
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004")
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Key of the PostgreSQL advisory lock that serialises concurrent migrations.
_PG_MIGRATION_LOCK = 7_155_170_001

WRITE_OPTION = "slipstream_write"
FIRST_OPEN_WAIT_SECONDS = 60.0  # for another process's first connection and migration

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_users: dict[str, int] = {}
_migrated: set[str] = set()


def normalize_url(url: str) -> str:
    """Check a database URL and pick the driver: psycopg 3 for PostgreSQL."""
    problem = database_url_problem(url) if isinstance(url, str) else "a URL"
    if problem:
        raise ConfigError(f"database URL {url!r} is not valid: expected {problem}")
    scheme, rest = url.split("://", 1)
    if scheme.lower().startswith("postgres"):
        return "postgresql+psycopg://" + rest
    return "sqlite:///" + (make_url(url).database or "")


display_url = faults.display_url


def engine_key(url: str, read_only: bool) -> str:
    """The key of url's Engine in this process (a read-only open has an Engine of its own)."""
    return f"ro:{url}" if read_only else url


def acquire_engine(url: str, read_only: bool = False) -> Engine:
    """The process's Engine for a normalized URL, migrated to head; pair with release_engine.

    read_only: never create or migrate anything; NoDatabaseError when there is no database.
    """
    key = engine_key(url, read_only)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create_engine(url, read_only)
            _engines[key] = engine
            _users[key] = 0
        _users[key] += 1
    try:
        if key not in _migrated:
            with _first_open(url, read_only):
                _check_or_migrate(engine, url, read_only)
            _migrated.add(key)
    except BaseException:
        release_engine(key)
        raise
    return engine


def release_engine(url: str) -> None:
    """Drop one user of the Engine at key `url` (engine_key); the last one closes it."""
    with _lock:
        left = _users.get(url, 0) - 1
        if left > 0:
            _users[url] = left
            return
        _users.pop(url, None)
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def _create_engine(url: str, read_only: bool) -> Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=False)
    database = os.path.abspath(make_url(url).database or "")
    folder = os.path.dirname(database)
    connect_args: dict[str, Any] = {"timeout": 30.0, "check_same_thread": False}
    if read_only:
        if not os.path.isfile(database):
            raise NoDatabaseError(f"there is no metadata database at {database} (yet)")
        # mode=ro creates nothing; in a folder we cannot write, SQLite cannot make the WAL's
        # shared-memory file either, so the file is read as immutable (no one can change it).
        writable = os.access(folder, os.W_OK) and os.access(database, os.W_OK)
        query = "mode=ro" if writable else "mode=ro&immutable=1"
        url = f"sqlite:///file:{quote(database)}?{query}&uri=true"
    else:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise MetadataStoreError(
                f"the metadata database {database} cannot be created: its folder {folder} "
                f"cannot be made ({exc.strerror or exc}); make it writable, or point "
                f"{faults.SETTING} elsewhere"
            ) from None
    engine = sa.create_engine(url, connect_args=connect_args)
    event.listen(engine, "connect", _sqlite_on_connect_read if read_only else _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin event emit BEGIN itself (pysqlite's own would be DEFERRED).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _sqlite_on_connect_read(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
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


@contextlib.contextmanager
def _first_open(url: str, read_only: bool) -> Iterator[None]:
    """Processes opening one SQLite file for writing take turns at its first connection and
    migration: two at once on a new file can both try to switch it to WAL, and one then fails
    at once with "database is locked". (flock on the file's folder: nothing is created.)"""
    if read_only or not url.startswith("sqlite"):
        yield
        return
    folder = os.open(os.path.dirname(os.path.abspath(make_url(url).database or "")), os.O_RDONLY)
    try:
        deadline = time.monotonic() + FIRST_OPEN_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MetadataStoreError(
                        f"the metadata database {faults.sqlite_path(url)} is being opened by "
                        f"another process, which has not finished in "
                        f"{FIRST_OPEN_WAIT_SECONDS:.0f} s; retry when it finishes"
                    ) from None
                time.sleep(0.01)
            except OSError:  # a file system without flock: open as before, without turns
                break
        yield
    finally:
        os.close(folder)  # and with it the lock


def _check_or_migrate(engine: Engine, url: str, read_only: bool) -> None:
    try:
        with engine.connect() as conn:
            current = _current_revision(conn)
            tables = [] if current is not None else sa.inspect(conn).get_table_names()
    except sa.exc.DBAPIError as exc:
        raise faults.fail(url, exc) from exc
    where = faults.sqlite_path(url) if url.startswith("sqlite") else display_url(url)
    if current is not None and current not in KNOWN_REVISIONS:
        raise MetadataStoreError(
            f"the metadata database {where} was written by a newer slipstream (schema revision "
            f"{current!r}; this one knows up to {HEAD_REVISION!r}): upgrade slipstream, or use "
            "a database of its own for this one"
        )
    if current is None and tables and url.startswith("sqlite"):
        raise MetadataStoreError(
            f"the metadata database {where} belongs to something else (it has the tables "
            f"{', '.join(sorted(tables)[:5])} and no slipstream schema): slipstream will not "
            f"write into it; point {faults.SETTING} at a new file or database"
        )
    if read_only:
        if current is None:
            raise NoDatabaseError(f"the metadata database {where} has no slipstream tables (yet)")
        return
    if current != HEAD_REVISION:
        try:
            _migrate(engine, url)
        except sa.exc.DBAPIError as exc:
            raise faults.fail(url, exc) from exc


def _migrate(engine: Engine, url: str) -> None:
    with write_engine(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        # Another process may have migrated while we waited for the lock.
        if _current_revision(conn) != HEAD_REVISION:
            run_alembic_upgrade(conn, url)


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

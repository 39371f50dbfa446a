"""Schema migrations: from an empty database, re-opening at head, and database URL checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from slipstream.errors import ConfigError
from slipstream.storage.metadata import HEAD_REVISION, MetadataStore
from slipstream.storage.metadata.engines import (
    KNOWN_REVISIONS,
    MIGRATIONS_DIR,
    normalize_url,
    run_alembic_upgrade,
)
from slipstream.storage.metadata.schema import metadata as schema_metadata

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "executions",
    "nodes",
    "attempts",
    "events",
    "cache_entries",
    "cache_reservations",
    "registered_entities",
}


def run_python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


OPEN_AND_REPORT = """
import sys
from slipstream.storage.metadata import MetadataStore
store = MetadataStore(sys.argv[1])
print("alembic.command" in sys.modules)
store.close()
"""


def test_migrates_an_empty_database_to_head(database_url: str) -> None:
    engine = sa.create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            assert not TABLES & set(sa.inspect(conn).get_table_names())
        MetadataStore(database_url).close()
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert set(inspector.get_table_names()) >= TABLES | {"alembic_version"}
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            assert version == HEAD_REVISION
            # The migrations and the Core tables the store queries describe the same columns.
            for table in schema_metadata.tables.values():
                migrated = {c["name"] for c in inspector.get_columns(table.name)}
                assert migrated == {c.name for c in table.columns}, table.name
            assert "ix_events_execution_id" in {i["name"] for i in inspector.get_indexes("events")}
    finally:
        engine.dispose()


def test_reopening_at_head_does_not_load_alembic(database_url: str) -> None:
    MetadataStore(database_url).close()  # migrates, importing Alembic here
    # A fresh process opening the database at head only reads the version table.
    assert run_python(OPEN_AND_REPORT, database_url) == "False"


def test_head_revision_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_current_head() == HEAD_REVISION
    assert {r.revision for r in scripts.walk_revisions()} == set(KNOWN_REVISIONS)


def test_a_database_from_a_newer_slipstream_is_refused(database_url: str) -> None:
    MetadataStore(database_url).close()
    engine = sa.create_engine(normalize_url(database_url))
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    engine.dispose()
    code = (
        "import sys\n"
        "from slipstream.errors import MetadataStoreError\n"
        "from slipstream.storage.metadata import MetadataStore\n"
        "try:\n    MetadataStore(sys.argv[1])\n"
        "except MetadataStoreError as exc:\n    print(exc)\n"
    )
    message = run_python(code, database_url)
    assert "ffff_from_the_future" in message
    assert "newer slipstream" in message


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    """The shipped downgrade works, so a bad release can be rolled back."""
    from alembic import command
    from alembic.config import Config

    MetadataStore(database_url).close()
    engine = sa.create_engine(normalize_url(database_url))
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with engine.connect() as conn:
            assert not TABLES & set(sa.inspect(conn).get_table_names())
        with engine.begin() as conn:
            run_alembic_upgrade(conn, normalize_url(database_url))
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_sqlite_folder_is_created_and_wal_is_on(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "slipstream.db"
    with MetadataStore(f"sqlite:///{path}") as store, store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert path.is_file()
    import sqlite3

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////abs/file.db", "sqlite:////abs/file.db"),
        ("sqlite:///rel.db", "sqlite:///rel.db"),
    ],
)
def test_urls_pick_the_driver(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["mysql://u@h/db", "sqlite://", "sqlite:///:memory:", "just-a-path.db", "", "oracle://x"],
)
def test_unsupported_urls_are_refused_by_name(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        MetadataStore(url)
    assert repr(url) in str(info.value)

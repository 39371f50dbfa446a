"""Fixtures shared by every test package, grouped by the part of slipstream that owns them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

# --------------------------------------------------------------------------------------------
# Storage: `database_url`, one metadata database per test, on SQLite and on PostgreSQL.
#
# PostgreSQL comes from SLIPSTREAM_TEST_POSTGRES_URL (start a server with
# `export SLIPSTREAM_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"`). Without it the postgresql
# cases are skipped locally, and fail under CI (CI must run both backends).
# --------------------------------------------------------------------------------------------

POSTGRES_URL_ENV = "SLIPSTREAM_TEST_POSTGRES_URL"


def _postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV, "")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(
            f"{POSTGRES_URL_ENV} is not set, but CI must run the PostgreSQL tests too "
            f'(start a server with: export {POSTGRES_URL_ENV}="$(bash .ci/postgres.sh)")'
        )
    pytest.skip(f"{POSTGRES_URL_ENV} is not set (start one with .ci/postgres.sh)")


def _with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    option = f"options=-csearch_path%3D{schema}"
    return urlunsplit(parts._replace(query=f"{parts.query}&{option}" if parts.query else option))


def _psycopg_conninfo(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """The test PostgreSQL server, seen through a new empty schema dropped afterwards.

    A schema (selected with search_path in the URL) costs milliseconds where a new
    database costs a third of a second, and isolates the test's rows just as well.
    """
    import psycopg

    base = _postgres_base_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_psycopg_conninfo(base), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_search_path(base, schema)
    finally:
        with psycopg.connect(_psycopg_conninfo(base), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata database of this test's own: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


# --------------------------------------------------------------------------------------------
# Engine, SDK and CLI: `home`, a fresh SLIPSTREAM_HOME per test (SQLite, local blobs), and
# `any_db_home`, the same on each metadata backend. Fresh type and plugin registries per test.
# --------------------------------------------------------------------------------------------

_SETTINGS_ENV = (
    "SLIPSTREAM_DATABASE_URL",
    "SLIPSTREAM_BLOB_URL",
    "SLIPSTREAM_RUNNER",
    "SLIPSTREAM_MAX_PARALLELISM",
    "SLIPSTREAM_SYSTEM_RETRIES",
    "SLIPSTREAM_WARM_PROCESSES",
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SLIPSTREAM_HOME; retries back off for milliseconds, not seconds."""
    from slipstream.engine.local import reset_engines

    folder = tmp_path / "home"
    monkeypatch.setenv("SLIPSTREAM_HOME", str(folder))
    monkeypatch.setenv("SLIPSTREAM_RETRY_BACKOFF", "0.01")
    for name in _SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_engines()
    yield folder
    reset_engines()


@pytest.fixture
def any_db_home(home: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`home`, with its metadata on SQLite and, in a second run, on PostgreSQL."""
    monkeypatch.setenv("SLIPSTREAM_DATABASE_URL", database_url)
    return home


@pytest.fixture(autouse=True)
def _fresh_registries() -> Iterator[None]:
    from slipstream.compiler.registry import set_default_registry

    yield
    set_default_registry(None)

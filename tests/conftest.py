"""Fixtures shared by every test package, grouped by the part of slipstream that owns them."""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

# --------------------------------------------------------------------------------------------
# Services: PostgreSQL and Chromium. `python3 dev.py test` starts a throwaway PostgreSQL and
# finds (or installs) Chromium, and passes them as SLIPSTREAM_TEST_POSTGRES_URL and
# SLIPSTREAM_TEST_CHROMIUM. A test that needs a missing service is skipped, and one line at the
# end says what was skipped, why and how to enable it; with --require-all (CI) it fails.
# --------------------------------------------------------------------------------------------

REQUIRE_ALL = "--require-all"


@dataclass(frozen=True)
class Service:
    name: str
    env: str  # its URL or path; f"{env}_MISSING" says why dev.py could not have it
    enable: str
    programs: tuple[str, ...] = ()  # else found on PATH under one of these names

    def find(self) -> str:
        found = (shutil.which(name) for name in self.programs)
        return os.environ.get(self.env, "") or next((f for f in found if f), "")


POSTGRES = Service(
    "PostgreSQL",
    "SLIPSTREAM_TEST_POSTGRES_URL",
    "run `python3 dev.py test` (it starts one), or "
    'export SLIPSTREAM_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"',
)
CHROMIUM = Service(
    "Chromium",
    "SLIPSTREAM_TEST_CHROMIUM",
    "apt-get install chromium (`python3 dev.py test` does, as root), "
    "or set SLIPSTREAM_TEST_CHROMIUM to its path",
    ("chromium", "chromium-browser"),
)
SERVICES = (POSTGRES, CHROMIUM)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        REQUIRE_ALL,
        action="store_true",
        help="fail, instead of skipping, the tests whose service (PostgreSQL, Chromium) is missing",
    )


def need(config: pytest.Config, service: Service) -> str:
    """The service's URL or path; else skip the test (fail it under --require-all)."""
    value = service.find()
    if value:
        return value
    why = os.environ.get(f"{service.env}_MISSING") or f"{service.env} is not set"
    if config.getoption(REQUIRE_ALL):
        pytest.fail(f"{service.name} is required ({REQUIRE_ALL}) but missing: {why}")
    pytest.skip(f"no {service.name}: {why}")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else ""


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """After pytest's own summary: one line per missing service, naming how to enable it, and
    one per other reason to skip (pyproject's `-rfExX` leaves skips to this hook)."""
    yield
    reasons = [_skip_reason(r) for r in terminalreporter.stats.get("skipped", [])]
    markers = tuple(f"no {service.name}: " for service in SERVICES)
    others = Counter(r for r in reasons if not any(m in r for m in markers))
    for reason, count in others.items():
        terminalreporter.write_line(f"SKIPPED {count}: {reason}", yellow=True)
    for service in SERVICES:
        marker = f"no {service.name}: "
        mine = [r.split(marker, 1)[1] for r in reasons if marker in r]
        if mine:
            terminalreporter.write_line(
                f"NOT THE WHOLE SUITE: {len(mine)} tests needing {service.name} were skipped "
                f"({mine[0]}); to run them: {service.enable}",
                yellow=True,
                bold=True,
            )


@pytest.fixture(scope="session")
def postgres_url(pytestconfig: pytest.Config) -> str:
    """The test PostgreSQL server's URL (shared by every test: prefer `fresh_postgres_url`)."""
    return need(pytestconfig, POSTGRES)


@pytest.fixture(scope="session")
def chromium_path(pytestconfig: pytest.Config) -> str:
    """Chromium's executable, for Playwright's `chromium.launch(executable_path=...)`."""
    return need(pytestconfig, CHROMIUM)


# --------------------------------------------------------------------------------------------
# Storage: `database_url`, one metadata database per test, on SQLite and on PostgreSQL.
# --------------------------------------------------------------------------------------------


def _with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    option = f"options=-csearch_path%3D{schema}"
    return urlunsplit(parts._replace(query=f"{parts.query}&{option}" if parts.query else option))


def _psycopg_conninfo(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """The test PostgreSQL server, seen through a new empty schema dropped afterwards.

    A schema (selected with search_path in the URL) costs milliseconds where a new
    database costs a third of a second, and isolates the test's rows just as well.
    """
    import psycopg

    base = postgres_url
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
def _no_user_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the user's own ~/.slipstream, even one that asks for no `home`."""
    monkeypatch.setenv("SLIPSTREAM_HOME", str(tmp_path_factory.mktemp("user-home")))


@pytest.fixture(autouse=True)
def _fresh_registries() -> Iterator[None]:
    from slipstream.compiler.types import set_default_registry

    yield
    set_default_registry(None)

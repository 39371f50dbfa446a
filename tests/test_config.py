"""Settings: defaults, [tool.slipstream] in pyproject.toml, environment overrides, bad values."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from slipstream.config import RULES, Settings, load_settings
from slipstream.errors import ConfigError


def test_defaults_work_locally(tmp_path: Path) -> None:
    settings = load_settings(cwd=str(tmp_path), environ={"SLIPSTREAM_HOME": str(tmp_path)})
    assert settings.runner == "inprocess"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path}/slipstream.db"
    assert settings.resolved_blob_url == f"file://{tmp_path}/blobs"


def test_pyproject_then_environment(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.slipstream]\nrunner = "process"\nmax-parallelism = 4\nnamespace = "team"\n'
    )
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    settings = load_settings(cwd=str(nested), environ={"SLIPSTREAM_MAX_PARALLELISM": "8"})
    assert (settings.runner, settings.max_parallelism, settings.namespace) == ("process", 8, "team")


ENV = "the environment variable"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"SLIPSTREAM_RUNNER": "cloud"},
            rf"runner='cloud' \(from {ENV} SLIPSTREAM_RUNNER\) is not valid: expected one of "
            "inprocess, process, kubernetes",
        ),
        ({"SLIPSTREAM_MAX_PARALLELISM": "many"}, r"max_parallelism='many' .* an integer"),
        (
            {"SLIPSTREAM_MAX_PARALLELISM": "0"},
            r"max_parallelism='0' .*SLIPSTREAM_MAX_PARALLELISM.* >= 1",
        ),
        ({"SLIPSTREAM_MAX_PARALLELISM": "2.5"}, r"max_parallelism='2.5' .* an integer"),
        ({"SLIPSTREAM_SYSTEM_RETRIES": "-1"}, r"system_retries='-1' .* >= 0"),
        ({"SLIPSTREAM_RETRY_BACKOFF": "-0.5"}, r"retry_backoff='-0.5' .* >= 0"),
        ({"SLIPSTREAM_RETRY_BACKOFF": "nan"}, r"retry_backoff='nan' .* a finite number"),
        ({"SLIPSTREAM_RETRY_BACKOFF": "soon"}, r"retry_backoff='soon' .* a number"),
        ({"SLIPSTREAM_OFFLOAD_THRESHOLD": "-1"}, r"offload_threshold='-1' .* >= 0"),
        ({"SLIPSTREAM_WARM_PROCESSES": "maybe"}, r"warm_processes='maybe' .* a boolean"),
        ({"SLIPSTREAM_SPOT_NODE_SELECTOR": "{"}, r"spot_node_selector='\{' .* valid JSON"),
        ({"SLIPSTREAM_SPOT_NODE_SELECTOR": '{"a": 1}'}, r"spot_node_selector=.* of strings"),
        ({"SLIPSTREAM_SPOT_TOLERATIONS": '{"a": 1}'}, r"spot_tolerations=.* list of toleration"),
        ({"SLIPSTREAM_NAMESPACE": "Team_A"}, r"namespace='Team_A' .* a Kubernetes namespace"),
        ({"SLIPSTREAM_DATABASE_URL": "mysql://h/db"}, r"database_url='mysql://h/db' .* scheme"),
        ({"SLIPSTREAM_DATABASE_URL": "slipstream.db"}, r"database_url='slipstream.db' .* a URL"),
        ({"SLIPSTREAM_DATABASE_URL": "sqlite://"}, r"database_url='sqlite://' .* an SQLite file"),
        ({"SLIPSTREAM_DATABASE_URL": "sqlite:///:memory:"}, r"an SQLite file, not in memory"),
        ({"SLIPSTREAM_DATABASE_URL": "postgresql:///db"}, r"a PostgreSQL URL with a host"),
        ({"SLIPSTREAM_BLOB_URL": "file://rel/path"}, r"blob_url=.* an absolute file URL"),
        ({"SLIPSTREAM_BLOB_URL": "relative/blobs"}, r"blob_url='relative/blobs' .* a URL"),
        ({"SLIPSTREAM_SERVER_URL": "localhost:8765"}, r"server_url='localhost:8765' .* http://"),
        ({"SLIPSTREAM_LEASE_SECONDS": "0.5"}, r"lease_seconds='0.5' .* seconds from 1 to 3600"),
        ({"SLIPSTREAM_LEASE_SECONDS": "soon"}, r"lease_seconds='soon' .* a number"),
        ({"SLIPSTREAM_SERVER_MAX_EXECUTIONS": "0"}, r"server_max_executions='0' .* >= 1"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(cwd=str(tmp_path), environ=environ)


def test_a_bad_pyproject_value_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.slipstream]\nmax-parallelism = true\n")
    where = re.escape(f"[tool.slipstream] in {tmp_path / 'pyproject.toml'}")
    with pytest.raises(ConfigError, match=rf"max_parallelism=True \(from {where}\) .* integer"):
        load_settings(cwd=str(tmp_path), environ={})


def test_a_broken_pyproject_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.slipstream\nrunner = 'process'\n")
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "pyproject.toml"))):
        load_settings(cwd=str(tmp_path), environ={})


def test_a_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"home=.* expected a folder .* is not a folder"):
        load_settings(cwd=str(tmp_path), environ={"SLIPSTREAM_HOME": str(tmp_path / "home")})


def test_every_setting_has_a_rule() -> None:
    assert {f.name for f in fields(Settings)} == set(RULES)


def test_good_values_are_typed(tmp_path: Path) -> None:
    settings = load_settings(
        cwd=str(tmp_path),
        environ={
            "SLIPSTREAM_MAX_PARALLELISM": " 3 ",
            "SLIPSTREAM_RETRY_BACKOFF": "0",
            "SLIPSTREAM_WARM_PROCESSES": "off",
            "SLIPSTREAM_BLOB_URL": "/abs/blobs",
            "SLIPSTREAM_DATABASE_URL": "postgresql://me@db:5432/x",
        },
    )
    assert (settings.max_parallelism, settings.retry_backoff, settings.warm_processes) == (
        3,
        0.0,
        False,
    )


def test_unknown_pyproject_setting(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.slipstream]\nrunnr = 'process'\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'runnr'"):
        load_settings(cwd=str(tmp_path), environ={})

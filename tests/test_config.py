"""Settings: defaults, [tool.slipstream] in pyproject.toml, environment overrides, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipstream.config import load_settings
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


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SLIPSTREAM_RUNNER": "cloud"}, r"runner='cloud' is not one of inprocess, process"),
        ({"SLIPSTREAM_MAX_PARALLELISM": "many"}, r"max_parallelism='many' is not an integer"),
        ({"SLIPSTREAM_WARM_PROCESSES": "maybe"}, r"warm_processes='maybe' is not a boolean"),
        ({"SLIPSTREAM_SPOT_NODE_SELECTOR": "{"}, r"spot_node_selector='\{' is not valid JSON"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(cwd=str(tmp_path), environ=environ)


def test_unknown_pyproject_setting(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.slipstream]\nrunnr = 'process'\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'runnr'"):
        load_settings(cwd=str(tmp_path), environ={})

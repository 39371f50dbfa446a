"""Fixtures for the Dask plugin's tests: a subprocess environment that imports this checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_env() -> dict[str, str]:
    """os.environ with this checkout first on PYTHONPATH, for `python ...` subprocesses."""
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}

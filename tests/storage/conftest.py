"""Fixtures for the storage tests: an open MetadataStore and a local BlobStore."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slipstream.storage.blobs import BlobStore
from slipstream.storage.metadata import MetadataStore


@pytest.fixture
def store(database_url: str) -> Iterator[MetadataStore]:
    opened = MetadataStore(database_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(f"file://{tmp_path / 'blobs'}")

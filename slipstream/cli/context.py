"""The CLI's shared objects: settings, the engine and a read-only store; one per invocation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from slipstream.config import Settings, load_settings
from slipstream.engine.local import engine_for
from slipstream.errors import NoDatabaseError
from slipstream.storage.blobs import BlobStore
from slipstream.storage.metadata import MetadataStore


def settings_for(runner: str | None = None) -> Settings:
    settings = load_settings()
    if runner:
        settings = settings.with_values(runner=runner)
    return settings


def engine(runner: str | None = None) -> Any:
    return engine_for(settings_for(runner))


@contextlib.contextmanager
def read_store() -> Iterator[MetadataStore | None]:
    """The metadata store opened read-only (creates nothing); None when there is none yet."""
    try:
        store = MetadataStore(settings_for().resolved_database_url, read_only=True)
    except NoDatabaseError:
        yield None
        return
    with store:
        yield store


@contextlib.contextmanager
def read_engine() -> Iterator[Any]:
    """An engine over the read-only store, for reading logs (None when there is no store)."""
    from slipstream.engine.engine import Engine

    with read_store() as store:
        if store is None:
            yield None
            return
        settings = settings_for()
        yield Engine(settings, store, BlobStore(settings.resolved_blob_url))

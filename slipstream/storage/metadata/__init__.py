"""The SQL metadata store (SQLAlchemy Core + Alembic); imported only by code that opens one."""

from slipstream.storage.metadata.engines import HEAD_REVISION
from slipstream.storage.metadata.store import (
    EntityConflictError,
    MetadataStore,
    MetadataStoreClosedError,
    metadata_store_from_settings,
)

__all__ = [
    "HEAD_REVISION",
    "EntityConflictError",
    "MetadataStore",
    "MetadataStoreClosedError",
    "metadata_store_from_settings",
]

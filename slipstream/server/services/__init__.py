"""The server's service objects (catalog, executions, schedules, runtime); used by API and UI.

`open_services(settings)` builds them on the configured stores and runner; `Services.close()`
releases them. The web UI is given the same `Services` object.
"""

from __future__ import annotations

from dataclasses import dataclass

from slipstream.config import Settings
from slipstream.engine.engine import Engine
from slipstream.server.services.catalog import CatalogService
from slipstream.server.services.executions import ExecutionService
from slipstream.server.services.runtime import Runtime
from slipstream.server.services.schedules import ScheduleService
from slipstream.storage.blobs import BlobStore
from slipstream.storage.metadata import MetadataStore
from slipstream.storage.metadata.leases import LeaseStore
from slipstream.storage.metadata.server_store import ServerStore


@dataclass
class Services:
    settings: Settings
    runtime: Runtime
    store: ServerStore
    catalog: CatalogService
    executions: ExecutionService
    schedules: ScheduleService

    def start(self, schedules: bool = True) -> int:
        """Take up the executions a previous server left running (return how many), keep
        leases, and start firing schedules."""
        resumed = self.runtime.begin()
        if schedules:
            self.schedules.start()
        return resumed

    def stop(self) -> int:
        """Stop taking work; return how many executions are left running (resumable)."""
        self.schedules.stop()
        return self.runtime.stop()

    def close(self) -> None:
        self.runtime.close()
        self.store.close()


def open_services(settings: Settings, *, sole: bool = False) -> Services:
    """sole: this is the only server of its database (serve holds the SQLite lock)."""
    metadata = MetadataStore(settings.resolved_database_url)
    blobs = BlobStore(settings.resolved_blob_url)
    store = ServerStore(settings.resolved_database_url)
    catalog = CatalogService(store, blobs, settings.home_path / "server" / "bundles")
    runtime = Runtime(
        Engine(settings, metadata, blobs),
        LeaseStore(settings.resolved_database_url),
        max_executions=settings.server_max_executions,
        sole=sole,
        unpack=catalog.source_root,
    )
    executions = ExecutionService(runtime, store, catalog)
    return Services(
        settings=settings,
        runtime=runtime,
        store=store,
        catalog=catalog,
        executions=executions,
        schedules=ScheduleService(store, catalog, executions),
    )

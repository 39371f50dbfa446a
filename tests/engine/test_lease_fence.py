"""An engine driving under a lease: once another server holds the lease, or its own deadline
passed without a renewal, it writes nothing more and stops; the new owner finishes the run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from slipstream import task, workflow
from slipstream.config import load_settings
from slipstream.engine.engine import Engine
from slipstream.errors import LeaseLostError
from slipstream.ir import Literal
from slipstream.storage.blobs import BlobStore
from slipstream.storage.metadata import MetadataStore
from slipstream.storage.metadata.leases import LeaseStore
from slipstream.storage.records import Lease
from slipstream.types import ExecutionPhase

gate = threading.Event()
entered = threading.Event()


@task
def held(x: int) -> int:
    entered.set()
    gate.wait(30)
    return x + 1


@task
def after(x: int) -> int:
    return x * 10


@workflow
def two_steps(x: int) -> int:
    return after(x=held(x=x))


def _engine() -> Engine:
    settings = load_settings()
    store = MetadataStore(settings.resolved_database_url)
    return Engine(settings, store, BlobStore(settings.resolved_blob_url))


def test_a_lease_taken_over_mid_run_fences_the_old_engine_out(home: Path) -> None:
    engine = _engine()
    leases = LeaseStore(engine.settings.resolved_database_url)
    gate.clear()
    entered.clear()
    lease = Lease(execution_id="ex-fenced", owner="old", token=1, expires_at=time.time() - 1)
    raised: list[BaseException] = []

    def drive() -> None:
        try:
            engine.execute(
                two_steps.template,
                {"x": Literal(value=1)},
                entities={held.name: held, after.name: after},
                source_root=two_steps.source_root,
                execution_id="ex-fenced",
                lease=lease,
            )
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=drive)
    try:
        thread.start()
        assert entered.wait(30)
        (taken,) = leases.claim("new", 15.0, time.time(), 10)  # expired: taken over
        gate.set()
        thread.join(30)
        assert raised and isinstance(raised[0], LeaseLostError), raised
        nodes = {n.node_id: n.phase for n in engine.store.get_nodes("ex-fenced")}
        assert nodes["held"] == "RUNNING"  # its success was not written by the old owner
        record = engine.store.get_execution("ex-fenced")
        assert record is not None and record.phase == "RUNNING"
        outcome = engine.resume("ex-fenced", lease=taken)  # the new owner finishes it
        assert outcome.phase == ExecutionPhase.SUCCEEDED, outcome.error
        assert outcome.outputs["o0"] == Literal(value=20)
    finally:
        gate.set()
        thread.join(30)
        leases.close()
        engine.close()
        engine.store.close()


def test_an_engine_whose_lease_was_not_renewed_in_time_writes_nothing(home: Path) -> None:
    engine = _engine()
    gate.set()
    lease = Lease(
        execution_id="ex-late", owner="me", token=1, expires_at=time.time() + 60, held_until=0.0
    )
    try:
        with pytest.raises(LeaseLostError, match="could not be renewed in time"):
            engine.execute(
                two_steps.template,
                {"x": Literal(value=1)},
                entities={held.name: held, after.name: after},
                execution_id="ex-late",
                lease=lease,
            )
        assert engine.store.get_execution("ex-late") is None
        assert engine.store.get_events("ex-late") == []
    finally:
        engine.close()
        engine.store.close()

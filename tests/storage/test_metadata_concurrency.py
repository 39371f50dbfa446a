"""Two processes writing to one metadata database at once both finish, and lose nothing."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from slipstream.errors import MetadataStoreError
from slipstream.storage.metadata import MetadataStore, engines

REPO = Path(__file__).resolve().parents[2]
STEPS = 250

# Opens the store only after the go-file appears, so both processes also race to migrate a
# brand-new database; then each hammers write() and the cache lease with small transactions.
WORKER = """
import os, sys, time
from slipstream.storage.metadata import MetadataStore
from slipstream.storage.records import (
    AttemptRecord, CacheEntry, EventRecord, ExecutionRecord, NodeRecord, WriteBatch,
)
url, me, other, go, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.005)
store = MetadataStore(url)
execution = ExecutionRecord(
    id=me, name="wf", kind="workflow", phase="RUNNING", template="{}", inputs="{}"
)
store.create_execution(execution, [])
held = 0
began = time.time()
for i in range(steps):
    node = f"n{i % 20}"
    store.write(WriteBatch(
        execution=execution,
        events=[EventRecord(execution_id=me, node_id=node, phase="RUNNING", at=float(i))],
        nodes=[NodeRecord(execution_id=me, node_id=node, phase="RUNNING", attempts=i)],
        attempts=[AttemptRecord(
            execution_id=me, node_id=node, attempt=1, phase="RUNNING", runner="process"
        )],
        cache_entries=[CacheEntry(
            key=f"shared-{i % 7}", task_name="t", cache_version="1", outputs="{}",
            created_at=float(i),
        )],
    ))
    if i == 0:
        open(f"{go}.{me}", "w").close()  # this writer has begun
    if i == steps // 2:  # on a loaded machine, make sure the two really overlap
        deadline = time.time() + 60
        while not os.path.exists(f"{go}.{other}") and time.time() < deadline:
            time.sleep(0.005)
    if store.cache_reserve("shared-lease", me, lease_seconds=0.001, now=time.time()):
        held += 1
    store.heartbeat(me, os.getpid(), time.time())
print(held, began, time.time(), flush=True)
store.close()
"""


def test_two_processes_write_at_once_and_both_finish(database_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, database_url, name, other, str(go), str(STEPS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, other in (("proc-a", "proc-b"), ("proc-b", "proc-a"))
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        go.touch()
        started = time.monotonic()
        outcomes = [worker.communicate(timeout=240) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    elapsed = time.monotonic() - started
    windows = []
    for worker, (out, err) in zip(workers, outcomes, strict=True):
        assert worker.returncode == 0, f"worker failed after {elapsed:.1f}s:\n{err}"
        held, began, ended = out.split()
        assert int(held) >= 1  # each got the shared lease at least once
        windows.append((float(began), float(ended)))
    (a_start, a_end), (b_start, b_end) = windows
    assert a_start < b_end and b_start < a_end, f"the writers did not overlap: {windows}"
    with MetadataStore(database_url) as store:
        for name in ("proc-a", "proc-b"):
            events = store.get_events(name)
            assert [e.at for e in events] == [float(i) for i in range(STEPS)]
            assert len(store.get_nodes(name)) == 20
            record = store.get_execution(name)
            assert record is not None and record.engine_heartbeat is not None
        assert {e.key for e in store.cache_list("t")} == {f"shared-{i}" for i in range(7)}


def _child_writes(store: MetadataStore) -> None:
    from slipstream.storage.records import EventRecord, WriteBatch

    store.write(WriteBatch(events=[EventRecord(execution_id="forked", message="child")]))
    store.close()


def test_a_forked_child_writes_through_its_own_connections(tmp_path: Path) -> None:
    """The process runner forks warm interpreters: they must not share SQLite handles."""
    import multiprocessing

    from slipstream.storage.records import EventRecord, WriteBatch

    store = MetadataStore(f"sqlite:///{tmp_path / 'fork.db'}")
    try:
        store.write(WriteBatch(events=[EventRecord(execution_id="forked", message="before")]))
        child = multiprocessing.get_context("fork").Process(target=_child_writes, args=(store,))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        store.write(WriteBatch(events=[EventRecord(execution_id="forked", message="after")]))
        messages = [e.message for e in store.get_events("forked")]
        assert messages == ["before", "child", "after"]
    finally:
        store.close()


def _hold_first_open(folder: Path) -> int:
    """Take the lock a process holds while it first opens (and migrates) a database there."""
    held = os.open(folder, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    return held


def test_a_first_open_waits_for_another_process_opening_the_same_file(tmp_path: Path) -> None:
    # Two processes switching one new file to WAL at once: one failed with "database is locked".
    held = _hold_first_open(tmp_path)
    released: list[float] = []

    def release() -> None:
        time.sleep(0.5)
        released.append(time.monotonic())
        os.close(held)

    releaser = threading.Thread(target=release)
    releaser.start()
    store = MetadataStore(f"sqlite:///{tmp_path / 'turns.db'}")
    opened = time.monotonic()
    releaser.join()
    try:
        assert released and opened >= released[0]  # it waited its turn
        assert store.list_executions() == []  # and then made and migrated the database
    finally:
        store.close()


def test_a_first_open_held_up_too_long_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "FIRST_OPEN_WAIT_SECONDS", 0.2)
    held = _hold_first_open(tmp_path)
    try:
        with pytest.raises(MetadataStoreError, match="being opened by another process"):
            MetadataStore(f"sqlite:///{tmp_path / 'stuck.db'}")
    finally:
        os.close(held)
    store = MetadataStore(f"sqlite:///{tmp_path / 'stuck.db'}")  # its turn now
    store.close()

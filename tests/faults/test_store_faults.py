"""Drills: a read-only or full blob store, a read-only home, deleted and corrupted cache blobs.

Storage faults are system failures naming the store and the OS error, retried from the
system budget, the same in-process and isolated; a broken cache entry is a miss.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from drills import FLOWS, full, run_cli


def _last_json(stdout: str) -> dict:  # type: ignore[type-arg]
    return json.loads(stdout.strip().splitlines()[-1])


def _leftovers(folder: Path) -> list[str]:
    """Files a failed write left behind: temporary names or anything under data/."""
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("isolate", [False, True], ids=["inprocess", "process"])
def test_a_read_only_blob_store_is_a_system_failure_naming_it(
    cli_env: dict[str, str],
    tmp_path: Path,
    read_only: Callable[[Path], list[str]],
    isolate: bool,
) -> None:
    store = tmp_path / "blobs"
    store.mkdir()
    env = {
        **cli_env,
        "SLIPSTREAM_BLOB_URL": f"file://{store}",
        "SLIPSTREAM_OFFLOAD_THRESHOLD": "100",
    }
    args = [
        "run",
        str(FLOWS),
        "blob",
        "--size",
        "5000",
        "--json",
        *(["--isolate"] if isolate else []),
    ]
    done = run_cli(*args, env=env, prefix=read_only(store))
    assert done.returncode == 1, done.stderr
    error = _last_json(done.stdout)["error"]
    assert error["kind"] == "system"
    assert error["type"] == "slipstream.errors.BlobStoreError"
    assert f"the blob store {store} could not write" in error["message"]
    assert "Errno" in error["message"]
    assert "Traceback" not in done.stderr
    shown = run_cli("executions", "show", _last_json(done.stdout)["execution"], "--json", env=env)
    (node,) = json.loads(shown.stdout)["nodes"]
    assert node["attempts"] == 4  # 1 + the 3 system retries (the task's own retries are 0)
    assert _leftovers(store) == []


@pytest.mark.parametrize("isolate", [False, True], ids=["inprocess", "process"])
def test_a_full_blob_store_leaves_nothing_partly_written(
    cli_env: dict[str, str], tmp_path: Path, isolate: bool
) -> None:
    store = tmp_path / "blobs"
    env = {
        **cli_env,
        "SLIPSTREAM_BLOB_URL": f"file://{store}",
        "SLIPSTREAM_OFFLOAD_THRESHOLD": "100",
    }
    args = ["run", str(FLOWS), "blob", "--size", "2000000", "--json"]
    args += ["--isolate"] if isolate else []
    done = run_cli(*args, env=env, prefix=full(store, size_kib=512))
    assert done.returncode == 1, done.stderr
    error = _last_json(done.stdout)["error"]
    assert (error["kind"], error["type"]) == ("system", "slipstream.errors.BlobStoreError")
    assert f"the blob store {store} could not write" in error["message"]
    assert "No space left on device" in error["message"] or "too large" in error["message"]
    assert not [name for name in _leftovers(store) if len(name) == 64 or ".tmp-" in name]


def test_a_read_only_home_can_be_read_but_not_run_in(
    home: Path, cli_env: dict[str, str], read_only: Callable[[Path], list[str]]
) -> None:
    first = run_cli("run", str(FLOWS), "blob", "--size", "10", "--json", env=cli_env)
    assert first.returncode == 0, first.stderr
    execution = _last_json(first.stdout)["execution"]
    before = sorted(p.name for p in home.rglob("*"))
    prefix = read_only(home)
    listed = run_cli("executions", "list", env=cli_env, prefix=prefix)
    assert listed.returncode == 0, listed.stderr
    assert execution in listed.stdout
    shown = run_cli("executions", "show", execution, env=cli_env, prefix=prefix)
    assert shown.returncode == 0 and "SUCCEEDED" in shown.stdout, shown.stderr
    cached = run_cli("cache", "list", env=cli_env, prefix=prefix)
    assert cached.returncode == 0, cached.stderr
    refused = run_cli("run", str(FLOWS), "blob", "--size", "10", env=cli_env, prefix=prefix)
    assert refused.returncode == 1
    assert str(home / "slipstream.db") in refused.stderr and "read-only" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert sorted(p.name for p in home.rglob("*")) == before


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
@pytest.mark.parametrize("isolate", [False, True], ids=["inprocess", "process"])
def test_a_broken_cache_entry_is_a_miss(
    home: Path, cli_env: dict[str, str], tmp_path: Path, damage: str, isolate: bool
) -> None:
    log = tmp_path / "bodies.log"
    env = {**cli_env, "SLIPSTREAM_OFFLOAD_THRESHOLD": "100", "FAULTS_LOG": str(log)}
    args = ["run", str(FLOWS), "cached_then_length", "--size", "4000", "--json"]
    args += ["--isolate"] if isolate else []
    assert run_cli(*args, env=env).returncode == 0
    for blob in (home / "blobs" / "data").iterdir():
        if damage == "delete":
            blob.unlink()
        else:
            blob.write_text("damaged")
    again = run_cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert _last_json(again.stdout)["outputs"] == {"o0": 4000}
    assert (
        "cache entry" in again.stderr
        and "of task flows_faults.cached_blob is broken" in again.stderr
    )
    assert ("is missing" if damage == "delete" else "is corrupt") in again.stderr
    assert log.read_text().count("start cached-blob") == 2  # ran again, once
    third = run_cli(*args, env=env)  # the fresh entry is sound: a plain hit
    assert third.returncode == 0 and "broken" not in third.stderr
    assert log.read_text().count("start cached-blob") == 2


def test_show_reports_a_missing_output_blob(home: Path, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "SLIPSTREAM_OFFLOAD_THRESHOLD": "100"}
    done = run_cli("run", str(FLOWS), "blob", "--size", "5000", "--json", env=env)
    execution = _last_json(done.stdout)["execution"]
    for blob in (home / "blobs" / "data").iterdir():
        blob.unlink()
    shown = run_cli("executions", "show", execution, env=env)
    assert shown.returncode == 0
    assert "missing from the blob store: file://" in shown.stdout
    as_json = run_cli("executions", "show", execution, "--json", env=env)
    assert len(json.loads(as_json.stdout)["missing_blobs"]) == 1

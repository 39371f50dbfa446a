"""`python -m slipstream.execute`: inputs.json in; outputs.json, or error.json, out (DESIGN §4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import flows_runners
import pandas as pd
import pytest

from slipstream.compiler.registry import TransformContext
from slipstream.compiler.types import default_registry
from slipstream.ir import ErrorDocument, LiteralMapDocument
from slipstream.runners.bundle import bundle_bytes, upload_bundle
from slipstream.storage.blobs import BlobStore

ROOT = str(Path(flows_runners.__file__).parent)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(f"file://{tmp_path / 'blobs'}")


def _prepare(blobs: BlobStore, inputs: dict, types: dict) -> tuple[str, str]:  # type: ignore[type-arg]
    ctx = TransformContext(blobs=blobs)
    registry = default_registry()
    literals = {k: registry.to_literal(v, types[k], ctx) for k, v in inputs.items()}
    prefix = blobs.attempt_prefix("e1", "node", 1)
    blobs.write_document(f"{prefix}/inputs.json", LiteralMapDocument(literals=literals))
    return f"{prefix}/inputs.json", prefix


def _execute(
    blobs: BlobStore, task: str, inputs_uri: str, prefix: str, *extra: str, root: str = ROOT
) -> subprocess.Popen[str]:
    env = {**os.environ, "SLIPSTREAM_BLOB_URL": blobs.root, "SLIPSTREAM_SOURCE_ROOT": root}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slipstream.execute",
            "--task",
            task,
            "--inputs",
            inputs_uri,
            "--output-prefix",
            prefix,
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_success_writes_outputs_and_exits_zero(blobs: BlobStore) -> None:
    inputs, prefix = _prepare(blobs, {"a": 2, "b": 3}, {"a": int, "b": int})
    process = _execute(blobs, "flows_runners:add", inputs, prefix)
    assert process.wait(60) == 0, process.stderr.read() if process.stderr else ""
    outputs = blobs.read_document(f"{prefix}/outputs.json", LiteralMapDocument)
    assert outputs.literals["o0"].value == 5
    assert not blobs.exists(f"{prefix}/error.json")
    raw = blobs.read_bytes(f"{prefix}/outputs.json")
    assert raw.startswith(b'{"apiVersion":"slipstream/v1"')


def test_dataframes_travel_through_the_blob_store(blobs: BlobStore) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [10, 20]})
    inputs, prefix = _prepare(blobs, {"frame": frame}, {"frame": pd.DataFrame})
    assert _execute(blobs, "flows_runners:frame_sum", inputs, prefix).wait(60) == 0
    literal = blobs.read_document(f"{prefix}/outputs.json", LiteralMapDocument).literals["o0"]
    assert literal.format == "parquet" and "/data/" in literal.uri
    result = default_registry().to_python(literal, pd.DataFrame, TransformContext(blobs=blobs))
    assert result["total"].tolist() == [11, 22]


@pytest.mark.parametrize(("kind", "recoverable"), [("plain", True), ("fatal", False)])
def test_user_exception_writes_error_json_and_exits_one(
    blobs: BlobStore, kind: str, recoverable: bool
) -> None:
    inputs, prefix = _prepare(blobs, {"kind": kind}, {"kind": str})
    assert _execute(blobs, "flows_runners:fails", inputs, prefix).wait(60) == 1
    error = blobs.read_document(f"{prefix}/error.json", ErrorDocument)
    assert error.kind == "user" and error.recoverable is recoverable
    expected = "RuntimeError" if kind == "plain" else "slipstream.errors.NonRecoverableError"
    assert error.type == expected
    assert "flows_runners.py" in error.traceback and "slipstream/runners" not in error.traceback


def test_killed_attempt_leaves_no_error_json(blobs: BlobStore, tmp_path: Path) -> None:
    started = tmp_path / "started"
    inputs, prefix = _prepare(
        blobs, {"seconds": 60.0, "started": str(started)}, {"seconds": float, "started": str}
    )
    process = _execute(blobs, "flows_runners:sleeps", inputs, prefix)
    _wait_for(started)
    process.send_signal(signal.SIGKILL)
    assert process.wait(30) == -signal.SIGKILL
    assert not blobs.exists(f"{prefix}/error.json")
    assert not blobs.exists(f"{prefix}/outputs.json")


def test_terminated_attempt_reports_a_system_error(blobs: BlobStore, tmp_path: Path) -> None:
    started = tmp_path / "started"
    inputs, prefix = _prepare(
        blobs, {"seconds": 60.0, "started": str(started)}, {"seconds": float, "started": str}
    )
    process = _execute(blobs, "flows_runners:sleeps", inputs, prefix)
    _wait_for(started)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 143
    error = blobs.read_document(f"{prefix}/error.json", ErrorDocument)
    assert error.kind == "system" and "terminated by signal 15" in error.message


def test_code_travels_in_a_bundle(blobs: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "shipped").mkdir(parents=True)
    (source / "shipped" / "__init__.py").write_text("")
    (source / "shipped" / "flow.py").write_text(
        textwrap.dedent("""
        from slipstream import task

        @task
        def greet(name: str) -> str:
            return f"hello {name}"
    """)
    )
    assert bundle_bytes(source) == bundle_bytes(source)  # deterministic: same tree, same bytes
    bundle = upload_bundle(blobs, source)
    assert "/bundles/" in bundle and bundle.endswith(".tar.gz")
    inputs, prefix = _prepare(blobs, {"name": "bundle"}, {"name": str})
    env_root = str(tmp_path / "elsewhere")
    process = _execute(
        blobs, "shipped.flow:greet", inputs, prefix, "--bundle", bundle, root=env_root
    )
    assert process.wait(60) == 0, process.stderr.read() if process.stderr else ""
    outputs = blobs.read_document(f"{prefix}/outputs.json", LiteralMapDocument)
    assert outputs.literals["o0"].value == "hello bundle"


def test_unknown_task_reference_is_a_user_error(blobs: BlobStore) -> None:
    inputs, prefix = _prepare(blobs, {"a": 1, "b": 1}, {"a": int, "b": int})
    assert _execute(blobs, "flows_runners:nope", inputs, prefix).wait(60) == 1
    error = blobs.read_document(f"{prefix}/error.json", ErrorDocument)
    assert error.type == "AttributeError" and "nope" in error.message

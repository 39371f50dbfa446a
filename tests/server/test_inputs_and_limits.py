"""Over the API, File, Directory and DataFrame inputs may point only into the server's blob store
or under allowed_input_prefixes (copied in at launch), pickled inputs are refused, and request
bodies and uploads have limits enforced while they stream (413)."""

from __future__ import annotations

import glob
import os
import socket
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from server_helpers import register

FLOWS = """
import pandas as pd

from slipstream import Directory, File, task, workflow


class Opaque:  # no transformer: a pickled (fallback) type
    pass


@task
def size(f: File) -> int:
    with open(f.path, "rb") as handle:
        return len(handle.read())


@task
def count(d: Directory) -> int:
    import os
    return sum(len(files) for _, _, files in os.walk(d.path))


@task
def rows(df: pd.DataFrame) -> int:
    return len(df)


@task
def poke(thing: Opaque) -> int:
    return 1


@workflow
def sized(f: File) -> int:
    return size(f=f)


@workflow
def counted(d: Directory) -> int:
    return count(d=d)


@workflow
def framed(df: pd.DataFrame) -> int:
    return rows(df=df)


@workflow
def opaque(thing: Opaque) -> int:
    return poke(thing=thing)
"""


@pytest.fixture
def refs_project(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    module = f"refs_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "refs"
    root.mkdir()
    (root / f"{module}.py").write_text(textwrap.dedent(FLOWS))
    yield root, module
    sys.modules.pop(module, None)


def launch(live: Any, workflow: str, inputs: dict[str, Any]) -> Any:
    return live.client.post("/api/v1/executions", json={"workflow": workflow, "inputs": inputs})


def test_inputs_cannot_name_the_servers_own_disk(
    server: Any, refs_project: tuple[Path, str], tmp_path: Path
) -> None:
    root, module = refs_project
    register(server, root)
    blobs = server.services.runtime.blobs
    secret = tmp_path / "server-only.txt"
    secret.write_text("the server's own file")
    store = blobs.root
    refused = {
        "sized": [
            ("f", {"uri": f"file://{secret}"}),
            ("f", str(secret)),  # a bare path
            ("f", {"uri": f"{store}/../../etc/passwd"}),
            ("f", {"uri": f"{store}/data/%2e%2e/%2e%2e/etc/passwd"}),
            ("f", {"uri": f"{store}/data\\..\\x"}),
            ("f", {"uri": "s3://elsewhere/key"}),  # no prefix is allowed by default
        ],
        "counted": [("d", {"uri": f"file://{tmp_path}"})],
        "framed": [("df", {"uri": "file:///etc/passwd"})],
        "opaque": [("thing", "gASVCAAAAAAAAAB9lC4=")],
    }
    for workflow, cases in refused.items():
        for name, value in cases:
            response = launch(server, f"{module}.{workflow}", {name: value})
            assert response.status_code == 422, (workflow, value, response.text)
            body = response.json()
            assert body["input"] == name, body
            if workflow == "opaque":
                assert "pickled" in body["detail"]
            elif isinstance(value, dict):
                assert "blob store" in body["detail"] or "'..'" in body["detail"], body
    assert server.client.get("/api/v1/executions").json()["executions"] == []

    # a URI inside the server's blob store is fine, and the task reads it
    uri, _ = blobs.put_bytes(b"twelve bytes")
    response = launch(server, f"{module}.sized", {"f": {"uri": uri}})
    assert response.status_code == 201, response.text
    doc = server.wait_phase(response.json()["execution"], "SUCCEEDED", "FAILED")
    assert doc["outputs"] == {"o0": 12}, doc.get("error")


def test_allowed_prefixes_are_copied_into_the_store_at_launch(
    start_server: Any, refs_project: tuple[Path, str]
) -> None:
    import fsspec
    import pandas as pd

    memory = fsspec.filesystem("memory")  # an object store the server (this process) reads
    base = f"datasets-{uuid.uuid4().hex[:6]}"
    memory.pipe(f"/{base}/shared/notes.txt", b"0123456789")
    memory.pipe(f"/{base}/shared/tree/a.txt", b"a")
    memory.pipe(f"/{base}/shared/tree/sub/b.txt", b"b")
    memory.pipe(f"/{base}/shared/big.txt", b"x" * 4096)
    memory.pipe(f"/{base}/shared/t.parquet", pd.DataFrame({"i": [1, 2, 3]}).to_parquet())
    memory.pipe(f"/{base}/other/x.txt", b"x")
    live = start_server(allowed_input_prefixes=[f"memory://{base}/shared/"], max_upload_bytes=2048)
    root, module = refs_project
    register(live, root)
    prefix = f"memory://{base}/shared"
    runs = {
        ("sized", "f", f"{prefix}/notes.txt"): 10,
        ("counted", "d", f"{prefix}/tree"): 2,
        ("framed", "df", f"{prefix}/t.parquet"): 3,
    }
    for (workflow, name, uri), expected in runs.items():
        response = launch(live, f"{module}.{workflow}", {name: {"uri": uri}})
        assert response.status_code == 201, response.text
        doc = live.wait_phase(response.json()["execution"], "SUCCEEDED", "FAILED")
        assert doc["outputs"] == {"o0": expected}, doc.get("error")
    refused = {
        f"memory://{base}/other/x.txt": "allowed prefix",
        f"memory://{base}/shared-not/x.txt": "allowed prefix",
        f"{prefix}/../other/x.txt": "'..'",
        f"{prefix}/missing.txt": "nothing can be read",
        f"{prefix}/big.txt": "max_upload_bytes",
    }
    for uri, words in refused.items():
        response = launch(live, f"{module}.sized", {"f": {"uri": uri}})
        assert response.status_code == 422 and response.json()["input"] == "f", uri
        assert words in response.json()["detail"], (uri, response.json())


def raw_request(url: str, head: str, chunks: list[bytes], chunked: bool) -> tuple[int, int]:
    """Send a request by hand and read the answer without finishing the body: (status, sent).
    A server that read the whole body first would never answer (the socket times out)."""
    where = urlsplit(url)
    sent = 0
    with socket.create_connection((where.hostname, where.port), timeout=20) as sock:
        sock.sendall(head.encode())
        for chunk in chunks:
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    return int(answer.split(b" ", 2)[1]), sent


def test_bodies_and_uploads_over_their_limits_are_refused_while_they_stream(
    start_server: Any, refs_project: tuple[Path, str]
) -> None:
    live = start_server(max_request_bytes=64 * 1024, max_upload_bytes=256 * 1024)
    blobs = live.services.runtime.blobs
    data_dir = urlsplit(blobs.root).path + "/data"
    before = set(os.listdir(data_dir)) if os.path.isdir(data_dir) else set()
    leftovers = set(glob.glob(os.path.join(tempfile.gettempdir(), "slipstream-upload-*")))

    # announced too big: refused before a byte of the body is read
    big = live.client.post(
        "/api/v1/executions",
        content=b"{" + b" " * 100_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413 and "max_request_bytes" in big.json()["detail"]
    status, _ = raw_request(
        live.url,
        "POST /ui/upload HTTP/1.1\r\nHost: x\r\ncontent-type: application/octet-stream\r\n"
        "content-length: 1000000000\r\n\r\n",
        [],
        chunked=False,
    )
    assert status == 413

    # streamed without a length: refused once it passes the limit, the rest never sent
    endless = [b"x" * 8192] * 200  # 1.6 MB offered, far past 256 KiB
    head = (
        "POST /ui/upload HTTP/1.1\r\nHost: x\r\ncontent-type: application/octet-stream\r\n"
        "transfer-encoding: chunked\r\n\r\n"
    )
    status, _ = raw_request(live.url, head, endless, chunked=True)  # never finished
    assert status == 413
    json_head = (
        "POST /api/v1/executions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        "transfer-encoding: chunked\r\n\r\n"
    )
    status, _ = raw_request(live.url, json_head, [b'{"inputs": "' + b"y" * 80_000], chunked=True)
    assert status == 413

    # nothing was stored, no temporary file left behind
    after = set(os.listdir(data_dir)) if os.path.isdir(data_dir) else set()
    assert after == before
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "slipstream-upload-*"))) == leftovers

    # within the limits all is as before
    small = live.client.post(
        "/ui/upload", content=b"a small file", headers={"content-type": "application/octet-stream"}
    )
    assert small.status_code == 201 and blobs.read_bytes(small.json()["uri"]) == b"a small file"
    root, module = refs_project
    register(live, root)  # a bundle is an upload: under max_upload_bytes
    response = launch(live, f"{module}.sized", {"f": small.json()})
    assert response.status_code == 201, response.text
    assert live.wait_phase(response.json()["execution"], "SUCCEEDED")["outputs"] == {"o0": 12}

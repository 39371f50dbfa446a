"""The blob store's DESIGN §5 layout and its refusal of paths that would leave the root."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from slipstream.compiler.registry import BlobIO
from slipstream.config import Settings
from slipstream.errors import ConfigError
from slipstream.ir import ErrorDocument, Literal, LiteralMapDocument
from slipstream.storage.blobs import BlobPathError, BlobStore, blob_store_from_settings


def test_store_implements_the_blobio_protocol(blobs: BlobStore) -> None:
    assert isinstance(blobs, BlobIO)


def test_root_is_a_file_url_of_the_absolute_path(tmp_path: Path) -> None:
    store = BlobStore(f"file://{tmp_path}/blobs/")
    assert store.root == f"file://{tmp_path}/blobs"
    assert BlobStore(str(tmp_path / "blobs")).root == store.root


@pytest.mark.parametrize("url", ["file://relative/path", "blobs", "", "file:/x"])
def test_bad_store_urls_are_refused_by_name(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        BlobStore(url)
    assert repr(url) in str(info.value)


def test_attempt_prefix_layout(blobs: BlobStore) -> None:
    prefix = blobs.attempt_prefix("exec-1", "n0", 1)
    assert prefix == f"{blobs.root}/runs/exec-1/n0/1"
    assert blobs.attempt_prefix("exec-1", "dyn-1/n0", 3) == f"{blobs.root}/runs/exec-1/dyn-1/n0/3"


def test_documents_land_under_the_attempt_prefix(blobs: BlobStore, tmp_path: Path) -> None:
    prefix = blobs.attempt_prefix("e1", "dyn-0/n2", 2)
    document = LiteralMapDocument(literals={"x": Literal(value=3), "s": Literal(value="é")})
    blobs.write_document(f"{prefix}/outputs.json", document)
    on_disk = tmp_path / "blobs" / "runs" / "e1" / "dyn-0" / "n2" / "2" / "outputs.json"
    assert on_disk.is_file()
    assert blobs.local_path(f"{prefix}/outputs.json") == str(on_disk)
    assert blobs.read_document(f"{prefix}/outputs.json", LiteralMapDocument) == document
    assert blobs.exists(f"{prefix}/outputs.json")
    assert not blobs.exists(f"{prefix}/error.json")


def test_reading_a_document_of_the_wrong_type_names_the_uri(blobs: BlobStore) -> None:
    uri = blobs.attempt_prefix("e1", "n0", 1) + "/outputs.json"
    blobs.write_bytes(uri, b'{"literals": 5}')
    with pytest.raises(Exception, match=r"outputs\.json"):
        blobs.read_document(uri, LiteralMapDocument)
    blobs.write_bytes(uri, b"not json")
    with pytest.raises(Exception, match=r"outputs\.json"):
        blobs.read_document(uri, ErrorDocument)


def test_missing_blob_is_a_file_not_found_naming_it(blobs: BlobStore) -> None:
    uri = blobs.attempt_prefix("e1", "n0", 1) + "/inputs.json"
    with pytest.raises(FileNotFoundError, match=r"inputs\.json"):
        blobs.read_bytes(uri)


def test_open_streams_logs_and_appends(blobs: BlobStore) -> None:
    uri = blobs.attempt_prefix("e1", "n0", 1) + "/logs/stderr.txt"
    with blobs.open(uri, "w") as log:
        log.write("one\n")
    with blobs.open(uri, "a") as log:
        log.write("two\n")
    with blobs.open(uri, "rb") as log:
        assert log.read() == b"one\ntwo\n"
    with pytest.raises(ValueError, match="'x'"):
        blobs.open(uri, "x")


def test_bundles_are_content_addressed_tarballs(blobs: BlobStore, tmp_path: Path) -> None:
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"print('hello')\n"
        member = tarfile.TarInfo("pkg/mod.py")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    uri, sha = blobs.put_bundle(str(archive))
    assert uri == blobs.bundle_uri(sha) == f"{blobs.root}/bundles/{sha}.tar.gz"
    assert blobs.read_bytes(uri) == archive.read_bytes()
    assert blobs.put_bundle(str(archive)) == (uri, sha)
    with pytest.raises(BlobPathError, match="not-a-hash"):
        blobs.bundle_uri("not-a-hash")
    with pytest.raises(BlobPathError):
        blobs.bundle_uri("../" + "a" * 61)


def test_store_from_settings_uses_home(tmp_path: Path) -> None:
    store = blob_store_from_settings(Settings(home=str(tmp_path)))
    assert store.root == f"file://{tmp_path}/blobs"
    explicit = blob_store_from_settings(Settings(blob_url=f"file://{tmp_path}/elsewhere"))
    assert explicit.root == f"file://{tmp_path}/elsewhere"


# -- nothing escapes the root -----------------------------------------------------------------


def escaping_uris(root: str, root_path: str) -> list[str]:
    return [
        f"{root}/../outside.json",
        f"{root}/runs/../../outside.json",
        f"{root}/runs/./x.json",
        f"{root}/runs//x.json",
        f"{root}/runs/a\\..\\..\\x.json",
        f"{root}/runs/a\x00b",
        f"{root}-sibling/data/x",  # shares the root's prefix but is not under it
        root,
        "/etc/passwd",
        f"{root_path}/../outside.json",
        "file:///etc/passwd",
        "s3://bucket/data/x",
        "data/relative",
        "../relative",
    ]


@pytest.mark.parametrize("index", range(14))
def test_uris_outside_the_root_are_refused_naming_the_uri(
    blobs: BlobStore, tmp_path: Path, index: int
) -> None:
    uri = escaping_uris(blobs.root, str(tmp_path / "blobs"))[index]
    for operation in (
        lambda: blobs.read_bytes(uri),
        lambda: blobs.write_bytes(uri, b"x"),
        lambda: blobs.exists(uri),
        lambda: blobs.local_path(uri),
        lambda: blobs.get_file(uri, str(tmp_path / "dest")),
        lambda: blobs.open(uri, "wb"),
    ):
        with pytest.raises(BlobPathError) as info:
            operation()
        assert repr(uri) in str(info.value)
    assert not (tmp_path / "outside.json").exists()


def test_absolute_paths_inside_the_root_are_accepted(blobs: BlobStore, tmp_path: Path) -> None:
    path = str(tmp_path / "blobs" / "runs" / "e" / "n" / "1" / "x.json")
    blobs.write_bytes(path, b"{}")
    assert blobs.read_bytes(blobs.attempt_prefix("e", "n", 1) + "/x.json") == b"{}"


@pytest.mark.parametrize(
    ("execution_id", "node_id", "attempt"),
    [
        ("..", "n0", 1),
        ("e/1", "n0", 1),
        ("", "n0", 1),
        ("e1", "../n0", 1),
        ("e1", "dyn/../../x", 1),
        ("e1", "dyn//n0", 1),
        ("e1", "/n0", 1),
        ("e1", "n0\n", 1),
        ("e1", "n0", 0),
        ("e1", "n0", -2),
        ("e1", "n0", True),
        ("e1", "n0", "1"),
    ],
)
def test_attempt_prefix_refuses_unsafe_ids(
    blobs: BlobStore, execution_id: str, node_id: str, attempt: int
) -> None:
    with pytest.raises(BlobPathError) as info:
        blobs.attempt_prefix(execution_id, node_id, attempt)
    message = str(info.value)
    assert any(repr(v) in message for v in (execution_id, node_id, attempt))


def test_manifest_paths_cannot_escape_the_destination(blobs: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    uri, _ = blobs.put_directory(str(src))
    manifest_path = Path(f"{blobs.local_path(uri)}.manifest.json")
    manifest_path.write_bytes(
        b'{"apiVersion":"slipstream/v1","files":[{"path":"../../evil.txt","sha256":"00"}]}'
    )
    dest = tmp_path / "dest"
    with pytest.raises(BlobPathError, match="evil"):
        blobs.get_directory(uri, str(dest))
    assert not any(p.name == "evil.txt" for p in tmp_path.rglob("*"))
    assert not os.path.exists(tmp_path / "evil.txt")

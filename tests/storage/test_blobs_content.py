"""Content addressing, atomic writes and directory trees in the blob store, local and fsspec."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from slipstream.errors import ConfigError
from slipstream.storage.blobs import BlobStore

REPO = Path(__file__).resolve().parents[2]


def test_same_bytes_are_stored_once(blobs: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    uri, sha = blobs.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert uri == f"{blobs.root}/data/{sha}"
    path = Path(blobs.local_path(uri) or "")
    before = path.stat()
    assert blobs.put_bytes(data) == (uri, sha)
    after = path.stat()
    # Not rewritten: same inode, same modification time.
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert blobs.get_bytes(uri) == data
    assert sorted(p.name for p in (tmp_path / "blobs" / "data").iterdir()) == [sha]


def test_different_bytes_get_different_addresses(blobs: BlobStore) -> None:
    first, _ = blobs.put_bytes(b"a")
    second, _ = blobs.put_bytes(b"b")
    assert first != second
    assert blobs.get_bytes(first) == b"a"
    assert blobs.get_bytes(second) == b"b"


def test_put_file_matches_put_bytes_and_get_file_copies(blobs: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * (8 << 20) + 17)  # several read chunks plus a ragged end
    src = tmp_path / "frame.parquet"
    src.write_bytes(data)
    uri, sha = blobs.put_file(str(src))
    assert (uri, sha) == blobs.put_bytes(data)
    dest = tmp_path / "out" / "copy.parquet"
    blobs.get_file(uri, str(dest))
    assert dest.read_bytes() == data
    leftovers = [p.name for p in (tmp_path / "blobs" / "data").iterdir()]
    assert leftovers == [sha]  # no temp files left beside the blob
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        blobs.put_file(str(tmp_path / "missing.bin"))


def test_put_file_of_known_content_keeps_the_stored_copy(blobs: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "x.bin"
    src.write_bytes(b"x" * 1000)
    uri, _ = blobs.put_file(str(src))
    stored = Path(blobs.local_path(uri) or "")
    inode = stored.stat().st_ino
    blobs.put_file(str(src))
    assert stored.stat().st_ino == inode


def test_write_bytes_replaces_atomically_under_a_kill(blobs: BlobStore, tmp_path: Path) -> None:
    """A writer killed mid-write leaves the old complete file or the new one, never a part."""
    uri = blobs.attempt_prefix("e1", "n0", 1) + "/outputs.json"
    size = 16 << 20
    blobs.write_bytes(uri, b"a" * size)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from slipstream.storage.blobs import BlobStore\n"
            "store = BlobStore(sys.argv[1]); data = b'b' * int(sys.argv[3])\n"
            "print('ready', flush=True)\n"
            "while True: store.write_bytes(sys.argv[2], data)\n",
            blobs.root,
            uri,
            str(size),
        ],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(0.3)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    content = blobs.read_bytes(uri)
    assert len(content) == size
    assert content in (b"a" * size, b"b" * size)
    folder = Path(blobs.local_path(uri) or "").parent
    for tmp in folder.glob(".outputs.json.tmp-*"):  # at most the killed writer's scratch
        tmp.unlink()
    assert [p.name for p in folder.iterdir()] == ["outputs.json"]


def test_failed_write_leaves_the_previous_content(blobs: BlobStore) -> None:
    uri = blobs.attempt_prefix("e1", "n0", 1) + "/outputs.json"
    blobs.write_bytes(uri, b"old")

    class Exploding:
        def __buffer__(self, flags: int) -> memoryview:
            raise OSError("disk on fire")

    with pytest.raises((TypeError, OSError)):  # TypeError before Python 3.12's __buffer__
        blobs.write_bytes(uri, Exploding())  # type: ignore[arg-type]
    assert blobs.read_bytes(uri) == b"old"
    folder = Path(blobs.local_path(uri) or "").parent
    assert [p.name for p in folder.iterdir()] == ["outputs.json"]


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha",
        "empty.bin": b"",
        "nested/deeper/b.bin": os.urandom(50_000),
        "nested/é ü.txt": b"unicode",
        "z/last.txt": b"z",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_directory_round_trip(blobs: BlobStore, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    uri, sha = blobs.put_directory(str(tmp_path / "src"))
    assert uri == f"{blobs.root}/data/{sha}"
    manifest = blobs.read_manifest(uri)
    assert [e.path for e in manifest.files] == sorted(files)
    assert {e.path: e.sha256 for e in manifest.files} == {
        rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()
    }
    dest = tmp_path / "dest"
    blobs.get_directory(uri, str(dest))
    assert read_tree(dest) == files
    # The stored tree is readable in place on a local store.
    assert read_tree(Path(blobs.local_path(uri) or "")) == files


def test_directories_are_content_addressed(blobs: BlobStore, tmp_path: Path) -> None:
    make_tree(tmp_path / "one")
    make_tree(tmp_path / "two")
    (tmp_path / "two" / "nested" / "deeper" / "b.bin").write_bytes(b"changed")
    uri_one, sha_one = blobs.put_directory(str(tmp_path / "one"))
    tree = Path(blobs.local_path(uri_one) or "")
    inode = tree.stat().st_ino
    assert blobs.put_directory(str(tmp_path / "one")) == (uri_one, sha_one)
    assert tree.stat().st_ino == inode  # stored once
    _, sha_two = blobs.put_directory(str(tmp_path / "two"))
    assert sha_two != sha_one
    hidden = [p.name for p in (tmp_path / "blobs" / "data").iterdir() if p.name.startswith(".")]
    assert hidden == []  # no staging folders left behind


def test_put_directory_of_a_file_is_refused(blobs: BlobStore, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"'.*/f'"):
        blobs.put_directory(str(tmp_path / "f"))


def test_get_directory_of_an_unknown_tree_names_it(blobs: BlobStore, tmp_path: Path) -> None:
    uri = f"{blobs.root}/data/{'0' * 64}"
    with pytest.raises(FileNotFoundError, match="0000"):
        blobs.get_directory(uri, str(tmp_path / "dest"))


def test_scratch_dirs_are_fresh(blobs: BlobStore) -> None:
    first, second = blobs.scratch_dir(), blobs.scratch_dir()
    try:
        assert first != second
        assert os.path.isdir(first) and os.listdir(first) == []
    finally:
        os.rmdir(first)
        os.rmdir(second)


# -- the fsspec backend (in-memory filesystem: real fsspec code, no cloud needed) -------------


@pytest.fixture
def memory_blobs() -> BlobStore:
    return BlobStore(f"memory://slipstream-test-{uuid.uuid4().hex}/blobs")


def test_fsspec_backend_round_trips_everything(memory_blobs: BlobStore, tmp_path: Path) -> None:
    store = memory_blobs
    uri, sha = store.put_bytes(b"payload")
    assert uri == f"{store.root}/data/{sha}"
    assert store.put_bytes(b"payload") == (uri, sha)
    assert store.get_bytes(uri) == b"payload"
    assert store.local_path(uri) is None

    src = tmp_path / "f.bin"
    src.write_bytes(b"payload")
    assert store.put_file(str(src)) == (uri, sha)
    store.get_file(uri, str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == b"payload"

    files = make_tree(tmp_path / "tree")
    tree_uri, tree_sha = store.put_directory(str(tmp_path / "tree"))
    assert tree_uri == f"{store.root}/data/{tree_sha}"
    store.get_directory(tree_uri, str(tmp_path / "tree-back"))
    assert read_tree(tmp_path / "tree-back") == files

    doc_uri = store.attempt_prefix("e", "n", 1) + "/outputs.json"
    store.write_bytes(doc_uri, b"{}")
    assert store.exists(doc_uri)
    assert store.read_bytes(doc_uri) == b"{}"
    with pytest.raises(FileNotFoundError, match=r"error\.json"):
        store.read_bytes(store.attempt_prefix("e", "n", 1) + "/error.json")


def test_local_and_fsspec_stores_agree_on_directory_hashes(
    blobs: BlobStore, memory_blobs: BlobStore, tmp_path: Path
) -> None:
    make_tree(tmp_path / "tree")
    _, local_sha = blobs.put_directory(str(tmp_path / "tree"))
    _, remote_sha = memory_blobs.put_directory(str(tmp_path / "tree"))
    assert local_sha == remote_sha


@pytest.mark.parametrize(
    ("url", "package"),
    [("s3://bucket/blobs", "s3fs"), ("gs://bucket/blobs", "gcsfs"), ("abfs://c/blobs", "adlfs")],
)
def test_cloud_urls_without_their_package_say_what_to_install(url: str, package: str) -> None:
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    with pytest.raises(ConfigError) as info:
        BlobStore(url)
    assert repr(url) in str(info.value)
    assert f"pip install {package}" in str(info.value)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ConfigError, match="nosuchfs"):
        BlobStore("nosuchfs://x/y")


def test_a_file_changed_while_being_stored_is_refused(tmp_path: Path) -> None:
    from slipstream.storage.blobs_backends import check_unchanged

    path = tmp_path / "moving.bin"
    path.write_bytes(b"one")
    info = path.stat()
    check_unchanged(str(path), (info.st_size, info.st_mtime_ns))  # unchanged: fine
    path.write_bytes(b"longer now")
    with pytest.raises(OSError, match="moving"):
        check_unchanged(str(path), (info.st_size, info.st_mtime_ns))

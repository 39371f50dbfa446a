"""Fixtures for the type-system tests: a real local blob store and a fresh registry."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slipstream.compiler.registry import BlobIO, TransformContext, TypeRegistry
from slipstream.compiler.types import new_registry, set_default_registry


class FolderBlobs:
    """BlobIO over a temporary folder: content-addressed with hashlib, copied with shutil."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        (root / "scratch").mkdir(exist_ok=True)
        self.puts = 0

    def _uri(self, sha: str) -> str:
        return "file://" + str(self.data / sha)

    def _path(self, uri: str) -> Path:
        if not uri.startswith("file://"):
            raise ValueError(f"not a uri of this store: {uri!r}")
        path = Path(uri[len("file://") :]).resolve()
        if self.data.resolve() not in path.parents:
            raise ValueError(f"{uri!r} is outside the store")
        return path

    def _store(self, sha: str, write: Any) -> str:
        self.puts += 1
        target = self.data / sha
        if not target.exists():
            tmp = self.data / f".{sha}.{os.getpid()}.tmp"
            write(tmp)
            os.replace(tmp, target)
        return self._uri(sha)

    def put_bytes(self, data: bytes) -> tuple[str, str]:
        sha = hashlib.sha256(data).hexdigest()
        return self._store(sha, lambda tmp: tmp.write_bytes(data)), sha

    def get_bytes(self, uri: str) -> bytes:
        return self._path(uri).read_bytes()

    def put_file(self, path: str) -> tuple[str, str]:
        with open(path, "rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        return self._store(sha, lambda tmp: shutil.copyfile(path, tmp)), sha

    def get_file(self, uri: str, dest: str) -> None:
        shutil.copyfile(self._path(uri), dest)

    def put_directory(self, path: str) -> tuple[str, str]:
        manifest = {}
        for root, _dirs, names in os.walk(path):
            for name in names:
                full = os.path.join(root, name)
                manifest[os.path.relpath(full, path)] = self.put_file(full)[0]
        data = json.dumps(manifest, sort_keys=True).encode()
        return self.put_bytes(data)

    def get_directory(self, uri: str, dest: str) -> None:
        manifest = json.loads(self.get_bytes(uri))
        for rel, file_uri in manifest.items():
            target = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self.get_file(file_uri, target)

    def local_path(self, uri: str) -> str | None:
        return str(self._path(uri))

    def scratch_dir(self) -> str:
        return tempfile.mkdtemp(dir=self.root / "scratch")


def make_blobs(root: Path) -> BlobIO:
    """The real fsspec BlobStore when it exists, else the folder store above."""
    try:
        from slipstream.storage.blobs import BlobStore  # type: ignore[import-not-found]
    except ImportError:
        return FolderBlobs(root)
    store: BlobIO = BlobStore("file://" + str(root))
    return store


@pytest.fixture
def blobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BlobIO:
    # Scratch folders (downloads of files, directories) land under tmp_path, cleaned by pytest.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return make_blobs(tmp_path / "store")


@pytest.fixture
def registry() -> Iterator[TypeRegistry]:
    fresh = new_registry()
    set_default_registry(fresh)
    yield fresh
    set_default_registry(None)


@pytest.fixture
def ctx(blobs: BlobIO) -> TransformContext:
    return TransformContext(blobs=blobs)


@pytest.fixture
def roundtrip(registry: TypeRegistry, ctx: TransformContext) -> Any:
    """Encode a value, pass the literal through its JSON form, decode it."""
    from slipstream.ir import Literal, decode, encode

    def run(value: Any, py_type: Any) -> Any:
        literal = registry.to_literal(value, py_type, ctx)
        wire = decode(encode(literal), Literal)
        assert wire == literal
        return registry.to_python(wire, py_type, ctx)

    return run

"""Code bundles: the source tree as a content-addressed tar.gz; for remote runners and execute."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

_SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "node_modules",
    ".slipstream",
    ".tox",
    "build",
    "dist",
}
_SUFFIXES = {".py", ".pyi", ".json", ".yaml", ".yml", ".toml", ".txt", ".csv", ".sql", ".cfg"}
MAX_BUNDLE_BYTES = 64 << 20


def bundle_bytes(root: str | Path) -> bytes:
    """A deterministic tar.gz of the source files under root (same tree, same bytes)."""
    root = Path(root).resolve()
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(names):
            path = Path(folder) / name
            if path.suffix in _SUFFIXES and path.is_file():
                files.append(path)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(raw.getvalue(), mtime=0)
    if len(packed) > MAX_BUNDLE_BYTES:
        raise ValueError(
            f"the code bundle of {root} is {len(packed) >> 20} MiB (limit "
            f"{MAX_BUNDLE_BYTES >> 20} MiB); keep data out of the source tree"
        )
    return packed


def upload_bundle(blobs: Any, root: str | Path) -> str:
    """Store the bundle of root at bundles/<sha256>.tar.gz; return its URI."""
    data = bundle_bytes(root)
    digest = hashlib.sha256(data).hexdigest()
    uri = blobs.bundle_uri(digest)
    if not blobs.exists(uri):
        blobs.write_bytes(uri, data)
    return str(uri)


def unpack_bundle(blobs: Any, uri: str, cache_dir: str | None = None) -> str:
    """Unpack a bundle once per machine (keyed by its URI's hash); return the folder."""
    name = uri.rstrip("/").rsplit("/", 1)[-1].removesuffix(".tar.gz")
    base = Path(
        cache_dir
        or os.environ.get("SLIPSTREAM_BUNDLE_CACHE")
        or Path(tempfile.gettempdir()) / "slipstream-bundles"
    )
    target = base / name
    if target.is_dir():
        return str(target)
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=base, prefix=f".{name}-"))
    with tarfile.open(fileobj=io.BytesIO(blobs.read_bytes(uri)), mode="r:gz") as tar:
        tar.extractall(staging, filter="data")
    try:
        staging.rename(target)
    except OSError:  # another process unpacked it first
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)

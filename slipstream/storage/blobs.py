"""The content-addressed blob store and the runs/ layout (DESIGN §5); used by engine and runners."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from typing import IO, TYPE_CHECKING, Any, TypeVar

import msgspec

from slipstream.errors import BlobStoreError, ConfigError, SlipstreamError
from slipstream.ir import decode, encode
from slipstream.storage.blobs_backends import (
    BlobNotFoundError,
    FsspecBackend,
    LocalBackend,
    check_unchanged,
    sha256_file,
)
from slipstream.types import API_VERSION

if TYPE_CHECKING:
    from slipstream.config import Settings
    from slipstream.storage.blobs_backends import Backend

T = TypeVar("T")

__all__ = [
    "BlobCorruptError",
    "BlobNotFoundError",
    "BlobPathError",
    "BlobStore",
    "DirectoryManifest",
    "ManifestEntry",
    "blob_store_from_settings",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_OPEN_MODES = frozenset({"r", "rb", "w", "wb", "a", "ab", "rt", "wt", "at"})
MANIFEST_SUFFIX = ".manifest.json"


class BlobPathError(SlipstreamError, ValueError):
    """A URI or id would leave the blob store's root, or is not a URI of this store."""


class BlobCorruptError(BlobStoreError):
    """A content-addressed blob's bytes do not hash to its name (damaged in the store)."""


def _content_sha(key: str) -> str:
    """The sha256 a key names (data/<sha>), or "" for keys that are not content-addressed."""
    name = key[5:] if key.startswith("data/") else ""
    return name if _SHA256.fullmatch(name) else ""


class ManifestEntry(msgspec.Struct, frozen=True):
    path: str  # relative, "/"-separated
    sha256: str


class DirectoryManifest(msgspec.Struct, frozen=True, kw_only=True):
    """What a stored directory holds; its sha256 names the tree (data/<sha>/)."""

    apiVersion: str = API_VERSION  # the IR's wire spelling
    files: tuple[ManifestEntry, ...] = ()


def check_segment(part: str, what: str, whole: str) -> str:
    """Reject a path segment that is empty, a dot name, or holds separators or control chars."""
    if not part or part in {".", ".."} or "/" in part or _BAD_CHARS.search(part):
        raise BlobPathError(
            f"{what} {whole!r} has an invalid path segment {part!r} "
            "(expected non-empty names without '/', '\\', '.', '..' or control characters)"
        )
    return part


class BlobStore:
    """Blobs under one root URL: file:///abs/path, s3://, gs://, abfs:// (or memory:// in tests)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        if not isinstance(url, str) or not url:
            raise ConfigError(f"blob store URL {url!r} is empty (expected e.g. file:///abs/path)")
        self._backend: Backend
        if url.startswith("/"):
            url = "file://" + url
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise ConfigError(
                f"blob store URL {url!r} has no scheme (expected file:///abs/path, s3://bucket/...)"
            )
        if scheme == "file":
            if not rest.startswith("/"):
                raise ConfigError(
                    f"blob store URL {url!r} is not an absolute file URL "
                    "(expected file:///abs/path, with three slashes)"
                )
            root = os.path.normpath(rest)
            self._local: LocalBackend | None = LocalBackend(root)
            self._backend = self._local
            self.root = "file://" + root.rstrip("/") if root != "/" else "file://"
        else:
            self._local = None
            self._backend = FsspecBackend(url, storage_options or {})
            self.root = url.rstrip("/")
        self.url = url

    def __repr__(self) -> str:
        return f"BlobStore({self.root!r})"

    # -- uri <-> key ---------------------------------------------------------------------

    def uri(self, key: str) -> str:
        """The URI of a "/"-separated key under the root (validated)."""
        for part in key.split("/"):
            check_segment(part, "blob key", key)
        return f"{self.root}/{key}"

    def key(self, uri: str) -> str:
        """The key of a URI of this store; anything outside the root is a BlobPathError."""
        if not isinstance(uri, str):
            raise BlobPathError(f"blob URI {uri!r} is not a string")
        prefix = self.root + "/"
        if uri.startswith(prefix):
            rest = uri[len(prefix) :]
        elif self._local is not None and uri.startswith("/"):
            local_prefix = self._local.root.rstrip("/") + "/"
            if not uri.startswith(local_prefix):
                raise BlobPathError(
                    f"path {uri!r} is outside the blob store root {self._local.root!r}"
                )
            rest = uri[len(local_prefix) :]
        else:
            raise BlobPathError(
                f"blob URI {uri!r} is not under this store's root {self.root!r} "
                "(other schemes, relative paths and absolute paths elsewhere are refused)"
            )
        rest = rest.rstrip("/")
        for part in rest.split("/"):
            check_segment(part, "blob URI", uri)
        return rest

    # -- BlobIO (content-addressed values) ----------------------------------------------

    def put_bytes(self, data: bytes) -> tuple[str, str]:
        """Store data at data/<sha256> unless already there; return (uri, sha256)."""
        sha = hashlib.sha256(data).hexdigest()
        key = f"data/{sha}"
        if not self._backend.exists(key):
            self._backend.write_bytes(key, data)
        return self.uri(key), sha

    def get_bytes(self, uri: str) -> bytes:
        """The content at uri; a content-addressed blob whose bytes do not hash to its name is
        refused (BlobCorruptError), so a damaged blob is never taken for the value."""
        key = self.key(uri)
        data = self._backend.read_bytes(key)
        expected = _content_sha(key)
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise BlobCorruptError(
                f"the blob {uri} is corrupt: its content does not hash to its name "
                f"({len(data)} bytes read)"
            )
        return data

    def verify(self, uri: str) -> str:
        """Why the value stored at uri cannot be used, said after the uri ("is missing"), or
        "" when it can: a missing blob (or file of a stored directory), or, on local stores,
        content that does not hash to its name; such a damaged blob (or tree) is removed, so
        the next write of that content stores it again. Remote stores are checked for
        presence, and their content when it is read (get_bytes)."""
        key = self.key(uri)
        if not self._backend.exists(key + MANIFEST_SUFFIX):
            problem = self._check_key(key, _content_sha(key))
            if problem.startswith("is corrupt") and self._local is not None:
                _unlink_quietly(self._local.path(key))
            return problem
        try:
            manifest = self.read_manifest(uri)
            problems = (self._check_key(f"{key}/{e.path}", e.sha256) for e in manifest.files)
            problem = next((f"has a file that {p}" for p in problems if p), "")
        except SlipstreamError as exc:
            problem = f"has an unreadable manifest ({exc})"
        if problem and self._local is not None:
            _unlink_quietly(self._local.path(key + MANIFEST_SUFFIX))
            shutil.rmtree(self._local.path(key), ignore_errors=True)
        return problem

    def _check_key(self, key: str, expected: str) -> str:
        if not self._backend.exists(key):
            return "is missing"
        if self._local is not None and expected:
            path = self._local.path(key)
            if os.path.isfile(path) and sha256_file(path) != expected:
                return f"is corrupt (its content does not hash to {expected[:12]}...)"
        return ""

    def put_file(self, path: str) -> tuple[str, str]:
        """Store a local file at data/<sha256>; return (uri, sha256)."""
        _require_file(path)
        key, sha = self._backend.store_file(os.fspath(path), lambda sha: f"data/{sha}")
        return self.uri(key), sha

    def get_file(self, uri: str, dest: str) -> None:
        self._backend.download(self.key(uri), os.fspath(dest))

    def put_directory(self, path: str) -> tuple[str, str]:
        """Store a local tree at data/<sha256 of its manifest>/; return (uri, that sha)."""
        root = os.fspath(path)
        if not os.path.isdir(root):
            raise FileNotFoundError(f"put_directory: {root!r} is not a directory")
        if self._local is not None:
            return self._put_directory_local(root, self._local)
        files = _walk(root)
        entries = tuple(ManifestEntry(rel, sha256_file(os.path.join(root, rel))) for rel in files)
        manifest = encode(DirectoryManifest(files=entries))
        sha = hashlib.sha256(manifest).hexdigest()
        key = f"data/{sha}"
        if not self._backend.exists(key + MANIFEST_SUFFIX):
            for entry in entries:
                self._backend.upload(os.path.join(root, entry.path), f"{key}/{entry.path}")
            # Written last: its presence means the tree is complete.
            self._backend.write_bytes(key + MANIFEST_SUFFIX, manifest)
        return self.uri(key), sha

    def _put_directory_local(self, root: str, local: LocalBackend) -> tuple[str, str]:
        files = _walk(root)
        signatures = [os.stat(os.path.join(root, rel)) for rel in files]
        entries = tuple(ManifestEntry(rel, sha256_file(os.path.join(root, rel))) for rel in files)
        manifest = encode(DirectoryManifest(files=entries))
        sha = hashlib.sha256(manifest).hexdigest()
        key = f"data/{sha}"
        if not os.path.isdir(local.path(key)):
            # Built in a hidden staging folder and renamed into place: a killed writer never
            # leaves a partial tree under data/<sha>.
            staged = local.staging_dir(key)
            try:
                for rel, before in zip(files, signatures, strict=True):
                    src = os.path.join(root, rel)
                    target = os.path.join(staged, *rel.split("/"))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copyfile(src, target)
                    shutil.copymode(src, target)
                    check_unchanged(src, (before.st_size, before.st_mtime_ns))
                local.store_tree(staged, key)
            except BaseException:
                shutil.rmtree(staged, ignore_errors=True)
                raise
        if not local.exists(key + MANIFEST_SUFFIX):
            local.write_bytes(key + MANIFEST_SUFFIX, manifest)
        return self.uri(key), sha

    def read_manifest(self, uri: str) -> DirectoryManifest:
        key = self.key(uri)
        try:
            raw = self._backend.read_bytes(key + MANIFEST_SUFFIX)
        except BlobNotFoundError:
            raise BlobNotFoundError(
                f"no stored directory at {uri} (its manifest is missing)"
            ) from None
        manifest = decode(raw, DirectoryManifest)
        for entry in manifest.files:
            for part in entry.path.split("/"):
                check_segment(part, "manifest path", entry.path)
        return manifest

    def get_directory(self, uri: str, dest: str) -> None:
        """Copy the tree stored at uri into dest (created if missing)."""
        key = self.key(uri)
        manifest = self.read_manifest(uri)
        dest = os.fspath(dest)
        os.makedirs(dest, exist_ok=True)
        for entry in manifest.files:
            self._backend.download(
                f"{key}/{entry.path}", os.path.join(dest, *entry.path.split("/"))
            )

    def local_path(self, uri: str) -> str | None:
        """The local filesystem path of uri for file:// stores, else None."""
        return self._backend.local_path(self.key(uri))

    def scratch_dir(self) -> str:
        """A fresh private local directory; the caller removes it."""
        return tempfile.mkdtemp(prefix="slipstream-scratch-")

    # -- layout (DESIGN §5) ---------------------------------------------------------------

    def attempt_prefix(self, execution_id: str, node_id: str, attempt: int) -> str:
        """<root>/runs/<execution>/<node>/<attempt>; nested node ids become sub-folders."""
        check_segment(execution_id, "execution id", execution_id)
        if not isinstance(node_id, str):
            raise BlobPathError(f"node id {node_id!r} is not a string")
        for part in node_id.split("/"):
            check_segment(part, "node id", node_id)
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise BlobPathError(f"attempt {attempt!r} is not a positive integer (1-based)")
        return f"{self.root}/runs/{execution_id}/{node_id}/{attempt}"  # every segment checked

    def bundle_uri(self, sha: str) -> str:
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise BlobPathError(f"bundle hash {sha!r} is not a lowercase sha256 hex digest")
        return self.uri(f"bundles/{sha}.tar.gz")

    def put_bundle(self, path: str) -> tuple[str, str]:
        """Store a code bundle (tar.gz) at bundles/<sha256>.tar.gz; return (uri, sha256)."""
        _require_file(path)
        key, sha = self._backend.store_file(os.fspath(path), lambda sha: f"bundles/{sha}.tar.gz")
        return self.uri(key), sha

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Write data at uri; on local stores atomically (temp file then rename)."""
        self._backend.write_bytes(self.key(uri), data)

    def read_bytes(self, uri: str) -> bytes:
        return self._backend.read_bytes(self.key(uri))

    def exists(self, uri: str) -> bool:
        return self._backend.exists(self.key(uri))

    def write_document(self, uri: str, document: Any) -> None:
        """Write an IR document (a Struct) as JSON, atomically on local stores."""
        self._backend.write_bytes(self.key(uri), encode(document))

    def read_document(self, uri: str, type: type[T]) -> T:
        raw = self._backend.read_bytes(self.key(uri))
        try:
            return decode(raw, type)
        except msgspec.ValidationError as exc:
            raise SlipstreamError(
                f"{uri} is not a valid {getattr(type, '__name__', type)}: {exc}"
            ) from None
        except msgspec.DecodeError as exc:
            raise SlipstreamError(f"{uri} is not valid JSON: {exc}") from None

    def open(self, uri: str, mode: str = "rb") -> IO[Any]:
        """A file object on uri (for streaming logs); not atomic: use write_bytes for that."""
        if mode not in _OPEN_MODES:
            raise ValueError(f"open mode {mode!r} is not one of {', '.join(sorted(_OPEN_MODES))}")
        return self._backend.open(self.key(uri), mode)


def blob_store_from_settings(settings: Settings) -> BlobStore:
    return BlobStore(settings.resolved_blob_url)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _require_file(path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{os.fspath(path)!r} is not a file")


def _walk(root: str) -> list[str]:
    """Relative "/"-paths of every file under root, sorted; symlinks followed, cycles refused."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:
            raise ValueError(f"put_directory: {folder!r} is reached twice (a symlink loop?)")
        seen.add((info.st_dev, info.st_ino))
        dirs.sort()
        rel_folder = os.path.relpath(folder, root)
        for name in files:
            full = os.path.join(folder, name)
            if not os.path.isfile(full):
                if not os.path.exists(full):
                    raise FileNotFoundError(f"put_directory: {full!r} is a dangling symlink")
                continue  # sockets and fifos are not data
            rel = name if rel_folder == "." else f"{rel_folder}/{name}"
            found.append(rel.replace(os.sep, "/"))
    found.sort()
    return found

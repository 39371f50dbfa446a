"""``File`` and ``Directory`` (re-exported as slipstream.File/Directory) and their transformers."""

from __future__ import annotations

import os
import pathlib
import urllib.parse
from collections.abc import Iterator
from typing import IO, Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.common import mismatch, short_repr
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


class _PathValue:
    """A local path a task hands on; uploaded when returned, downloaded when received."""

    _what = "path"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if isinstance(path, _PathValue):
            path = path.path
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"{type(self).__name__} takes a local path, got {type(path).__name__} "
                f"{short_repr(path)}"
            )
        self._path = _local_path(os.fspath(path))

    @property
    def path(self) -> str:
        return self._path

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self._path))

    def download(self) -> str:
        """The local path (Flyte's download(): a received value is already local)."""
        return self._path

    def __fspath__(self) -> str:
        return self._path

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Lets pydantic models hold one (as Flyte's do); imported only when pydantic asks."""
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            lambda value: value if isinstance(value, cls) else cls(value),
            serialization=core_schema.plain_serializer_function_ser_schema(os.fspath),
        )

    def __str__(self) -> str:
        return self._path

    def __repr__(self) -> str:  # Flyte shows a file or directory as its path
        return self._path

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _PathValue) or type(other) is not type(self):
            return NotImplemented
        return os.path.abspath(self._path) == os.path.abspath(other._path)

    def __hash__(self) -> int:
        return hash((type(self).__name__, os.path.abspath(self._path)))


class File(_PathValue):
    """A file: ``File("out.csv")``; ``.path`` is where it is on this machine."""

    def open(self, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        return open(self._path, mode, **kwargs)

    def read_bytes(self) -> bytes:
        return pathlib.Path(self._path).read_bytes()

    def read_text(self, encoding: str = "utf-8") -> str:
        return pathlib.Path(self._path).read_text(encoding=encoding)


class Directory(_PathValue):
    """A directory tree: ``Directory("out/")``; ``.path`` is where it is on this machine."""

    def __truediv__(self, name: str) -> pathlib.Path:
        return pathlib.Path(self._path) / name

    def new_file(self, name: str) -> File:
        """A File for `name` inside this directory (not created)."""
        return File(os.path.join(self._path, name))

    def new_dir(self, name: str) -> Directory:
        """A sub-directory `name`, created."""
        os.makedirs(os.path.join(self._path, name), exist_ok=True)
        return Directory(os.path.join(self._path, name))

    @staticmethod
    def listdir(directory: Directory) -> list[File | Directory]:
        """The entries right inside `directory`, sorted: files as File, folders as Directory."""
        entries: list[File | Directory] = []
        for name in sorted(os.listdir(directory.path)):
            full = os.path.join(directory.path, name)
            entries.append(Directory(full) if os.path.isdir(full) else File(full))
        return entries

    def files(self) -> list[File]:
        """Every regular file in the tree, sorted by path."""
        found: list[str] = []
        for root, _dirs, names in os.walk(self._path):
            found.extend(os.path.join(root, n) for n in names)
        return [File(p) for p in sorted(found)]

    def __iter__(self) -> Iterator[File]:
        return iter(self.files())


def _local_path(path: str) -> str:
    """A file:// URL as the local path it names; any other text as it is."""
    if not path.startswith("file://"):
        return path
    parts = urllib.parse.urlsplit(path)
    if parts.netloc not in ("", "localhost"):
        raise TypeError(f"{path!r} names a file on another host ({parts.netloc})")
    return urllib.parse.unquote(parts.path)


def _as_local(value: Any, cls: type[File] | type[Directory]) -> _PathValue:
    if isinstance(value, cls):
        return value
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, _PathValue):
        return cls(value)
    raise mismatch(value, cls.__name__)


class PathTransformer:
    """``File`` or ``Directory``: uploaded content-addressed, downloaded to a scratch folder."""

    def __init__(self, cls: type[File] | type[Directory]) -> None:
        self.cls = cls
        self.kind = "file" if cls is File else "directory"
        self.name = self.kind

    def matches(self, py_type: Any) -> bool:
        return py_type is self.cls

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        return LiteralType(self.kind)

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        local = _as_local(value, self.cls)
        if "://" in local.path:
            raise TypeTransformError(
                f"{self.cls.__name__} takes a local path or a file:// URL, got {local.path!r}"
            )
        path = os.path.abspath(local.path)
        exists = os.path.isfile(path) if self.cls is File else os.path.isdir(path)
        if not exists:
            raise TypeTransformError(
                f"{self.cls.__name__} {local.path!r} does not exist as a {self.kind} "
                f"(resolved to {path})"
            )
        blobs = ctx.require_blobs(f"storing {local!r}")
        if self.cls is File:
            uri, sha = blobs.put_file(path)
        else:
            uri, sha = blobs.put_directory(path)
        return Literal(value=local.name, uri=uri, hash=sha, format=self.kind)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        if not literal.uri or literal.format != self.kind:
            raise mismatch(literal.uri or literal.value, f"a stored {self.cls.__name__}")
        blobs = ctx.require_blobs(f"reading the {self.kind} at {literal.uri}")
        dest = os.path.join(blobs.scratch_dir(), _safe_name(literal.value, self.kind))
        if self.cls is File:
            blobs.get_file(literal.uri, dest)
        else:
            os.makedirs(dest, exist_ok=True)
            blobs.get_directory(literal.uri, dest)
        return self.cls(dest)


def _safe_name(stored: Any, default: str) -> str:
    """The stored base name, reduced to one path component so it stays in the scratch folder."""
    if not isinstance(stored, str):
        return default
    name = os.path.basename(stored.replace("\\", "/"))
    return default if name in ("", ".", "..") else name


def register(registry: TypeRegistry) -> None:
    registry.register(PathTransformer(File), File)
    registry.register(PathTransformer(Directory), Directory)

"""The type registry: maps Python types to LiteralTypes and values to Literals; used by SDK, runners, CLI."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType


@runtime_checkable
class BlobIO(Protocol):
    """What transformers need from the blob store (implemented by slipstream.storage.blobs)."""

    def put_bytes(self, data: bytes) -> tuple[str, str]:
        """Store content-addressed bytes; return (uri, sha256 hex)."""

    def get_bytes(self, uri: str) -> bytes: ...

    def put_file(self, path: str) -> tuple[str, str]:
        """Store a local file content-addressed; return (uri, sha256 hex)."""

    def get_file(self, uri: str, dest: str) -> None:
        """Copy the blob at uri to the local path dest."""

    def put_directory(self, path: str) -> tuple[str, str]:
        """Store a local directory tree content-addressed; return (uri, sha256 of its manifest)."""

    def get_directory(self, uri: str, dest: str) -> None:
        """Copy the stored tree at uri into the local directory dest."""

    def local_path(self, uri: str) -> str | None:
        """A local filesystem path for uri when the store is local, else None."""

    def scratch_dir(self) -> str:
        """A fresh private local directory for downloads."""


@dataclass
class TransformContext:
    """Per-conversion settings: where offloaded data goes and when to offload."""

    blobs: BlobIO | None = None
    offload_threshold: int = 1 << 20  # bytes of inline JSON above which a value is offloaded
    warnings: list[str] = field(default_factory=list)

    def require_blobs(self, what: str) -> BlobIO:
        if self.blobs is None:
            raise TypeTransformError(f"{what} needs a blob store, and none was given")
        return self.blobs


class TypeTransformer(Protocol):
    """One family of Python types. Registered once per registry."""

    name: str

    def matches(self, py_type: Any) -> bool:
        """True if this transformer handles py_type (for structural families)."""

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType: ...

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        """Encode value; raise TypeTransformError if value is not a py_type."""

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any: ...


class TypeRegistry:
    """Transformers by exact Python type, then structural ones in registration order."""

    def __init__(self) -> None:
        self._exact: dict[Any, TypeTransformer] = {}
        self._structural: list[TypeTransformer] = []
        self._fallback: TypeTransformer | None = None
        self._lookup_cache: dict[Any, TypeTransformer] = {}
        self._lock = threading.Lock()

    def register(self, transformer: TypeTransformer, *types: Any) -> None:
        """Register for exact types, or (no types) as a structural matcher."""
        with self._lock:
            if not types:
                if any(t.name == transformer.name for t in self._structural):
                    raise TypeTransformError(
                        f"a transformer named {transformer.name!r} is already registered"
                    )
                self._structural.append(transformer)
            for py_type in types:
                if py_type in self._exact:
                    raise TypeTransformError(
                        f"type {_type_name(py_type)} is already registered "
                        f"(by {self._exact[py_type].name!r})"
                    )
                self._exact[py_type] = transformer
            self._lookup_cache.clear()

    def register_fallback(self, transformer: TypeTransformer) -> None:
        if self._fallback is not None:
            raise TypeTransformError("a fallback transformer is already registered")
        self._fallback = transformer

    def transformer_for(self, py_type: Any) -> TypeTransformer:
        found = self._lookup_cache.get(py_type) if _hashable(py_type) else None
        if found is not None:
            return found
        found = self._exact.get(py_type) if _hashable(py_type) else None
        if found is None:
            for candidate in self._structural:
                if candidate.matches(py_type):
                    found = candidate
                    break
        if found is None:
            found = self._fallback
        if found is None:
            raise TypeTransformError(f"no transformer for type {_type_name(py_type)}")
        if _hashable(py_type):
            self._lookup_cache[py_type] = found
        return found

    def literal_type(self, py_type: Any) -> LiteralType:
        return self.transformer_for(py_type).literal_type(py_type, self)

    def to_literal(self, value: Any, py_type: Any, ctx: TransformContext) -> Literal:
        return self.transformer_for(py_type).to_literal(value, py_type, ctx, self)

    def to_python(self, literal: Literal, py_type: Any, ctx: TransformContext) -> Any:
        return self.transformer_for(py_type).to_python(literal, py_type, ctx, self)


def _hashable(obj: Any) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True


def _type_name(py_type: Any) -> str:
    return getattr(py_type, "__qualname__", None) or repr(py_type)


_default: TypeRegistry | None = None
_default_lock = threading.Lock()


def new_registry() -> TypeRegistry:
    """A registry holding every built-in transformer."""
    from slipstream.compiler.types import register_builtin

    registry = TypeRegistry()
    register_builtin(registry)
    return registry


def default_registry() -> TypeRegistry:
    """The process-wide registry (built on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = new_registry()
    return _default


def set_default_registry(registry: TypeRegistry | None) -> None:
    """Replace the process-wide registry (tests use a fresh one each)."""
    global _default
    _default = registry

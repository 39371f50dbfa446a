"""What a type transformer is and what it is given: the protocols of slipstream.compiler.

A leaf: the registry (the container) and every type family import it; it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType

if TYPE_CHECKING:
    from slipstream.compiler.registry import TypeRegistry


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

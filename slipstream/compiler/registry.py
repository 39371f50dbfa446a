"""The type registry: a container of transformers, Python types to LiteralTypes, values to
Literals; used by SDK and runners. It knows no family: `slipstream.compiler.types` assembles
the default registry from the built-in ones.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import msgspec

from slipstream.compiler.labels import type_label
from slipstream.compiler.transformers import BlobIO, TransformContext, TypeTransformer
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType, encode

__all__ = ["BlobIO", "TransformContext", "TypeRegistry", "TypeTransformer"]


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
                        f"type {type_label(py_type)} is already registered "
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
            raise TypeTransformError(f"no transformer for type {type_label(py_type)}")
        if _hashable(py_type):
            self._lookup_cache[py_type] = found
        return found

    def literal_type(self, py_type: Any) -> LiteralType:
        return self.transformer_for(py_type).literal_type(py_type, self)

    def to_literal(self, value: Any, py_type: Any, ctx: TransformContext) -> Literal:
        """Encode a top-level value; inline JSON over ``ctx.offload_threshold`` is offloaded."""
        literal = self.transformer_for(py_type).to_literal(value, py_type, ctx, self)
        if ctx.blobs is not None and _offloadable(literal):
            return _offload_if_large(literal, ctx.blobs, ctx.offload_threshold)
        return literal

    def to_python(self, literal: Literal, py_type: Any, ctx: TransformContext) -> Any:
        """Decode a literal (offloaded JSON is read back first) into a value of py_type."""
        literal = _load_inline(literal, ctx)
        transformer = self.transformer_for(py_type)
        try:
            return transformer.to_python(literal, py_type, ctx, self)
        except TypeTransformError:
            raise
        except (TypeError, ValueError) as exc:
            # Malformed stored data surfaces as the type error callers already handle.
            raise TypeTransformError(
                f"cannot read a {type_label(py_type)} from the stored value: {exc}"
            ) from exc


def _offloadable(literal: Literal) -> bool:
    return (
        not literal.uri
        and literal.items is None
        and literal.entries is None
        and not literal.format
        and isinstance(literal.value, (str, list, dict))
    )


def _offload_if_large(literal: Literal, blobs: BlobIO, threshold: int) -> Literal:
    value = literal.value
    if isinstance(value, str) and len(value) * 6 + 2 <= threshold:
        return literal  # even fully escaped it stays under the threshold: skip encoding
    data = encode(value)
    if len(data) <= threshold:
        return literal
    uri, sha = blobs.put_bytes(data)
    return Literal(uri=uri, hash=sha, format="json", variant=literal.variant)


def _load_inline(literal: Literal, ctx: TransformContext) -> Literal:
    """Turn a JSON value offloaded by to_literal back into an inline literal."""
    if literal.format != "json" or not literal.uri:
        return literal
    data = ctx.require_blobs(f"reading the offloaded value {literal.uri}").get_bytes(literal.uri)
    if literal.hash and hashlib.sha256(data).hexdigest() != literal.hash:
        raise TypeTransformError(
            f"the offloaded value at {literal.uri} does not match its hash {literal.hash}"
        )
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise TypeTransformError(
            f"the offloaded value at {literal.uri} is not JSON: {exc}"
        ) from exc
    return Literal(value=value, variant=literal.variant)


def _hashable(obj: Any) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True

"""The fallback transformer: any other type is pickled into the blob store, with a warning."""

from __future__ import annotations

import logging
import pickle
import threading
from typing import Any

from slipstream.compiler.registry import TransformContext, TypeRegistry
from slipstream.compiler.types.common import mismatch, qualified_name
from slipstream.errors import TypeTransformError
from slipstream.ir import Literal, LiteralType

logger = logging.getLogger("slipstream.types")

PICKLE = "pickle"

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _dumps(value: Any) -> tuple[bytes, str]:
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), "pickle"
    return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), "cloudpickle"


def _warn(name: str, tool: str, ctx: TransformContext) -> None:
    message = (
        f"type {name} has no transformer; its values are stored with {tool} and can only be "
        f"read back by Python with the same code and library versions"
    )
    if message not in ctx.warnings:
        ctx.warnings.append(message)
    with _warned_lock:
        first = name not in _warned
        _warned.add(name)
    if first:
        logger.warning(message)


class PickleTransformer:
    """Anything without a transformer: a pickle blob, readable only by the same Python code."""

    name = "pickle"

    def matches(self, py_type: Any) -> bool:
        return True

    def literal_type(self, py_type: Any, registry: TypeRegistry) -> LiteralType:
        return LiteralType("pickle", name=qualified_name(py_type))

    def to_literal(
        self, value: Any, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Literal:
        name = qualified_name(py_type)
        if isinstance(py_type, type) and not isinstance(value, py_type):
            raise mismatch(value, py_type.__qualname__)
        blobs = ctx.require_blobs(f"storing a pickled {name}")
        try:
            data, tool = _dumps(value)
        except Exception as exc:  # pickling runs arbitrary __reduce__ code
            raise TypeTransformError(f"cannot pickle a {name}: {exc}") from exc
        _warn(name, tool, ctx)
        uri, sha = blobs.put_bytes(data)
        return Literal(uri=uri, hash=sha, format=PICKLE)

    def to_python(
        self, literal: Literal, py_type: Any, ctx: TransformContext, registry: TypeRegistry
    ) -> Any:
        if not literal.uri or literal.format != PICKLE:
            raise mismatch(literal.uri or literal.value, f"a pickled {qualified_name(py_type)}")
        data = ctx.require_blobs(f"reading the pickle at {literal.uri}").get_bytes(literal.uri)
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise TypeTransformError(
                f"cannot unpickle the {qualified_name(py_type)} at {literal.uri}: {exc}"
            ) from exc


def register(registry: TypeRegistry) -> None:
    registry.register_fallback(PickleTransformer())

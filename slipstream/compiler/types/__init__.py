"""The built-in type families, one module each, and the default registry assembled from them."""

from __future__ import annotations

import threading

from slipstream.compiler.registry import TypeRegistry

_default: TypeRegistry | None = None
_default_lock = threading.Lock()


def register_builtin(registry: TypeRegistry) -> None:
    """Register every built-in family; structural matchers are tried in this order."""
    from slipstream.compiler.types import (
        collections,
        datasets,
        enums,
        files,
        frames,
        pickled,
        primitives,
        structs,
        unions,
    )

    primitives.register(registry)
    files.register(registry)
    collections.register(registry)
    unions.register(registry)
    enums.register(registry)
    frames.register(registry)
    datasets.register(registry)
    structs.register(registry)
    pickled.register(registry)


def new_registry() -> TypeRegistry:
    """A registry holding every built-in transformer."""
    registry = TypeRegistry()
    register_builtin(registry)
    return registry


def default_registry() -> TypeRegistry:
    """The process-wide registry of the built-in families (built on first use)."""
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

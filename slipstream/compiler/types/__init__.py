"""The built-in type families, one module each; register_builtin() is called by the registry."""

from __future__ import annotations

from slipstream.compiler.registry import TypeRegistry


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

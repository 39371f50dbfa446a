"""The built-in type families, one module each; register_builtin() is called by the registry."""

from __future__ import annotations

from slipstream.compiler.registry import TypeRegistry


def register_builtin(registry: TypeRegistry) -> None:
    from slipstream.compiler.types import primitives

    primitives.register(registry)

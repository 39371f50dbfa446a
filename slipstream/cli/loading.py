"""Finds the task or workflow a command names (a file or module, then a name); for run and k8s."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click


def module_for_file(path: Path) -> tuple[str, str]:
    """(module name, sys.path root) for a .py file, climbing through packages (__init__.py)."""
    path = path.resolve()
    parts = [path.stem] if path.name != "__init__.py" else []
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), str(folder)


def load_entity(file_or_module: str, name: str) -> Any:
    """Import FILE_OR_MODULE and return its task or workflow called NAME."""
    target = Path(file_or_module)
    if target.suffix == ".py" or target.exists():
        if not target.is_file():
            raise click.BadParameter(f"{file_or_module!r}: no such file", param_hint="FILE")
        module_name, root = module_for_file(target)
    else:
        module_name, root = file_or_module, str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(
            f"cannot import {file_or_module!r}: {exc}", param_hint="FILE_OR_MODULE"
        ) from None
    entity = getattr(module, name, None)
    if entity is None or getattr(entity, "kind", None) not in {"task", "workflow"}:
        found = sorted(
            attr
            for attr, value in vars(module).items()
            if getattr(value, "kind", None) in {"task", "workflow"} and not attr.startswith("_")
        )
        raise click.BadParameter(
            f"{file_or_module!r} has no task or workflow named {name!r}; "
            f"it has: {', '.join(found) or 'none'}",
            param_hint="ENTITY",
        )
    return entity

"""Finds the task or workflow a command names (a file or module, then a name); for run and k8s."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import slipstream
from slipstream.cli.errors import UserModuleError

_PACKAGE_DIR = str(Path(slipstream.__file__).resolve().parent)
_CLICK_DIR = str(Path(click.__file__).resolve().parent)
_IMPORTLIB_DIR = str(Path(importlib.__file__).resolve().parent)


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
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise UserModuleError(import_failure(file_or_module, exc)) from exc
        raise click.BadParameter(
            f"cannot import {file_or_module!r}: {exc}", param_hint="FILE_OR_MODULE"
        ) from None
    except Exception as exc:
        raise UserModuleError(import_failure(file_or_module, exc)) from exc
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


def _is_users(filename: str) -> bool:
    return not (
        filename.startswith("<frozen ")
        or filename.startswith(_PACKAGE_DIR)
        or filename.startswith(_CLICK_DIR)
        or filename.startswith(_IMPORTLIB_DIR)
    )


def import_failure(file_or_module: str, exc: BaseException) -> str:
    """What went wrong importing the user's code, with their own frames only."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_users(f.filename)]
    lines = [f"importing {file_or_module} failed:\n"]
    if frames:
        lines += ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


_HELP = {"--help", "-h"}

# The options of commands whose own options depend on FILE ENTITY: unknown ones pass through.
ENTITY_COMMAND_SETTINGS = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "help_option_names": [],
}


def entity_command_context(
    ctx: click.Context,
    file_or_module: str | None,
    entity: str | None,
    build: Callable[[Any, str], click.Command],
    prog: str,
) -> tuple[click.Command, click.Context]:
    """Load ENTITY, build its own command with `build`, and parse the rest of the arguments.

    Shared by `run` and `k8s render`: `--help` before ENTITY shows the outer command's help.
    """
    asked_for_help = bool({file_or_module, entity} & _HELP)
    if asked_for_help or file_or_module is None:
        click.echo(ctx.get_help())
        ctx.exit(0 if asked_for_help else 2)
    if entity is None:
        raise click.UsageError("missing ENTITY: name a task or workflow defined in FILE_OR_MODULE")
    assert file_or_module is not None
    command = build(load_entity(file_or_module, entity), f"{file_or_module} {entity}")
    return command, command.make_context(f"{prog} {file_or_module} {entity}", list(ctx.args))

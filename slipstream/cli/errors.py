"""How a command ends on slipstream's own error: one message and a documented exit code.

Used by cli/main.py's group, around every subcommand. Exit codes:

    0    success
    1    a failed execution, or an operational error (a store down, full or read-only)
    2    a usage or input error (arguments, settings, the user's module, a workflow's wiring)
    130  interrupted by Ctrl-C (the execution was aborted)
    143  stopped by SIGTERM (the execution can be resumed)

`slipstream -v ...` adds the internal traceback of the error.
"""

from __future__ import annotations

import traceback
from typing import IO, Any

import click

from slipstream.errors import (
    CompileError,
    ConfigError,
    DefinitionError,
    SlipstreamError,
    TypeTransformError,
)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class UserModuleError(SlipstreamError):
    """The user's file or module could not be imported; the message shows their frames only."""


# Errors in what the user gave us; every other SlipstreamError is operational (exit 1).
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    DefinitionError,
    CompileError,
    TypeTransformError,
    UserModuleError,
)


class CommandError(click.ClickException):
    """An operational SlipstreamError as click shows it: `error: message` on stderr, exit 1."""

    exit_code = EXIT_FAILED

    def show(self, file: IO[Any] | None = None) -> None:
        click.secho(f"error: {self.format_message()}", fg="red", err=True)


class InputCommandError(CommandError):
    """An error in what the user gave (settings, their module, a workflow's wiring): exit 2."""

    exit_code = EXIT_USAGE


def as_command_error(exc: SlipstreamError, verbose: int) -> CommandError:
    """The click exception for exc; with -v, its internal traceback goes to stderr first."""
    if verbose:
        click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
    kind = InputCommandError if isinstance(exc, INPUT_ERRORS) else CommandError
    return kind(str(exc))

"""The `slipstream` command: its group and subcommands; the console-script entry point."""

from __future__ import annotations

import gc
import logging
from typing import Any

import click

from slipstream import __version__
from slipstream.cli.audit import audit
from slipstream.cli.cache import cache
from slipstream.cli.errors import as_command_error
from slipstream.cli.executions import executions
from slipstream.cli.image import image
from slipstream.cli.k8s import k8s
from slipstream.cli.launch import launch
from slipstream.cli.launchplan import launchplan
from slipstream.cli.register import register
from slipstream.cli.run import run
from slipstream.cli.serve import serve
from slipstream.cli.tokens import token
from slipstream.errors import SlipstreamError
from slipstream.trace import mark


class SlipstreamGroup(click.Group):
    """Every subcommand's own errors end as one message and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SlipstreamError as exc:
            raise as_command_error(exc, ctx.params.get("verbose", 0)) from exc


@click.group(cls=SlipstreamGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slipstream")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More log output on stderr (-vv for debug); errors show their internal traceback.",
)
def cli(verbose: int) -> None:
    """slipstream: typed, cached, retryable workflows; any task on its own Dask cluster.

    Exit codes: 0 success; 1 a failed execution or an operational error; 2 a usage or input
    error; 130 interrupted by Ctrl-C (aborted); 143 stopped by SIGTERM (resumable).
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("slipstream").setLevel(min(level, logging.INFO))


cli.add_command(run)
cli.add_command(executions)
cli.add_command(cache)
cli.add_command(k8s)
cli.add_command(serve)
cli.add_command(register)
cli.add_command(launch)
cli.add_command(image)
cli.add_command(launchplan)
cli.add_command(token)
cli.add_command(audit)


def main() -> None:
    mark("cli imported")
    try:
        cli(prog_name="slipstream")
    finally:
        # The process ends now. Its last full collection would walk every object dask and
        # sqlalchemy made (~0.15 s); what needs closing its owner has closed.
        gc.freeze()

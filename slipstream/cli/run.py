"""`slipstream run FILE_OR_MODULE ENTITY --input value`: runs an entity with live progress."""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

import click

from slipstream.cli.context import engine as make_engine
from slipstream.cli.errors import EXIT_INTERRUPTED
from slipstream.cli.inputs import input_options
from slipstream.cli.loading import ENTITY_COMMAND_SETTINGS, entity_command_context
from slipstream.cli.output import report_outcome
from slipstream.cli.progress import Progress
from slipstream.cli.run_remote import remote_options, run_remote
from slipstream.cli.signals import Terminated, exit_resumable, sigterm_stops
from slipstream.compiler.registry import TransformContext
from slipstream.engine.ids import new_execution_id
from slipstream.engine.local import encode_inputs
from slipstream.errors import TypeTransformError

RUNNERS = ("inprocess", "process", "kubernetes")


def run_entity_command(entity: Any, info_name: str) -> click.Command:
    """A click command whose options are the entity's inputs, plus how to run it."""
    params: list[click.Parameter] = [
        *input_options(entity),
        click.Option(
            ["--json", "as_json"],
            is_flag=True,
            help="Print one JSON object {execution, phase, outputs} on the last line.",
        ),
        click.Option(
            ["--isolate"],
            is_flag=True,
            help="Run every attempt in its own process (the local-process runner).",
        ),
        click.Option(
            ["--backend"],
            type=click.Choice(RUNNERS),
            default=None,
            help="Where attempts run (default: the runner setting, inprocess).",
        ),
        *remote_options(),
    ]
    kind = "task" if entity.kind == "task" else "workflow"
    doc = (entity.function.__doc__ or "").strip().splitlines()
    return click.Command(
        info_name,
        params=params,
        callback=lambda **options: _execute(entity, options),
        help=f"Run the {kind} {entity.name}." + (f"\n\n{doc[0]}" if doc else ""),
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def _execute(entity: Any, options: dict[str, Any]) -> None:
    remote, abort_on_interrupt = options.pop("remote"), options.pop("abort_on_interrupt")
    as_json = options.pop("as_json")
    isolate = options.pop("isolate")
    backend = options.pop("backend")
    if remote is not None:  # "" = the server_url setting
        given = {name: value for name, value in options.items() if value is not None}
        run_remote(entity, given, remote, as_json, abort_on_interrupt)
        return
    runner = backend or ("process" if isolate else None)
    kwargs = {name: value for name, value in options.items() if value is not None}
    engine = make_engine(runner)
    ctx = TransformContext(blobs=engine.blobs, offload_threshold=engine.settings.offload_threshold)
    try:
        inputs = encode_inputs(entity, kwargs, ctx)
    except (TypeTransformError, TypeError) as exc:
        raise click.UsageError(str(exc)) from None
    entities = dict(getattr(entity, "entities", {}))
    entities[entity.name] = entity
    progress = Progress()
    engine.observer = progress
    started = time.monotonic()
    execution_id = new_execution_id()
    try:
        with sigterm_stops():
            outcome = engine.execute(
                entity.template,
                inputs,
                input_values=kwargs,
                source_root=entity.source_root,
                entities=entities,
                execution_id=execution_id,
            )
    except Terminated:
        progress.stop()
        exit_resumable(execution_id)
    except KeyboardInterrupt:
        progress.stop()
        click.secho(
            "interrupted: the execution was aborted and its attempts stopped", fg="red", err=True
        )
        sys.exit(EXIT_INTERRUPTED)
    finally:
        progress.stop()
    code = report_outcome(outcome, entity.template.interface, as_json, started)
    # The process's last full collection, now, while what ended attempts left running (a Dask
    # report's writer) finishes on the other core; main() freezes what is left.
    gc.collect()
    engine.close()  # after what ended attempts left running, bounded
    if code:
        sys.exit(code)


@click.command("run", context_settings=ENTITY_COMMAND_SETTINGS)
@click.argument("file_or_module", required=False)
@click.argument("entity", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line.")
@click.option("--isolate", is_flag=True, help="Run every attempt in its own process.")
@click.option("--backend", type=click.Choice(RUNNERS), default=None, help="Where attempts run.")
@click.option("--remote", "remote_flag", is_flag=True, help="Run it on the server (server_url).")
@click.pass_context
def run(
    ctx: click.Context,
    file_or_module: str | None,
    entity: str | None,
    as_json: bool,
    isolate: bool,
    backend: str | None,
    remote_flag: bool,
) -> None:
    """Run a task or workflow: slipstream run FILE_OR_MODULE ENTITY [--input value ...]

    Inputs are options named after the entity's parameters (--list-length 1000; the
    Flyte spelling --list_length works too); structured values are JSON.
    `slipstream run FILE ENTITY --help` lists the entity's inputs, types and defaults.
    """
    command, sub = entity_command_context(
        ctx, file_or_module, entity, run_entity_command, "slipstream run"
    )
    with sub:
        # --json/--isolate/--backend may come before FILE as well as after ENTITY
        sub.params["as_json"] = sub.params["as_json"] or as_json
        sub.params["isolate"] = sub.params["isolate"] or isolate
        sub.params["backend"] = sub.params["backend"] or backend
        if remote_flag and sub.params["remote"] is None:
            sub.params["remote"] = ""
        command.invoke(sub)

"""The body of `python -m slipstream.execute`: inputs.json in, outputs.json or error.json out."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from typing import Any

from slipstream.compiler.registry import TransformContext
from slipstream.config import load_settings
from slipstream.ir import LiteralMapDocument, encode
from slipstream.runners.attempt import (
    AttemptTerminated,
    call_task,
    decode_inputs,
    encode_values,
    error_document,
    load_task,
    log_dir_for,
    remove_scratch,
)
from slipstream.runners.bundle import unpack_bundle
from slipstream.runners.contract import (
    DYNAMIC,
    ENV_ATTEMPT,
    ENV_BLOB_URL,
    ENV_EXECUTION_ID,
    ENV_NODE_ID,
    ENV_OFFLOAD_THRESHOLD,
    ENV_ORPHANS_REAPED,
    ENV_SOURCE_ROOT,
    ERROR,
    OUTPUTS,
    RUNTIME,
)
from slipstream.sdk.dynamic import DynamicWorkflow
from slipstream.sdk.plugins import AttemptContext
from slipstream.storage.blobs import BlobStore
from slipstream.trace import mark
from slipstream.types import ErrorKind

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_TERMINATED = 143


@functools.cache
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m slipstream.execute")
    parser.add_argument("--task", required=True, help="MODULE:NAME of the task")
    parser.add_argument("--inputs", required=True, help="URI of inputs.json")
    parser.add_argument("--output-prefix", required=True, help="URI of the attempt's folder")
    parser.add_argument("--bundle", default="", help="URI of a code bundle to unpack first")
    return parser


def _terminate(signum: int, frame: Any) -> None:
    raise AttemptTerminated(f"terminated by signal {signum}")


def run_attempt_command(argv: list[str]) -> int:
    mark("attempt process ready")
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    blob_url = os.environ.get(ENV_BLOB_URL, "")
    threshold = os.environ.get(ENV_OFFLOAD_THRESHOLD, "")
    if blob_url and threshold:  # set by every runner: no need to read pyproject.toml again
        offload_threshold = int(threshold)
    else:
        settings = load_settings()
        blob_url, offload_threshold = settings.resolved_blob_url, settings.offload_threshold
    blobs = BlobStore(blob_url)
    prefix = args.output_prefix.rstrip("/")

    def fail(exc: BaseException, kind: ErrorKind) -> None:
        document = error_document(exc, kind)
        blobs.write_document(f"{prefix}/{ERROR}", document)
        print(f"{document.type}: {document.message}", file=sys.stderr)
        print(document.traceback, file=sys.stderr)

    try:
        if args.bundle:
            bundle_dir = unpack_bundle(blobs, args.bundle)
            sys.path.insert(0, bundle_dir)
            os.environ["SLIPSTREAM_BUNDLE_DIR"] = bundle_dir  # plugins ship it onwards (Dask)
        inputs = blobs.read_document(args.inputs, LiteralMapDocument)
    except Exception as exc:
        fail(exc, ErrorKind.SYSTEM)
        return EXIT_TASK_FAILED
    attempt: AttemptContext | None = None
    try:
        task = load_task(args.task, os.environ.get(ENV_SOURCE_ROOT, ""))
        mark("task imported")
        ctx = TransformContext(blobs=blobs, offload_threshold=offload_threshold)
        values = decode_inputs(
            task.template, task.interface.inputs, inputs.literals, task.registry, ctx
        )
        attempt = AttemptContext(
            execution_id=os.environ.get(ENV_EXECUTION_ID, ""),
            node_id=os.environ.get(ENV_NODE_ID, ""),
            attempt=int(os.environ.get(ENV_ATTEMPT, "1")),
            output_prefix=prefix,
            log_dir=log_dir_for(blobs.local_path(prefix)),
            orphans_reaped=os.environ.pop(ENV_ORPHANS_REAPED, "") == "1",  # ours, not inherited
        )

        def report(info: dict[str, Any]) -> None:
            blobs.write_bytes(f"{prefix}/{RUNTIME}", encode(info))

        outputs = call_task(task, values, attempt, report=report, transform=ctx)
        if isinstance(outputs, DynamicWorkflow):
            blobs.write_document(f"{prefix}/{DYNAMIC}", outputs.template)
            return EXIT_OK
        literals = encode_values(
            f"task {task.template.name!r}: output",
            task.interface.outputs,
            outputs,
            task.registry,
            ctx,
        )
        blobs.write_document(f"{prefix}/{OUTPUTS}", LiteralMapDocument(literals=literals))
        mark("outputs stored")
        return EXIT_OK
    except AttemptTerminated as exc:
        fail(exc, ErrorKind.SYSTEM)
        return EXIT_TERMINATED
    except BaseException as exc:
        fail(exc, ErrorKind.USER)
        return EXIT_TASK_FAILED
    finally:
        if attempt is not None:
            remove_scratch(attempt)

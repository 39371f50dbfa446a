"""The task execution contract (DESIGN §4) in one place: the command line, the file names, the
environment and the reading of an attempt's result; used by every runner and plugin launching
`python -m slipstream.execute`, and by `slipstream.execute` itself.
"""

from __future__ import annotations

from typing import Any

from slipstream.ir import ErrorDocument, LiteralMapDocument, WorkflowTemplate, decode
from slipstream.runners.base import AttemptResult
from slipstream.sdk.plugins import PluginAttempt
from slipstream.types import AttemptPhase

MODULE = "slipstream.execute"
INPUTS = "inputs.json"
OUTPUTS = "outputs.json"
ERROR = "error.json"
DYNAMIC = "dynamic.json"  # a @dynamic attempt's graph, written instead of outputs.json
RUNTIME = "runtime.json"  # runtime facts the attempt reports (e.g. a dashboard link)
LOG = "attempt.log"
RESULT_FILES = (OUTPUTS, DYNAMIC, ERROR)

ENV_EXECUTION_ID = "SLIPSTREAM_EXECUTION_ID"
ENV_NODE_ID = "SLIPSTREAM_NODE_ID"
ENV_ATTEMPT = "SLIPSTREAM_ATTEMPT"
ENV_SOURCE_ROOT = "SLIPSTREAM_SOURCE_ROOT"
ENV_BLOB_URL = "SLIPSTREAM_BLOB_URL"
ENV_OFFLOAD_THRESHOLD = "SLIPSTREAM_OFFLOAD_THRESHOLD"
# Set by the warm interpreter in an attempt whose orphans it adopts and waits for (bounded)
# before the engine ends: what the attempt leaves running after its result need not hold it up.
ENV_ORPHANS_REAPED = "SLIPSTREAM_ORPHANS_REAPED"


def execute_arguments(attempt: PluginAttempt) -> list[str]:
    """The arguments after `python -m slipstream.execute` for one attempt."""
    prefix = attempt.output_prefix
    arguments = [
        "--task",
        attempt.task.function,
        "--inputs",
        f"{prefix}/{INPUTS}",
        "--output-prefix",
        prefix,
    ]
    if attempt.bundle_uri:
        arguments += ["--bundle", attempt.bundle_uri]
    return arguments


def execute_command(attempt: PluginAttempt, python: str = "python") -> list[str]:
    """The whole command line a container (a Pod, a DaskJob's job runner) runs."""
    return [python, "-m", MODULE, *execute_arguments(attempt)]


def execute_environment(
    attempt: PluginAttempt, blob_url: str, offload_threshold: int
) -> dict[str, str]:
    """What `slipstream.execute` reads from its environment (the task's own comes first)."""
    env = {
        ENV_EXECUTION_ID: attempt.execution_id,
        ENV_NODE_ID: attempt.node_id,
        ENV_ATTEMPT: str(attempt.attempt),
        ENV_OFFLOAD_THRESHOLD: str(offload_threshold),
    }
    if blob_url:
        env[ENV_BLOB_URL] = blob_url
    return env


def write_inputs(blobs: Any, attempt: PluginAttempt, inputs: Any) -> None:
    """inputs.json of an attempt, under its output prefix."""
    blobs.write_document(f"{attempt.output_prefix}/{INPUTS}", LiteralMapDocument(literals=inputs))


def left_a_result(blobs: Any, prefix: str) -> bool:
    """True if the attempt under `prefix` wrote outputs, a graph or an error."""
    return any(blobs.exists(f"{prefix}/{name}") for name in RESULT_FILES)


def read_result(blobs: Any, prefix: str) -> AttemptResult | None:
    """What `slipstream.execute` wrote under the prefix, or None if it wrote nothing."""
    if blobs.exists(f"{prefix}/{OUTPUTS}"):
        document = decode(blobs.read_bytes(f"{prefix}/{OUTPUTS}"), LiteralMapDocument)
        return AttemptResult(AttemptPhase.SUCCEEDED, outputs=document.literals)
    if blobs.exists(f"{prefix}/{DYNAMIC}"):
        template = decode(blobs.read_bytes(f"{prefix}/{DYNAMIC}"), WorkflowTemplate)
        return AttemptResult(AttemptPhase.SUCCEEDED, workflow=template)
    if blobs.exists(f"{prefix}/{ERROR}"):
        error = decode(blobs.read_bytes(f"{prefix}/{ERROR}"), ErrorDocument)
        return AttemptResult(AttemptPhase.FAILED, error=error)
    return None

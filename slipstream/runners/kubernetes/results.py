"""An ended attempt's result from the blob store and what the cluster said; used by the runner."""

from __future__ import annotations

from typing import Any

from slipstream.ir import ErrorDocument, LiteralMapDocument, WorkflowTemplate, decode
from slipstream.runners.base import AttemptResult
from slipstream.runners.kubernetes.status import IMAGE_PULL_REASONS, Observation, reason_of
from slipstream.types import AttemptPhase, ErrorKind

RESULT_FILES = ("outputs.json", "dynamic.json", "error.json")


def read_result(blobs: Any, prefix: str) -> AttemptResult | None:
    """What `slipstream.execute` wrote under the prefix, or None if it wrote nothing."""
    if blobs.exists(f"{prefix}/outputs.json"):
        document = decode(blobs.read_bytes(f"{prefix}/outputs.json"), LiteralMapDocument)
        return AttemptResult(AttemptPhase.SUCCEEDED, outputs=document.literals)
    if blobs.exists(f"{prefix}/dynamic.json"):
        template = decode(blobs.read_bytes(f"{prefix}/dynamic.json"), WorkflowTemplate)
        return AttemptResult(AttemptPhase.SUCCEEDED, workflow=template)
    if blobs.exists(f"{prefix}/error.json"):
        error = decode(blobs.read_bytes(f"{prefix}/error.json"), ErrorDocument)
        return AttemptResult(AttemptPhase.FAILED, error=error)
    return None


def system_failure(type_name: str, message: str, *, recoverable: bool = True) -> AttemptResult:
    return AttemptResult(
        AttemptPhase.FAILED,
        error=ErrorDocument(
            kind=ErrorKind.SYSTEM.value,
            recoverable=recoverable,
            type=f"slipstream.{type_name}",
            message=message,
        ),
    )


def final_result(
    found: AttemptResult | None,
    failure: Observation | None,
    disruptions: list[str],
    what: str,
) -> AttemptResult:
    """Combine what the attempt wrote with what happened to its Pods.

    Outputs win. A Pod the cluster killed (OOM, eviction, preemption) is a system failure,
    also when the code then failed because of it. Then error.json; then the Pod's reason.
    """
    if found is not None and found.phase == AttemptPhase.SUCCEEDED:
        return found
    if failure is not None and not failure.recoverable:
        kind = "ImagePullError" if failure.reason in IMAGE_PULL_REASONS else "PodConfigError"
        return system_failure(kind, failure.message, recoverable=False)
    if disruptions:
        message = "; ".join(dict.fromkeys(disruptions))
        if found is not None and found.error is not None:
            message += f" (the task then failed with {found.error.type}: {found.error.message})"
        return system_failure(reason_of(disruptions[0]), message)
    if found is not None:
        return found
    if failure is not None:
        detail = failure.message or f"{what} failed ({failure.reason})"
        return system_failure(
            "AttemptDied", f"{detail}, without writing outputs.json or error.json"
        )
    return system_failure("AttemptDied", f"{what} ended without writing outputs.json or error.json")

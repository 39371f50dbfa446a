"""An ended attempt's result from the blob store and what the cluster said; used by the runner."""

from __future__ import annotations

from slipstream.errors import (
    AdmissionRefused,
    AttemptDied,
    Disrupted,
    Evicted,
    ImagePullError,
    KubernetesApiError,
    OOMKilled,
    PendingTooLong,
    PodConfigError,
    Preempted,
    SystemFailure,
)
from slipstream.ir import failures
from slipstream.runners.base import AttemptResult
from slipstream.runners.kubernetes.conditions import WAIT_REASONS, Waiting
from slipstream.runners.kubernetes.status import IMAGE_PULL_REASONS, Observation, reason_of
from slipstream.types import AttemptPhase

_DISRUPTIONS: dict[str, type[SystemFailure]] = {
    "OOMKilled": OOMKilled,
    "Evicted": Evicted,
    "Preempted": Preempted,
}


def system_failure(
    cls: type[SystemFailure], message: str, *, recoverable: bool = True
) -> AttemptResult:
    return AttemptResult(
        AttemptPhase.FAILED, error=failures.system_failure(message, cls, recoverable=recoverable)
    )


def waiting_failure(waiting: Waiting) -> AttemptResult:
    """An attempt that waited too long (recoverable) or was refused for good (not)."""
    if not waiting.permanent:
        return system_failure(PendingTooLong, f"{waiting.reason}: {waiting.message}")
    cls = KubernetesApiError if waiting.reason == "ApiRefused" else AdmissionRefused
    return system_failure(cls, waiting.message, recoverable=False)


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
    if failure is not None and failure.reason in WAIT_REASONS:
        return waiting_failure(
            Waiting(failure.reason, failure.message, permanent=not failure.recoverable)
        )
    if failure is not None and not failure.recoverable:
        kind = ImagePullError if failure.reason in IMAGE_PULL_REASONS else PodConfigError
        return system_failure(kind, failure.message, recoverable=False)
    if disruptions:
        message = "; ".join(dict.fromkeys(disruptions))
        if found is not None and found.error is not None:
            message += f" (the task then failed with {found.error.type}: {found.error.message})"
        return system_failure(_DISRUPTIONS.get(reason_of(disruptions[0]), Disrupted), message)
    if found is not None:
        return found
    if failure is not None:
        detail = failure.message or f"{what} failed ({failure.reason})"
        return system_failure(AttemptDied, f"{detail}, without writing outputs.json or error.json")
    return system_failure(AttemptDied, f"{what} ended without writing outputs.json or error.json")

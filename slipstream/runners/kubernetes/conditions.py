"""Why an attempt waits, from API refusals and Kubernetes events; pure, used by the follower.

A condition is transient (a full ResourceQuota, throttling, an operator handler that will
retry) or permanent (a Pod spec that admission rejects). The follower waits transient ones
out up to `pending_timeout` and fails permanent ones at once, naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Words of an API refusal that no retry will change (Pod Security admission, a webhook that
# denies, a spec the API finds invalid) — unless the refusal is about a quota.
_PERMANENT = (
    "violates podsecurity",
    "denied the request",
    "is invalid",
    "is forbidden",
    "forbidden:",
    "unsupported value",
    "not allowed",
)
# The reasons a Waiting has (Unschedulable, ImagePullBackOff and CrashLoopBackOff come from
# Pod statuses, status.waiting_reason).
WAIT_REASONS = frozenset(
    {
        "Unschedulable",
        "ImagePullBackOff",
        "CrashLoopBackOff",
        "ResourceQuota",
        "Throttled",
        "ApiUnavailable",
        "ApiRefused",
        "AdmissionRefused",
        "OperatorError",
    }
)


@dataclass(frozen=True)
class Waiting:
    """What holds an attempt back; `reason` is one word (it becomes the error's type)."""

    reason: str
    message: str
    permanent: bool = False


def _is_quota(text: str) -> bool:
    lowered = text.lower()
    return "exceeded quota" in lowered


def refusal(status: int, message: str, what: str) -> Waiting:
    """An API server's answer to creating `what` (e.g. "Pod x in namespace y")."""
    text = f"the API server refused to create {what}: {message}"
    if status == 403 and _is_quota(message):
        return Waiting("ResourceQuota", text)
    if status == 429:
        return Waiting("Throttled", text)
    if status in (0, 408) or status >= 500:
        return Waiting("ApiUnavailable", text)
    return Waiting("ApiRefused", text, permanent=True)


def _permanent(message: str) -> bool:
    lowered = message.lower()
    return not _is_quota(message) and any(word in lowered for word in _PERMANENT)


def event_waiting(event: dict[str, Any]) -> Waiting | None:
    """What a Warning (or kopf's Error) event says about a waiting attempt; None if nothing.

    FailedCreate: a controller (ReplicaSet, Job) could not create a Pod, e.g. admission
    refused it or a quota is full. Error: a kopf operator's handler failed (the
    dask-kubernetes operator posts these on the DaskJob); kopf retries it.
    """
    kind = str(event.get("type") or "")
    reason = str(event.get("reason") or "")
    message = str(event.get("message") or "").strip()
    involved = event.get("involvedObject") or {}
    about = f"{involved.get('kind', '?')} {involved.get('name', '?')}"
    if reason == "FailedCreate":
        if _is_quota(message):
            return Waiting("ResourceQuota", f"{about}: {message}")
        return Waiting("AdmissionRefused", f"{about}: {message}", permanent=_permanent(message))
    if kind in ("Error", "Fatal"):
        return Waiting(
            "OperatorError",
            f"the operator failed on {about}: {message}",
            permanent=kind == "Fatal" or _permanent(message),
        )
    return None


def event_key(event: dict[str, Any]) -> tuple[str, str]:
    """What changes when an event repeats: its count and when it was last seen."""
    return (
        str(event.get("count") or ""),
        str(event.get("lastTimestamp") or event.get("eventTime") or ""),
    )


def involves(event: dict[str, Any], name: str) -> bool:
    """The event is about `name` or one of the objects named after it (`<name>-...`)."""
    involved = str((event.get("involvedObject") or {}).get("name") or "")
    return involved == name or involved.startswith(f"{name}-")

"""Failures the test kubelet can inject, and the Pod statuses a real cluster reports for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .objects import now_iso

_MESSAGES = {
    "preempted": "Pod was preempted: node {node} (a spot instance) was reclaimed",
    "evicted": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 64Mi",
    "oomkilled": "",
}
_DISRUPTION = {"preempted": "PreemptionByScheduler", "evicted": "TerminationByKubelet"}


def pod_conditions(ready: bool, reason: str = "") -> list[dict[str, Any]]:
    """The Pod conditions a kubelet reports, all at once (a merge patch replaces lists)."""
    now = now_iso()
    state = {"status": "True" if ready else "False", "lastTransitionTime": now}
    if not ready:
        state["reason"] = reason
    return [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", **state},
        {"type": "Ready", **state},
    ]


@dataclass(frozen=True)
class Failure:
    """An infrastructure failure to inject: "preempted", "evicted" or "oomkilled"."""

    kind: str
    message: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _MESSAGES:
            raise ValueError(f"failure {self.kind!r}: expected one of {sorted(_MESSAGES)}")

    @property
    def pod_level(self) -> bool:
        """Preemption and eviction end the Pod; an OOM kill ends one container run."""
        return self.kind != "oomkilled"

    @classmethod
    def of(cls, failure: str | Failure) -> Failure:
        return failure if isinstance(failure, Failure) else cls(failure.lower())


def disruption_status(
    failure: Failure, node: str, pod: dict[str, Any] | None, exit_code: int | None
) -> dict[str, Any]:
    """The status of a Pod ended by preemption or eviction: phase Failed, status.reason and
    message set, a DisruptionTarget condition, its container terminated (137: SIGKILL)."""
    message = failure.message or _MESSAGES[failure.kind].format(node=node)
    status: dict[str, Any] = {
        "phase": "Failed",
        "reason": failure.kind.capitalize(),
        "message": message,
        "conditions": [
            *pod_conditions(False, "PodFailed"),
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": _DISRUPTION[failure.kind],
                "message": message,
                "lastTransitionTime": now_iso(),
            },
        ],
    }
    if pod is not None:
        statuses = pod.get("status", {}).get("containerStatuses") or [
            {"name": pod["spec"]["containers"][0]["name"], "restartCount": 0}
        ]
        terminated = {
            "exitCode": 137 if exit_code is None else exit_code,
            "reason": "Error",
            "finishedAt": now_iso(),
        }
        status["containerStatuses"] = [
            {**statuses[0], "ready": False, "started": False, "state": {"terminated": terminated}}
        ]
    return status

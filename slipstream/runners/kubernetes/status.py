"""What a Pod's or DaskJob's status means for an attempt; pure functions used by the runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slipstream.runners.kubernetes.conditions import Waiting

PENDING = "pending"
INITIALIZING = "initializing"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"

IMAGE_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
# The kubelet keeps retrying these; they clear (a registry's 429, a slow network) unless the
# registry said the image does not exist.
RETRIED_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})
_MISSING_IMAGE = ("not found", "manifest unknown", "does not exist", "name unknown")
# Pod-level reasons a node gives when it ends a Pod on its own account.
DISRUPTION_REASONS = frozenset(
    {
        "Evicted",
        "Preempted",
        "DeadlineExceeded",
        "Shutdown",
        "NodeShutdown",
        "NodeLost",
        "Terminated",
        "UnexpectedAdmissionError",
        "OutOfcpu",
        "OutOfmemory",
    }
)
JOB_INITIALIZING = frozenset({"", "JobCreated", "ClusterCreated"})


@dataclass(frozen=True)
class Observation:
    """An object's state as the attempt sees it; `reason`/`message` explain a failure."""

    state: str
    reason: str = ""
    message: str = ""
    recoverable: bool = True

    @property
    def terminal(self) -> bool:
        return self.state in (SUCCEEDED, FAILED)


def _name(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _images(pod: dict[str, Any]) -> dict[str, str]:
    spec = pod.get("spec") or {}
    return {
        c.get("name", ""): c.get("image", "")
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    }


def image_pull_failure(pod: dict[str, Any]) -> Observation | None:
    """A container whose image does not exist: fail fast, naming the image; retrying won't help.

    A pull that fails for another reason (throttling, a slow registry) is `waiting_reason`.
    """
    images = _images(pod)
    for status in _statuses(pod):
        waiting = (status.get("state") or {}).get("waiting") or {}
        reason, text = waiting.get("reason"), str(waiting.get("message") or "")
        if reason not in IMAGE_PULL_REASONS:
            continue
        if reason in RETRIED_PULL_REASONS and not any(m in text.lower() for m in _MISSING_IMAGE):
            continue
        image = status.get("image") or images.get(status.get("name", ""), "")
        detail = f": {text}" if text else ""
        return Observation(
            FAILED,
            reason=reason,
            message=f"Pod {_name(pod)} cannot pull image {image!r} ({reason}){detail}",
            recoverable=False,
        )
    return None


def waiting_reason(pod: dict[str, Any]) -> Waiting | None:
    """Why a Pod that is not running yet (or again) waits, if the cluster says: None if not.

    Unschedulable (with the scheduler's message), an image pull being retried, a container
    in CrashLoopBackOff. These may clear; the runner waits them out up to a bound.
    """
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            why = condition.get("reason") or "Unschedulable"
            message = condition.get("message") or ""
            text = f"Pod {_name(pod)} cannot be scheduled ({why})"
            return Waiting("Unschedulable", text + (f": {message}" if message else ""))
    images = _images(pod)
    for container in _statuses(pod):
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason, message = waiting.get("reason") or "", waiting.get("message") or ""
        if reason in RETRIED_PULL_REASONS:
            image = container.get("image") or images.get(container.get("name", ""), "")
            text = f"Pod {_name(pod)} is retrying to pull image {image!r} ({reason})"
            return Waiting("ImagePullBackOff", text + (f": {message}" if message else ""))
        if reason == "CrashLoopBackOff":
            last = (container.get("lastState") or {}).get("terminated") or {}
            code = f", last exit code {last['exitCode']}" if "exitCode" in last else ""
            return Waiting(
                "CrashLoopBackOff",
                f"Pod {_name(pod)}: container {container.get('name')!r} keeps crashing "
                f"(CrashLoopBackOff, {container.get('restartCount', 0)} restarts{code})",
            )
    return None


def config_failure(pod: dict[str, Any]) -> Observation | None:
    """A container Kubernetes cannot configure (a missing Secret): our setup is wrong."""
    for status in _statuses(pod):
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CreateContainerConfigError", "CreateContainerError"):
            return Observation(
                FAILED,
                reason=waiting["reason"],
                message=f"Pod {_name(pod)}: container {status.get('name')!r} cannot be created "
                f"({waiting['reason']}): {waiting.get('message', '')}".rstrip(": "),
                recoverable=False,
            )
    return None


def disruption(pod: dict[str, Any]) -> str:
    """Why the cluster (not the code) ended this Pod or one of its container runs: "" if not.

    OOMKilled (now or in a previous run), eviction, preemption, an active deadline.
    """
    status = pod.get("status") or {}
    reason = status.get("reason") or ""
    if reason in DISRUPTION_REASONS:
        message = status.get("message") or ""
        return f"Pod {_name(pod)} was {reason}" + (f": {message}" if message else "")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            what = condition.get("reason") or "disrupted"
            message = condition.get("message") or ""
            return f"Pod {_name(pod)} was disrupted ({what})" + (f": {message}" if message else "")
    for container in _statuses(pod):
        for key in ("state", "lastState"):
            terminated = (container.get(key) or {}).get("terminated") or {}
            if terminated.get("reason") == "OOMKilled":
                return (
                    f"Pod {_name(pod)}: container {container.get('name')!r} was OOMKilled "
                    f"(exit code {terminated.get('exitCode', 137)}; raise its memory limit)"
                )
    return ""


def reason_of(description: str) -> str:
    """The one-word reason inside a `disruption()` text (OOMKilled, Evicted, ...)."""
    for word in ("OOMKilled", *sorted(DISRUPTION_REASONS)):
        if word in description:
            return word
    return "Disrupted"


def _terminated(pod: dict[str, Any]) -> dict[str, Any]:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated:
            return {"container": container.get("name"), **terminated}
    return {}


def pod_observation(pod: dict[str, Any]) -> Observation:
    """Pod phase and container statuses -> pending / running / succeeded / failed."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase == "Succeeded":
        return Observation(SUCCEEDED)
    if phase == "Failed":
        described = disruption(pod)
        if described:
            return Observation(FAILED, reason=reason_of(described), message=described)
        terminated = _terminated(pod)
        if terminated:
            why = terminated.get("reason") or "Error"
            message = (
                f"Pod {_name(pod)}: container {terminated.get('container')!r} exited with "
                f"code {terminated.get('exitCode')} ({why})"
            )
            if terminated.get("message"):
                message += f": {terminated['message']}"
            return Observation(FAILED, reason=why, message=message)
        reason = status.get("reason") or "Failed"
        message = status.get("message") or "no container status"
        return Observation(
            FAILED, reason=reason, message=f"Pod {_name(pod)} failed ({reason}): {message}"
        )
    if phase == "Unknown":
        return Observation(RUNNING, reason="Unknown", message="the node stopped reporting")
    failure = image_pull_failure(pod) or config_failure(pod)
    if failure is not None:
        return failure
    if phase == "Running":
        return Observation(RUNNING)
    return Observation(PENDING)


def daskjob_observation(job: dict[str, Any]) -> Observation:
    """DESIGN §7: jobStatus "" / JobCreated / ClusterCreated -> initializing, Running ->
    running, Successful -> succeeded (read outputs.json or error.json), Failed -> failed (the
    runner Pod gives the reason)."""
    status = job.get("status") or {}
    job_status = status.get("jobStatus") or ""
    if job_status in JOB_INITIALIZING:
        return Observation(INITIALIZING)
    if job_status == "Running":
        return Observation(RUNNING)
    if job_status == "Successful":
        return Observation(SUCCEEDED)
    if job_status == "Failed":
        return Observation(
            FAILED,
            reason="DaskJobFailed",
            message=f"DaskJob {_name(job)} failed (jobStatus Failed)",
        )
    return Observation(
        INITIALIZING,
        reason=job_status,
        message=f"DaskJob {_name(job)} has an unknown jobStatus {job_status!r}",
    )

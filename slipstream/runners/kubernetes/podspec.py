"""What every Pod slipstream makes gets: privileges, pulls, placement; pure, for Pods and DaskJobs.

Used by pods.py (a plain task's Pod) and the Dask plugin (the DaskJob's runner, scheduler
and workers). Each function returns new dicts, so builders compose them.

- A "restricted"-compatible security context: non-root (`run_as_user`), no privilege
  escalation, every capability dropped, the runtime's default seccomp profile.
- An explicit `imagePullPolicy` (`image_pull_policy`; by default Always for a tag,
  IfNotPresent for a digest): a re-pushed tag otherwise runs different images on different
  nodes.
- The task service account (`task_service_account`, no API rights as `slipstream k8s
  manifests` makes it), its token not mounted unless `task_service_account_token`.
- Spot placement for interruptible attempts: `spot_node_selector` if set, else any of the
  spot labels GKE, EKS, AKS and Karpenter put on their nodes; tolerations for their taints.
  The last system retry avoids those nodes.
- GPU tolerations (`gpu_tolerations`) for Pods that ask for `nvidia.com/gpu`.
"""

from __future__ import annotations

from typing import Any

from slipstream.config import Settings
from slipstream.errors import ConfigError

GPU = "nvidia.com/gpu"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
# Istio injects a sidecar unless told not to; with one, a `restartPolicy: Never` Pod never
# reaches Succeeded (the proxy keeps running). Newer Istio reads the label, older the
# annotation; the dask-kubernetes operator sets the annotation on its own Pods.
NO_SIDECAR = {"sidecar.istio.io/inject": "false"}
# The labels cloud providers put on spot (preemptible) nodes, any of which marks one.
SPOT_LABELS = (
    ("cloud.google.com/gke-spot", "true"),  # GKE Spot VMs
    ("cloud.google.com/gke-preemptible", "true"),  # GKE preemptible VMs
    ("eks.amazonaws.com/capacityType", "SPOT"),  # EKS managed node groups
    ("karpenter.sh/capacity-type", "spot"),  # Karpenter (EKS and others)
    ("kubernetes.azure.com/scalesetpriority", "spot"),  # AKS spot node pools
    ("node.kubernetes.io/lifecycle", "spot"),  # kops, self-managed node groups
)


def container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def pod_security(settings: Settings) -> dict[str, Any]:
    context: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if settings.run_as_user:
        uid = settings.run_as_user
        context.update(runAsUser=uid, runAsGroup=uid, fsGroup=uid)
    return context


def pull_policy(settings: Settings, image: str) -> str:
    """The setting, or by default: Always for a tag (the kubelet resolves it to a digest and
    reuses cached layers, so every node runs what the tag names now), IfNotPresent for an
    image pinned by digest."""
    chosen = settings.image_pull_policy
    if chosen and chosen not in PULL_POLICIES:
        raise ConfigError(
            f"image_pull_policy={chosen!r} is not one of {', '.join(PULL_POLICIES)} "
            f'(or "" for Always with a tag, IfNotPresent with a digest)'
        )
    return chosen or ("IfNotPresent" if "@sha256:" in image else "Always")


def _wants_gpu(container: dict[str, Any]) -> bool:
    resources = container.get("resources") or {}
    return any(GPU in (resources.get(key) or {}) for key in ("requests", "limits"))


def harden(pod: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`pod` (a PodSpec) with the security context, pull policy, service account and GPU
    tolerations above; what it sets already wins."""
    out = dict(pod)
    containers = []
    for container in out.get("containers") or []:
        policy = pull_policy(settings, str(container.get("image") or ""))
        hardened = {"imagePullPolicy": policy, **container}
        hardened["securityContext"] = {
            **container_security(),
            **(container.get("securityContext") or {}),
        }
        containers.append(hardened)
    out["containers"] = containers
    out["securityContext"] = {**pod_security(settings), **(out.get("securityContext") or {})}
    if settings.task_service_account:
        out.setdefault("serviceAccountName", settings.task_service_account)
    out.setdefault("automountServiceAccountToken", settings.task_service_account_token)
    if any(_wants_gpu(c) for c in containers) and settings.gpu_tolerations:
        tolerations = list(out.get("tolerations") or [])
        tolerations += [dict(t) for t in settings.gpu_tolerations if t not in tolerations]
        out["tolerations"] = tolerations
    return out


def _affinity(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }


def spot_placement(settings: Settings, on_demand: bool) -> dict[str, Any]:
    """PodSpec fields of an interruptible attempt: on spot nodes, or (its last system retry,
    `on_demand`) off them."""
    chosen = dict(settings.spot_node_selector)
    if not on_demand:
        placement: dict[str, Any] = {}
        if chosen:
            placement["nodeSelector"] = chosen
        else:  # any provider's spot label (terms are ORed)
            placement["affinity"] = _affinity(
                [
                    {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}
                    for key, value in SPOT_LABELS
                ]
            )
        if settings.spot_tolerations:
            placement["tolerations"] = [dict(t) for t in settings.spot_tolerations]
        return placement
    pairs = chosen.items() if chosen else SPOT_LABELS
    expressions = [{"key": key, "operator": "NotIn", "values": [value]} for key, value in pairs]
    return {"affinity": _affinity([{"matchExpressions": expressions}])}


def with_placement(pod: dict[str, Any], placement: dict[str, Any]) -> dict[str, Any]:
    """`pod` with spot placement added (tolerations appended to its own)."""
    out = {**pod, **{k: v for k, v in placement.items() if k != "tolerations"}}
    if placement.get("tolerations"):
        out["tolerations"] = [*(pod.get("tolerations") or []), *placement["tolerations"]]
    return out

"""The runner's Pod rules on every PodSpec of a DaskJob's objects; pure, used by kubernetes.py.

The job runner, the scheduler and the workers (the default group's and each
DaskWorkerGroup's) get the security context, pull policy, task service account and GPU
tolerations of runners/kubernetes/podspec.py; only workers of an interruptible task get spot
placement (on spot nodes, or off them on the last system retry), so losing a spot node
costs workers, not the attempt.
"""

from __future__ import annotations

import copy
from typing import Any

from slipstream.config import Settings
from slipstream.runners.kubernetes.podspec import harden, spot_placement, with_placement


def _pod_specs(obj: dict[str, Any]) -> list[tuple[dict[str, Any], str, bool]]:
    """(holder, key, is_worker) of each PodSpec in a DaskJob or DaskWorkerGroup."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "DaskJob":
        cluster = spec["cluster"]["spec"]
        return [
            (spec["job"], "spec", False),
            (cluster["scheduler"], "spec", False),
            (cluster["worker"], "spec", True),
        ]
    if obj.get("kind") == "DaskWorkerGroup":
        return [(spec["worker"], "spec", True)]
    return []


def harden_daskjob(
    objects: list[dict[str, Any]], settings: Settings, *, spot: bool, on_demand: bool
) -> list[dict[str, Any]]:
    """Copies of `objects` (build_daskjob's) with every PodSpec hardened (see the docstring)."""
    out = copy.deepcopy(objects)
    placement = spot_placement(settings, on_demand) if spot else {}
    for obj in out:
        for holder, key, is_worker in _pod_specs(obj):
            pod = harden(holder[key], settings)
            holder[key] = with_placement(pod, placement) if is_worker and placement else pod
    return out

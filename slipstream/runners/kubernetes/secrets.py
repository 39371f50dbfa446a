"""A task's secrets on its Pods: env vars and files from Kubernetes Secrets; pure, for the builders.

Each `SecretSpec(group, key)` reads key `key` of the Kubernetes Secret named `group`: as the
env var SLIPSTREAM_SECRET_<GROUP>_<KEY> (mount "env"), or as the file
/etc/slipstream/secrets/<group>/<key> (mount "file"). Only names go into the objects.
"""

from __future__ import annotations

import re
from typing import Any

from slipstream.ir import SecretSpec
from slipstream.sdk.secrets import DIR_ENV, env_var_name

MOUNT_ROOT = "/etc/slipstream/secrets"


def _volume_name(group: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]", "-", group.lower()).strip("-")
    return f"secret-{cleaned}"[:63].rstrip("-")


def add_secrets(pod_spec: dict[str, Any], secrets: tuple[SecretSpec, ...]) -> None:
    """Give every container of a Pod spec the task's secrets (in place)."""
    if not secrets:
        return
    env = [
        {
            "name": env_var_name(s.group, s.key),
            "valueFrom": {"secretKeyRef": {"name": s.group, "key": s.key}},
        }
        for s in secrets
        if s.mount != "file"
    ]
    files: dict[str, list[str]] = {}
    for s in secrets:
        if s.mount == "file":
            files.setdefault(s.group, []).append(s.key)
    volumes = [
        {
            "name": _volume_name(group),
            "secret": {"secretName": group, "items": [{"key": k, "path": k} for k in keys]},
        }
        for group, keys in files.items()
    ]
    mounts = [
        {"name": _volume_name(group), "mountPath": f"{MOUNT_ROOT}/{group}", "readOnly": True}
        for group in files
    ]
    if files:
        env.append({"name": DIR_ENV, "value": MOUNT_ROOT})
        pod_spec["volumes"] = [*(pod_spec.get("volumes") or []), *volumes]
    for container in pod_spec.get("containers") or []:
        names = {item["name"] for item in env}
        kept = [item for item in container.get("env") or [] if item.get("name") not in names]
        container["env"] = [*kept, *env]
        if mounts:
            container["volumeMounts"] = [*(container.get("volumeMounts") or []), *mounts]


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The Pod specs inside an object: a Pod's; a DaskJob's runner, scheduler and workers';
    a DaskWorkerGroup's workers'."""
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "Pod":
        return [spec]
    found = []
    if kind == "DaskJob":
        found.append(spec.get("job", {}).get("spec"))
        cluster = spec.get("cluster", {}).get("spec", {})
        found.append(cluster.get("scheduler", {}).get("spec"))
        found.append(cluster.get("worker", {}).get("spec"))
    elif kind == "DaskWorkerGroup":
        found.append(spec.get("worker", {}).get("spec"))
    return [pod for pod in found if isinstance(pod, dict)]


def add_task_secrets(objects: list[dict[str, Any]], secrets: tuple[SecretSpec, ...]) -> None:
    """Every Pod an attempt creates gets the task's secrets (in place)."""
    for obj in objects:
        for pod in pod_specs(obj):
            add_secrets(pod, secrets)

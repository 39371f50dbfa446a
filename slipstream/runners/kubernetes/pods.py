"""What one attempt creates: a Pod, or its plugin's objects (a DaskJob...); pure, runner and CLI."""

from __future__ import annotations

import copy
from typing import Any

from slipstream.config import Settings
from slipstream.errors import ConfigError
from slipstream.ir import ResourceSpec, TaskTemplate
from slipstream.runners.base import AttemptSpec
from slipstream.runners.contract import ENV_SOURCE_ROOT, execute_command, execute_environment
from slipstream.runners.kubernetes.names import (
    attempt_annotations,
    attempt_labels,
    is_dns_label,
    pod_name,
)
from slipstream.runners.kubernetes.podspec import (
    NO_SIDECAR,
    harden,
    spot_placement,
    with_placement,
)
from slipstream.runners.kubernetes.secrets import add_task_secrets

CONTAINER = "attempt"
WATCHED_KINDS = ("Pod", "DaskJob")  # what the runner can follow to an outcome
_RESOURCE_NAMES = (
    ("cpu", "cpu"),
    ("mem", "memory"),
    ("gpu", "nvidia.com/gpu"),
    ("ephemeral_storage", "ephemeral-storage"),
)


def runner_env(spec: AttemptSpec, blob_url: str, offload_threshold: int) -> dict[str, str]:
    """The runner container's environment: the task's own, then what execute needs."""
    env = {**spec.task.environment, **execute_environment(spec, blob_url, offload_threshold)}
    if not spec.bundle_uri and spec.source_root:
        # No bundle: the image must hold the code, at the path the engine imported it from.
        env[ENV_SOURCE_ROOT] = spec.source_root
    return env


def container_resources(requests: ResourceSpec, limits: ResourceSpec) -> dict[str, dict[str, str]]:
    """A container's `resources` from the task's requests and limits."""
    out: dict[str, dict[str, str]] = {}
    for key, source in (("requests", requests), ("limits", limits)):
        values = {
            theirs: getattr(source, ours)
            for ours, theirs in _RESOURCE_NAMES
            if getattr(source, ours)
        }
        if values:
            out[key] = values
    # Extended resources (GPUs) cannot be overcommitted: Kubernetes wants them in limits.
    gpu = out.get("requests", {}).get("nvidia.com/gpu")
    if gpu and "nvidia.com/gpu" not in out.get("limits", {}):
        out.setdefault("limits", {})["nvidia.com/gpu"] = gpu
    return out


def task_image(task: TaskTemplate, settings: Settings) -> str:
    image = task.image or settings.image
    if not image:
        raise ConfigError(
            f"task {task.name!r} has no container image: set image= on the task or the image "
            "setting (SLIPSTREAM_IMAGE, or image in [tool.slipstream])"
        )
    return image


def _env_list(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": key, "value": str(value)} for key, value in env.items()]


def build_pod(
    spec: AttemptSpec,
    settings: Settings,
    *,
    image: str,
    command: list[str],
    labels: dict[str, str],
    env: dict[str, str],
    annotations: dict[str, str] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The Pod of one attempt of a plain task: `restartPolicy: Never`, one container."""
    name = name or pod_name(spec.execution_id, spec.node_id, spec.attempt)
    if not is_dns_label(name):
        raise ConfigError(f"Pod name {name!r} is not a DNS-1123 label of at most 63 characters")
    if not image:
        raise ConfigError(f"task {spec.task.name!r}: the Pod needs a container image")
    container: dict[str, Any] = {"name": CONTAINER, "image": image, "command": list(command)}
    if env:
        container["env"] = _env_list(env)
    if settings.blob_secret:
        container["envFrom"] = [{"secretRef": {"name": settings.blob_secret}}]
    resources = container_resources(spec.task.requests, spec.task.limits)
    if resources:
        container["resources"] = resources
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,  # keep the task's environment what it declared
        "containers": [container],
    }
    if spec.task.interruptible:
        pod_spec = with_placement(pod_spec, spot_placement(settings, spec.on_demand))
    pod_spec = harden(pod_spec, settings)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": settings.namespace,
        "labels": {**labels, **NO_SIDECAR},
        "annotations": {**(annotations or {}), **NO_SIDECAR},
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def _merge_env(container: dict[str, Any], env: dict[str, str]) -> None:
    kept = [item for item in container.get("env") or [] if item.get("name") not in env]
    container["env"] = [*kept, *_env_list(env)]


def _runner_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers that run `slipstream.execute` in a plugin's main object."""
    if obj.get("kind") == "Pod":
        return list(obj["spec"]["containers"])
    job = obj.get("spec", {}).get("job", {}).get("spec", {})  # a DaskJob's job runner
    return list(job.get("containers") or [])


def log_container(obj: dict[str, Any]) -> str:
    """The container whose log is the attempt's log: the first that runs slipstream.execute."""
    containers = _runner_containers(obj)
    return str(containers[0].get("name", "")) if containers else ""


def attempt_objects(
    spec: AttemptSpec,
    settings: Settings,
    plugins: Any,
    *,
    blob_url: str,
    offload_threshold: int,
) -> list[dict[str, Any]]:
    """Everything one attempt creates, the object to follow first: a Pod, or what the task's
    plugin returns (a DaskJob, then its DaskAutoscaler / DaskWorkerGroups)."""
    env = runner_env(spec, blob_url, offload_threshold)
    labels, annotations = attempt_labels(spec), attempt_annotations(spec)
    plugin = plugins.for_task_type(spec.task.task_type)
    objects = None
    if plugin is not None:
        objects = plugin.kubernetes_objects(
            spec.task, spec, settings.with_values(blob_url=blob_url)
        )
    if objects is None:
        image = task_image(spec.task, settings)
        pod = build_pod(
            spec,
            settings,
            image=image,
            command=execute_command(spec),
            labels=labels,
            env=env,
            annotations=annotations,
        )
        add_task_secrets([pod], spec.task.secrets)
        return [pod]
    objects = copy.deepcopy(list(objects))
    if not objects or objects[0].get("kind") not in WATCHED_KINDS:
        got = objects[0].get("kind") if objects else "nothing"
        raise ConfigError(
            f"task type {spec.task.task_type!r}: its plugin made {got!r} the main object; the "
            f"Kubernetes runner follows one of {', '.join(WATCHED_KINDS)}"
        )
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        metadata.setdefault("namespace", settings.namespace)
        metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
    containers = _runner_containers(objects[0])
    if not containers:
        raise ConfigError(f"task {spec.task.name!r}: its {objects[0]['kind']} has no container")
    for container in containers:
        _merge_env(container, env)
    add_task_secrets(objects, spec.task.secrets)
    return objects

"""The DaskJob (+ DaskAutoscaler, DaskWorkerGroups) of one attempt, as plain dicts; pure.

Called by DaskPlugin.kubernetes_objects for the Kubernetes runner and `slipstream k8s render`.
The dask-kubernetes operator turns a DaskJob into a runner Pod (our `python -m
slipstream.execute ...`), a scheduler Deployment + Service and a default worker group.
attempt_objects then applies the runner's Pod rules to every PodSpec (podspecs.py): security
context, pull policy, task service account, GPU tolerations, and spot placement for the
workers of interruptible tasks.
"""

from __future__ import annotations

from typing import Any

from slipstream.config import Settings
from slipstream.dask.config import Dask, WorkerGroup, config_from_json
from slipstream.dask.local import EXTERNAL_ENV
from slipstream.dask.podspecs import harden_daskjob
from slipstream.errors import ConfigError
from slipstream.ir import ResourceSpec, TaskTemplate
from slipstream.runners.contract import execute_command, execute_environment
from slipstream.runners.kubernetes.names import attempt_labels, attempt_name
from slipstream.runners.kubernetes.podspec import NO_SIDECAR
from slipstream.sdk.plugins import PluginAttempt
from slipstream.sdk.resources import Resources

API_VERSION = "kubernetes.dask.org/v1"
AUTOSCALED_GROUP_ENV = "SLIPSTREAM_DASK_AUTOSCALED_GROUP"  # read by slipstream.dask.protect
MAX_NAME = 53  # the operator derives longer names (and 63-character label values) from it
MAX_LABEL = 63
SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT = 8788
_RESOURCE_NAMES = (
    ("cpu", "cpu"),
    ("mem", "memory"),
    ("gpu", "nvidia.com/gpu"),
    ("ephemeral_storage", "ephemeral-storage"),
)


def job_name(execution_id: str, node_id: str, attempt: int, longest_group: int = 7) -> str:
    """`ss-<execution>-<node>-<attempt>-<hash>`: the runner's attempt name, <= 53 chars.

    "<name>-<group>" becomes the label value dask.org/workergroup-name (<= 63 characters).
    """
    limit = min(MAX_NAME, MAX_LABEL - 1 - longest_group)
    return attempt_name(
        execution_id, node_id, attempt, limit=limit, execution_chars=8, digest_chars=5
    )


def _quantity(value: Any) -> str:
    return str(value) if value is not None else ""


def k8s_resources(
    requests: Resources | ResourceSpec | None, limits: Resources | ResourceSpec | None
) -> dict[str, dict[str, str]]:
    """A container's `resources` from our names (cpu, mem, gpu, ephemeral_storage)."""
    out: dict[str, dict[str, str]] = {}
    for key, source in (("requests", requests), ("limits", limits)):
        values = {}
        for ours, theirs in _RESOURCE_NAMES:
            value = _quantity(getattr(source, ours, None)) if source is not None else ""
            if value:
                values[theirs] = value
        if values:
            out[key] = values
    # Extended resources (GPUs) cannot be overcommitted: Kubernetes needs them in limits.
    gpu = out.get("requests", {}).get("nvidia.com/gpu")
    if gpu and "nvidia.com/gpu" not in out.get("limits", {}):
        out.setdefault("limits", {})["nvidia.com/gpu"] = gpu
    return out


def _env_list(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": key, "value": str(value)} for key, value in env.items()]


def _container(
    name: str,
    image: str,
    command: list[str],
    env: dict[str, str],
    resources: dict[str, Any],
    env_from_secret: str = "",
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image, "command": command}
    if env:
        container["env"] = _env_list(env)
    if env_from_secret:
        container["envFrom"] = [{"secretRef": {"name": env_from_secret}}]
    if resources:
        container["resources"] = resources
    return container


def _worker_pod(
    group: WorkerGroup,
    *,
    image: str,
    env: dict[str, str],
    named: bool,
    spot: bool,
    selector: dict[str, str],
    tolerations: list[dict[str, Any]],
    service_account: str,
    env_from_secret: str,
) -> dict[str, Any]:
    memory = group.memory
    command = [
        "dask",
        "worker",
        "--nthreads",
        str(group.nthreads),
        "--memory-limit",
        str(memory) if memory is not None else "auto",
        "--name",
        "$(DASK_WORKER_NAME)",
        "--dashboard",
        "--dashboard-address",
        str(WORKER_DASHBOARD_PORT),
    ]
    if named:
        command += ["--resources", f"{group.name}=1"]
    container = _container(
        "worker",
        group.image or image,
        command,
        env,
        k8s_resources(group.requests, group.limits),
        env_from_secret,
    )
    container["ports"] = [
        {"name": "http-dashboard", "containerPort": WORKER_DASHBOARD_PORT, "protocol": "TCP"}
    ]
    pod: dict[str, Any] = {"containers": [container]}
    if service_account:
        pod["serviceAccountName"] = service_account
    if spot:
        if selector:
            pod["nodeSelector"] = dict(selector)
        if tolerations:
            pod["tolerations"] = [dict(toleration) for toleration in tolerations]
    return pod


def _health() -> dict[str, Any]:
    return {"httpGet": {"port": "http-dashboard", "path": "/health"}}


def _scheduler_pod(
    config: Dask, image: str, env: dict[str, str], protect_group: str = ""
) -> dict[str, Any]:
    command = [
        "dask",
        "scheduler",
        "--port",
        str(SCHEDULER_PORT),
        "--dashboard-address",
        f":{DASHBOARD_PORT}",
    ]
    if protect_group:  # the operator's autoscaler may retire the default group's workers only
        command += ["--preload", "slipstream.dask.protect"]
        env = {**env, AUTOSCALED_GROUP_ENV: protect_group}
    scheduler = config.scheduler
    container = _container(
        "scheduler",
        scheduler.image or image,
        command,
        env,
        k8s_resources(scheduler.requests, scheduler.limits),
    )
    container["ports"] = [
        {"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
        {"name": "http-dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
    ]
    container["readinessProbe"] = {**_health(), "initialDelaySeconds": 0, "periodSeconds": 1}
    container["livenessProbe"] = {**_health(), "initialDelaySeconds": 15, "periodSeconds": 20}
    return {"containers": [container]}


def build_daskjob(
    template: TaskTemplate,
    *,
    execution_id: str,
    node_id: str,
    attempt: int,
    command: list[str],
    image: str,
    namespace: str,
    labels: dict[str, str],
    env: dict[str, str],
    interruptible_selector: dict[str, str],
    interruptible_tolerations: list[dict[str, Any]],
    on_demand: bool = False,
    service_account: str = "",
    env_from_secret: str = "",
) -> list[dict[str, Any]]:
    """[DaskJob, DaskAutoscaler?, DaskWorkerGroup...] for one attempt of a Dask task.

    The task image runs the job runner, scheduler and workers unless Scheduler(image=) or
    WorkerGroup(image=) says otherwise. With `template.interruptible` (and not `on_demand`,
    the last system retry) workers get the spot node selector and tolerations; the runner
    and scheduler never do, so losing a spot node costs workers, not the attempt.
    """
    if template.task_type != "dask":
        raise ConfigError(
            f"task {template.name!r} has task type {template.task_type!r}, not 'dask'"
        )
    if not image:
        raise ConfigError(
            f"task {template.name!r} has no container image: set image= on the task "
            f"or the image setting (SLIPSTREAM_IMAGE)"
        )
    if not command:
        raise ConfigError(f"task {template.name!r}: the job runner needs a command")
    config = config_from_json(template.config)
    groups = config.groups
    named = len(groups) > 1
    name = job_name(execution_id, node_id, attempt, max(len(g.name) for g in groups))
    container_env = {**template.environment, **env}
    spot = template.interruptible and not on_demand

    def metadata(object_name: str) -> dict[str, Any]:
        return {"name": object_name, "namespace": namespace, "labels": dict(labels)}

    def pod_metadata() -> dict[str, Any]:
        return {"labels": {**labels, **NO_SIDECAR}, "annotations": dict(NO_SIDECAR)}

    runner = _container(
        "job",
        image,
        list(command),
        {**container_env, EXTERNAL_ENV: "1"},
        k8s_resources(template.requests, template.limits),
        env_from_secret,
    )
    runner_pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [runner]}
    if service_account:
        runner_pod["serviceAccountName"] = service_account

    def worker_pod(group: WorkerGroup) -> dict[str, Any]:
        return _worker_pod(
            group,
            image=image,
            env=container_env,
            named=named,
            spot=spot,
            selector=interruptible_selector,
            tolerations=interruptible_tolerations,
            service_account=service_account,
            env_from_secret=env_from_secret,
        )

    default = groups[0]
    daskjob = {
        "apiVersion": API_VERSION,
        "kind": "DaskJob",
        "metadata": metadata(name),
        "spec": {
            "job": {"metadata": pod_metadata(), "spec": runner_pod},
            "cluster": {
                "spec": {
                    "scheduler": {
                        "metadata": pod_metadata(),
                        "spec": _scheduler_pod(
                            config,
                            image,
                            container_env,
                            groups[0].name if named and groups[0].adaptive else "",
                        ),
                        "service": {
                            "type": "ClusterIP",
                            "selector": {
                                "dask.org/cluster-name": name,
                                "dask.org/component": "scheduler",
                            },
                            "ports": [
                                {
                                    "name": "tcp-comm",
                                    "protocol": "TCP",
                                    "port": SCHEDULER_PORT,
                                    "targetPort": "tcp-comm",
                                },
                                {
                                    "name": "http-dashboard",
                                    "protocol": "TCP",
                                    "port": DASHBOARD_PORT,
                                    "targetPort": "http-dashboard",
                                },
                            ],
                        },
                    },
                    "worker": {
                        "replicas": default.initial_workers,
                        "metadata": pod_metadata(),
                        "spec": worker_pod(default),
                    },
                }
            },
        },
    }
    objects: list[dict[str, Any]] = [daskjob]
    if default.adaptive:
        low, high = default.bounds
        objects.append(
            {
                "apiVersion": API_VERSION,
                "kind": "DaskAutoscaler",
                "metadata": metadata(name),
                "spec": {"cluster": name, "minimum": low, "maximum": high},
            }
        )
    for group in groups[1:]:
        objects.append(
            {
                "apiVersion": API_VERSION,
                "kind": "DaskWorkerGroup",
                "metadata": metadata(f"{name}-{group.name}"),
                "spec": {
                    "cluster": name,
                    "worker": {
                        "replicas": group.number_of_workers,
                        "metadata": pod_metadata(),
                        "spec": worker_pod(group),
                    },
                },
            }
        )
    return objects


def attempt_objects(
    template: TaskTemplate, attempt: PluginAttempt, settings: Settings
) -> list[dict[str, Any]]:
    """build_daskjob for an attempt, named, labelled and launched as the Kubernetes runner's."""
    env = execute_environment(attempt, settings.blob_url, settings.offload_threshold)
    objects = build_daskjob(
        template,
        execution_id=attempt.execution_id,
        node_id=attempt.node_id,
        attempt=attempt.attempt,
        command=execute_command(attempt),
        image=template.image or settings.image,
        namespace=settings.namespace,
        labels=attempt_labels(attempt),
        env=env,
        interruptible_selector={},  # placed by harden_daskjob, for every provider
        interruptible_tolerations=[],
        on_demand=attempt.on_demand,
        service_account=settings.task_service_account,
        env_from_secret=settings.blob_secret,
    )
    return harden_daskjob(
        objects, settings, spot=template.interruptible, on_demand=attempt.on_demand
    )

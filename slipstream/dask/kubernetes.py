"""The DaskJob (+ DaskAutoscaler, DaskWorkerGroups) of one attempt, as plain dicts; pure.

Called by DaskPlugin.kubernetes_objects for the Kubernetes runner and `slipstream k8s render`.
The dask-kubernetes operator turns a DaskJob into a runner Pod (our `python -m
slipstream.execute ...`), a scheduler Deployment + Service and a default worker group.
Interruptible tasks put their workers on spot nodes with Settings.spot_node_selector and
spot_tolerations (default: node selector `node.kubernetes.io/lifecycle: spot` and a NoSchedule
toleration for it; SLIPSTREAM_SPOT_NODE_SELECTOR / SLIPSTREAM_SPOT_TOLERATIONS as JSON).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from slipstream.dask.config import Dask, WorkerGroup, config_from_json
from slipstream.dask.local import EXTERNAL_ENV
from slipstream.errors import ConfigError
from slipstream.ir import ResourceSpec, TaskTemplate
from slipstream.sdk.resources import Resources

API_VERSION = "kubernetes.dask.org/v1"
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
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def _dns(text: str) -> str:
    return re.sub(r"-{2,}", "-", _NOT_DNS.sub("-", text.lower())).strip("-")


def job_name(execution_id: str, node_id: str, attempt: int, longest_group: int = 7) -> str:
    """`ss-<execution>-<node>-<attempt>-<hash>`: DNS-1123, unique per attempt, <= 53 chars.

    The hash covers the full ids, so truncating them keeps names apart; it is deterministic so
    that creating the same attempt's DaskJob twice conflicts instead of running it twice.
    """
    digest = hashlib.sha256(f"{execution_id}\0{node_id}\0{attempt}".encode()).hexdigest()[:5]
    # "<name>-<group>" becomes the label value dask.org/workergroup-name (<= 63 characters).
    limit = min(MAX_NAME, MAX_LABEL - 1 - longest_group)
    execution = _dns(execution_id)[:8].strip("-") or "x"
    fixed = f"ss-{execution}--{attempt}-{digest}"
    node = _dns(node_id)[: max(0, limit - len(fixed))].strip("-")
    parts = (
        ["ss", execution, node, str(attempt), digest]
        if node
        else ["ss", execution, str(attempt), digest]
    )
    name = "-".join(parts)
    return name[:limit].strip("-")


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


def _scheduler_pod(config: Dask, image: str, env: dict[str, str]) -> dict[str, Any]:
    command = [
        "dask",
        "scheduler",
        "--port",
        str(SCHEDULER_PORT),
        "--dashboard-address",
        f":{DASHBOARD_PORT}",
    ]
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
        return {"labels": dict(labels)}

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
                        "spec": _scheduler_pod(config, image, container_env),
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


_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(text: str) -> str:
    """A Kubernetes label value: at most 63 characters, alphanumeric at both ends."""
    return _LABEL_VALUE.sub("-", text)[:MAX_LABEL].strip("-_.")


def attempt_command(template: TaskTemplate, attempt: Any) -> list[str]:
    """The task execution contract (DESIGN §4) for an AttemptSpec."""
    command = [
        "python",
        "-m",
        "slipstream.execute",
        "--task",
        template.function,
        "--inputs",
        f"{attempt.output_prefix}/inputs.json",
        "--output-prefix",
        attempt.output_prefix,
    ]
    if getattr(attempt, "bundle_uri", ""):
        command += ["--bundle", attempt.bundle_uri]
    return command


def attempt_objects(template: TaskTemplate, attempt: Any, settings: Any) -> list[dict[str, Any]]:
    """build_daskjob for an AttemptSpec (runners/base.py) and Settings (slipstream.config)."""
    labels = {
        "app.kubernetes.io/managed-by": "slipstream",
        "slipstream.io/execution": label_value(attempt.execution_id),
        "slipstream.io/node": label_value(attempt.node_id),
        "slipstream.io/attempt": str(attempt.attempt),
    }
    # What every runner hands its attempt (see runners/process.py and runners/entrypoint.py).
    env = {
        "SLIPSTREAM_EXECUTION_ID": attempt.execution_id,
        "SLIPSTREAM_NODE_ID": attempt.node_id,
        "SLIPSTREAM_ATTEMPT": str(attempt.attempt),
        "SLIPSTREAM_OFFLOAD_THRESHOLD": str(settings.offload_threshold),
    }
    if settings.blob_url:
        env["SLIPSTREAM_BLOB_URL"] = settings.blob_url
    return build_daskjob(
        template,
        execution_id=attempt.execution_id,
        node_id=attempt.node_id,
        attempt=attempt.attempt,
        command=attempt_command(template, attempt),
        image=template.image or settings.image,
        namespace=settings.namespace,
        labels=labels,
        env=env,
        interruptible_selector=dict(settings.spot_node_selector),
        interruptible_tolerations=list(settings.spot_tolerations),
        on_demand=attempt.on_demand,
        service_account=settings.service_account,
        env_from_secret=settings.blob_secret,
    )

"""build_daskjob: DaskJob manifests validated against the dask-kubernetes CRDs and Kubernetes."""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import dask_kubernetes
import jsonschema
import kubernetes_validate
import pytest
import yaml
from dask_kubernetes.constants import VALID_CLUSTER_NAME

from slipstream.config import Settings
from slipstream.dask import Dask, Scheduler, WorkerGroup, build_daskjob, plugin
from slipstream.dask.config import config_to_json
from slipstream.dask.kubernetes import job_name, k8s_resources
from slipstream.dask.local import EXTERNAL_ENV
from slipstream.errors import ConfigError
from slipstream.ir import ResourceSpec, TaskTemplate, TypedInterface
from slipstream.runners.base import AttemptSpec
from slipstream.sdk.resources import Resources

CRDS = (
    Path(dask_kubernetes.__file__).parent / "operator/deployment/helm/dask-kubernetes-operator/crds"
)
# Oldest and newest Kubernetes schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.25", "1.37")
SPOT_SELECTOR = {"node.kubernetes.io/lifecycle": "spot"}
SPOT_TOLERATIONS = [
    {"key": "node.kubernetes.io/lifecycle", "operator": "Equal", "value": "spot",
     "effect": "NoSchedule"}
]  # fmt: skip
COMMAND = ["python", "-m", "slipstream.execute", "--task", "wf:prepare", "--inputs", "x"]


def _structural(schema: Any) -> Any:
    """The schema as an API server applies it: fields it does not declare are pruned.

    Forbidding them instead makes a field the server would silently drop a test failure.
    """
    if isinstance(schema, dict):
        out = {key: _structural(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_structural(item) for item in schema]
    return schema


@functools.cache
def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((CRDS / f"{kind.lower()}.yaml").read_text(), Loader=loader)
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = crd["spec"]["versions"]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    schema["properties"].update(
        apiVersion={"type": "string", "enum": [f"{crd['spec']['group']}/v1"]},
        kind={"type": "string", "enum": [kind]},
        metadata={"type": "object"},
    )
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return jsonschema.Draft7Validator(_structural(schema))


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]
    if obj["kind"] == "DaskJob":
        cluster = spec["cluster"]["spec"]
        return [spec["job"]["spec"], cluster["scheduler"]["spec"], cluster["worker"]["spec"]]
    if obj["kind"] == "DaskWorkerGroup":
        return [spec["worker"]["spec"]]
    return []


def validate(objects: list[dict[str, Any]]) -> None:
    """Every object against its CRD; every embedded PodSpec as a Pod, strictly."""
    for obj in objects:
        crd_validator(obj["kind"]).validate(obj)
        for index, spec in enumerate(pod_specs(obj)):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"{obj['metadata']['name']}-{index}"},
                "spec": spec,
            }
            for version in KUBERNETES_VERSIONS:
                kubernetes_validate.validate(pod, desired_version=version, strict=True)


def template(config: Dask, **kwargs: Any) -> TaskTemplate:
    return TaskTemplate(
        name="wf.prepare",
        function="wf:prepare",
        interface=TypedInterface(),
        task_type="dask",
        config=config_to_json(config),
        **kwargs,
    )


def build(task: TaskTemplate, **kwargs: Any) -> list[dict[str, Any]]:
    arguments: dict[str, Any] = {
        "execution_id": "f3a9c2d1e0b47788",
        "node_id": "n0",
        "attempt": 1,
        "command": COMMAND,
        "image": "registry.example/wf:1",
        "namespace": "pipelines",
        "labels": {"app.kubernetes.io/managed-by": "slipstream", "team": "data"},
        "env": {"SLIPSTREAM_BLOB_URL": "s3://bucket/root"},
        "interruptible_selector": SPOT_SELECTOR,
        "interruptible_tolerations": SPOT_TOLERATIONS,
    }
    arguments.update(kwargs)
    objects = build_daskjob(task, **arguments)
    validate(objects)
    return objects


def seed() -> Dask:
    return Dask(
        scheduler=Scheduler(requests=Resources(cpu="2")),
        workers=WorkerGroup(number_of_workers=4, limits=Resources(cpu="8", mem="32Gi")),
    )


def containers(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["containers"]
    return dict(container)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


VARIANTS = {
    "seed": (seed(), {}),
    "defaults": (Dask(), {}),
    "interruptible": (seed(), {"interruptible": True}),
    "adaptive": (Dask(workers=WorkerGroup(number_of_workers=2, min_workers=1, max_workers=8)), {}),
    "groups": (
        Dask(
            scheduler=Scheduler(image="sched:2", limits=Resources(cpu="1", mem="2Gi")),
            workers=[
                WorkerGroup(number_of_workers=3, min_workers=0, max_workers=10),
                WorkerGroup(
                    name="gpu",
                    image="gpu-image:1",
                    requests=Resources(gpu="1", ephemeral_storage="20Gi"),
                    limits=Resources(cpu="4", mem="16Gi"),
                ),
                WorkerGroup(name="highmem", number_of_workers=2, limits=Resources(mem="64Gi")),
            ],
        ),
        {"interruptible": True, "environment": {"MODEL": "big"}},
    ),
    "task resources": (
        Dask(),
        {"requests": ResourceSpec(cpu="500m", mem="1Gi"), "limits": ResourceSpec(mem="2Gi")},
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("on_demand", [False, True])
def test_every_variant_is_valid_for_the_operator_and_kubernetes(
    variant: str, on_demand: bool
) -> None:
    config, kwargs = VARIANTS[variant]
    objects = build(template(config, **kwargs), on_demand=on_demand)
    kinds = [obj["kind"] for obj in objects]
    assert kinds[0] == "DaskJob"
    groups = config.groups
    assert kinds.count("DaskAutoscaler") == (1 if groups[0].adaptive else 0)
    assert kinds.count("DaskWorkerGroup") == len(groups) - 1
    for obj in objects:
        assert obj["metadata"]["namespace"] == "pipelines"
        assert obj["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "slipstream",
            "team": "data",
        }


def test_the_validation_catches_what_an_api_server_would_prune() -> None:
    (job,) = build(template(Dask()))
    broken = copy.deepcopy(job)
    broken["spec"]["cluster"]["metadata"] = {"labels": {"dropped": "by the server"}}
    with pytest.raises(jsonschema.ValidationError):
        validate([broken])
    broken = copy.deepcopy(job)
    broken["spec"]["job"]["spec"]["containers"][0]["restartPolicyy"] = "Never"
    with pytest.raises(jsonschema.ValidationError):
        validate([broken])
    broken = copy.deepcopy(job)
    broken["spec"]["job"]["spec"]["containers"][0]["env"] = {"A": "1"}
    with pytest.raises(jsonschema.ValidationError):
        validate([broken])


def test_seed_daskjob_shape() -> None:
    (job,) = build(template(seed()))
    name = job["metadata"]["name"]
    assert job["apiVersion"] == "kubernetes.dask.org/v1"
    runner_pod = job["spec"]["job"]["spec"]
    cluster = job["spec"]["cluster"]["spec"]

    # The job runner runs the task execution contract, once.
    assert runner_pod["restartPolicy"] == "Never"
    runner = containers(runner_pod)
    assert runner["command"] == COMMAND
    assert runner["image"] == "registry.example/wf:1"
    assert env_of(runner) == {"SLIPSTREAM_BLOB_URL": "s3://bucket/root", EXTERNAL_ENV: "1"}
    assert "DASK_SCHEDULER_ADDRESS" not in env_of(runner)  # the operator injects it

    # The scheduler: `dask scheduler`, its Service selecting it.
    scheduler = containers(cluster["scheduler"]["spec"])
    assert scheduler["command"][:2] == ["dask", "scheduler"]
    assert scheduler["image"] == "registry.example/wf:1"
    assert scheduler["resources"] == {"requests": {"cpu": "2"}}
    assert {p["name"]: p["containerPort"] for p in scheduler["ports"]} == {
        "tcp-comm": 8786,
        "http-dashboard": 8787,
    }
    service = cluster["scheduler"]["service"]
    assert service["selector"] == {
        "dask.org/cluster-name": name,
        "dask.org/component": "scheduler",
    }
    assert {(p["name"], p["port"], p["targetPort"]) for p in service["ports"]} == {
        ("tcp-comm", 8786, "tcp-comm"),
        ("http-dashboard", 8787, "http-dashboard"),
    }

    # Workers: `dask worker --nthreads N --memory-limit M`, as many as asked.
    worker_group = cluster["worker"]
    assert worker_group["replicas"] == 4
    worker = containers(worker_group["spec"])
    assert worker["image"] == "registry.example/wf:1"
    command = worker["command"]
    assert command[:2] == ["dask", "worker"]
    assert command[command.index("--nthreads") + 1] == "8"
    assert command[command.index("--memory-limit") + 1] == str(32 * 2**30)
    assert command[command.index("--name") + 1] == "$(DASK_WORKER_NAME)"
    assert "--resources" not in command
    assert worker["resources"] == {"limits": {"cpu": "8", "memory": "32Gi"}}
    assert not any("dask-worker" in part or "dask-scheduler" in part for part in command)

    # Labels on the DaskJob and every pod template; no spot placement for a plain task.
    for pod_template in (job["spec"]["job"], cluster["scheduler"], worker_group):
        assert pod_template["metadata"]["labels"]["team"] == "data"
    for pod in pod_specs(job):
        assert "nodeSelector" not in pod and "tolerations" not in pod


def test_defaults_leave_memory_to_the_worker() -> None:
    (job,) = build(template(Dask()))
    worker_group = job["spec"]["cluster"]["spec"]["worker"]
    assert worker_group["replicas"] == 1
    worker = containers(worker_group["spec"])
    command = worker["command"]
    assert command[command.index("--nthreads") + 1] == "1"
    assert command[command.index("--memory-limit") + 1] == "auto"
    assert "resources" not in worker


def test_interruptible_puts_workers_only_on_spot_nodes_until_the_on_demand_retry() -> None:
    task = template(VARIANTS["groups"][0], interruptible=True)
    objects = build(task)
    job, _autoscaler, *groups = objects
    cluster = job["spec"]["cluster"]["spec"]
    worker_pods = [cluster["worker"]["spec"], *(g["spec"]["worker"]["spec"] for g in groups)]
    for pod in worker_pods:
        assert pod["nodeSelector"] == SPOT_SELECTOR
        assert pod["tolerations"] == SPOT_TOLERATIONS
    for pod in (job["spec"]["job"]["spec"], cluster["scheduler"]["spec"]):
        assert "nodeSelector" not in pod and "tolerations" not in pod

    job, _autoscaler, *groups = build(task, on_demand=True)
    for pod in pod_specs(job) + [p for g in groups for p in pod_specs(g)]:
        assert "nodeSelector" not in pod and "tolerations" not in pod

    custom = build(
        task,
        interruptible_selector={"cloud.google.com/gke-spot": "true"},
        interruptible_tolerations=[{"key": "spot", "operator": "Exists"}],
    )
    worker = custom[0]["spec"]["cluster"]["spec"]["worker"]["spec"]
    assert worker["nodeSelector"] == {"cloud.google.com/gke-spot": "true"}
    assert worker["tolerations"] == [{"key": "spot", "operator": "Exists"}]


def test_adaptive_default_group_adds_a_daskautoscaler() -> None:
    job, autoscaler = build(template(VARIANTS["adaptive"][0]))
    name = job["metadata"]["name"]
    assert autoscaler["kind"] == "DaskAutoscaler"
    assert autoscaler["spec"] == {"cluster": name, "minimum": 1, "maximum": 8}
    assert job["spec"]["cluster"]["spec"]["worker"]["replicas"] == 2


def test_extra_groups_become_daskworkergroups_with_their_own_shape() -> None:
    config, kwargs = VARIANTS["groups"]
    job, autoscaler, gpu, highmem = build(template(config, **kwargs))
    name = job["metadata"]["name"]
    assert autoscaler["spec"] == {"cluster": name, "minimum": 0, "maximum": 10}
    assert job["spec"]["cluster"]["spec"]["worker"]["replicas"] == 3

    scheduler = containers(job["spec"]["cluster"]["spec"]["scheduler"]["spec"])
    assert scheduler["image"] == "sched:2"
    assert scheduler["resources"] == {"limits": {"cpu": "1", "memory": "2Gi"}}
    assert env_of(scheduler)["MODEL"] == "big"

    assert gpu["metadata"]["name"] == f"{name}-gpu"
    assert gpu["spec"]["cluster"] == name
    assert gpu["spec"]["worker"]["replicas"] == 1
    worker = containers(gpu["spec"]["worker"]["spec"])
    assert worker["image"] == "gpu-image:1"
    command = worker["command"]
    assert command[command.index("--resources") + 1] == "gpu=1"
    assert command[command.index("--nthreads") + 1] == "4"
    assert command[command.index("--memory-limit") + 1] == str(16 * 2**30)
    # A GPU asked for in requests is also a limit: Kubernetes cannot overcommit GPUs.
    assert worker["resources"] == {
        "requests": {"nvidia.com/gpu": "1", "ephemeral-storage": "20Gi"},
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
    }
    assert env_of(worker) == {"SLIPSTREAM_BLOB_URL": "s3://bucket/root", "MODEL": "big"}

    assert highmem["metadata"]["name"] == f"{name}-highmem"
    assert highmem["spec"]["worker"]["replicas"] == 2
    hm = containers(highmem["spec"]["worker"]["spec"])
    assert hm["image"] == "registry.example/wf:1"
    assert hm["command"][hm["command"].index("--resources") + 1] == "highmem=1"

    # The default group can be targeted too once there are several.
    default = containers(job["spec"]["cluster"]["spec"]["worker"]["spec"])
    assert default["command"][default["command"].index("--resources") + 1] == "default=1"


def test_task_resources_go_to_the_job_runner() -> None:
    config, kwargs = VARIANTS["task resources"]
    (job,) = build(template(config, **kwargs))
    runner = containers(job["spec"]["job"]["spec"])
    assert runner["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "2Gi"},
    }


NAME_CASES = [
    ("f3a9c2d1e0b47788", "n0", 1),
    ("f3a9c2d1e0b47788", "n0", 2),
    ("f3a9c2d1e0b47788", "n1", 1),
    ("f3a9c2d1ffffffff", "n0", 1),
    ("EXEC_with.Odd/chars", "Node__ID.x", 3),
    ("e" * 80, "n" * 80 + "-a", 1),
    ("e" * 80, "n" * 80 + "-b", 1),
    ("x", "----", 12),
    ("x", "", 7),
]


def test_names_are_valid_unique_per_attempt_and_stable() -> None:
    names = [job_name(*case) for case in NAME_CASES]
    assert len(set(names)) == len(names)
    for name in names:
        assert VALID_CLUSTER_NAME.match(name), name
        assert len(name) <= 53
        assert name.startswith("ss-")
    assert job_name(*NAME_CASES[0]) == names[0]
    assert re.fullmatch(r"ss-f3a9c2d1-n0-1-[0-9a-f]{5}", names[0])


def test_names_leave_room_for_long_group_names_in_label_values() -> None:
    config = Dask(workers=[WorkerGroup(), WorkerGroup(name="a-long-group-name-20")])
    job, group = build(
        template(config), execution_id="e" * 40, node_id="a-very-long-node-name-" * 4
    )
    for name in (f"{job['metadata']['name']}-default", group["metadata"]["name"]):
        # The operator labels worker Pods with dask.org/workergroup-name: <this name>.
        assert len(name) <= 63, name


def test_operator_builds_valid_objects_from_our_daskjob() -> None:
    """Run the operator's own builders on our DaskJob, as its handlers would."""
    controller = pytest.importorskip("dask_kubernetes.operator.controller.controller")
    config, kwargs = VARIANTS["groups"]
    job, _autoscaler, gpu, _highmem = build(template(config, **kwargs))
    name, namespace = job["metadata"]["name"], "pipelines"
    labels = job["metadata"]["labels"]
    cluster_spec = job["spec"]["cluster"]["spec"]
    built = [
        controller.build_job_pod_spec(
            name, name, namespace, job["spec"]["job"]["spec"], {}, labels
        ),
        controller.build_scheduler_deployment_spec(
            name, cluster_spec["scheduler"]["spec"], {}, labels
        ),
        controller.build_scheduler_service_spec(
            name, cluster_spec["scheduler"]["service"], {}, labels
        ),
        controller.build_worker_deployment_spec(
            f"{name}-default", namespace, name, "0123456789", cluster_spec["worker"]["spec"],
            {}, labels,
        ),
        controller.build_worker_deployment_spec(
            gpu["metadata"]["name"], namespace, name, "0123456789",
            gpu["spec"]["worker"]["spec"], {}, labels,
        ),
    ]  # fmt: skip
    for obj in built:
        obj["metadata"].setdefault("namespace", namespace)
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(obj, desired_version=version, strict=True)
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= 63
    runner_env = env_of(containers(built[0]["spec"]))
    assert runner_env["DASK_SCHEDULER_ADDRESS"] == (
        f"tcp://{name}-scheduler.{namespace}.svc.cluster.local:8786"
    )
    assert runner_env[EXTERNAL_ENV] == "1"
    worker_env = env_of(containers(built[3]["spec"]["template"]["spec"]))
    assert worker_env["DASK_WORKER_NAME"].startswith(f"{name}-default-worker-")


def test_missing_image_and_wrong_task_type_are_errors() -> None:
    with pytest.raises(ConfigError, match=r"'wf.prepare' has no container image"):
        build_daskjob(
            template(Dask()), execution_id="e", node_id="n", attempt=1, command=COMMAND,
            image="", namespace="ns", labels={}, env={}, interruptible_selector={},
            interruptible_tolerations=[],
        )  # fmt: skip
    plain = TaskTemplate(name="wf.plain", function="wf:plain", interface=TypedInterface())
    with pytest.raises(ConfigError, match=r"task type 'python', not 'dask'"):
        build_daskjob(
            plain, execution_id="e", node_id="n", attempt=1, command=COMMAND, image="i",
            namespace="ns", labels={}, env={}, interruptible_selector={},
            interruptible_tolerations=[],
        )  # fmt: skip


def test_k8s_resources_names() -> None:
    assert k8s_resources(
        Resources(cpu=2, mem="1Gi", gpu=1, ephemeral_storage="5Gi"), None
    ) == {
        "requests": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1",
                     "ephemeral-storage": "5Gi"},
        "limits": {"nvidia.com/gpu": "1"},
    }  # fmt: skip
    assert k8s_resources(ResourceSpec(), ResourceSpec()) == {}


def test_plugin_builds_the_objects_for_a_runner_attempt() -> None:
    task = template(seed(), interruptible=True, image="")
    spec = AttemptSpec(
        execution_id="exec-20261128-abc",
        node_id="n3",
        attempt=2,
        task=task,
        inputs={},
        output_prefix="s3://bucket/root/runs/exec-20261128-abc/n3/2",
        bundle_uri="s3://bucket/root/bundles/ab12.tar.gz",
    )
    settings = Settings(
        namespace="pipelines",
        image="registry.example/default:3",
        service_account="runner",
        blob_url="s3://bucket/root",
        blob_secret="blob-credentials",
    )
    objects = plugin.kubernetes_objects(task, spec, settings)
    assert objects is not None
    validate(objects)
    (job,) = objects
    assert job["metadata"]["namespace"] == "pipelines"
    assert job["metadata"]["labels"]["slipstream.io/execution"] == "exec-20261128-abc"
    assert job["metadata"]["labels"]["slipstream.io/attempt"] == "2"
    runner_pod = job["spec"]["job"]["spec"]
    runner = containers(runner_pod)
    assert runner["command"] == [
        "python", "-m", "slipstream.execute",
        "--task", "wf:prepare",
        "--inputs", "s3://bucket/root/runs/exec-20261128-abc/n3/2/inputs.json",
        "--output-prefix", "s3://bucket/root/runs/exec-20261128-abc/n3/2",
        "--bundle", "s3://bucket/root/bundles/ab12.tar.gz",
    ]  # fmt: skip
    assert runner["image"] == "registry.example/default:3"
    assert runner["envFrom"] == [{"secretRef": {"name": "blob-credentials"}}]
    assert env_of(runner)["SLIPSTREAM_BLOB_URL"] == "s3://bucket/root"
    assert env_of(runner)["SLIPSTREAM_OFFLOAD_THRESHOLD"] == str(settings.offload_threshold)
    assert env_of(runner)["SLIPSTREAM_EXECUTION_ID"] == "exec-20261128-abc"
    assert env_of(runner)["SLIPSTREAM_NODE_ID"] == "n3"
    assert env_of(runner)["SLIPSTREAM_ATTEMPT"] == "2"
    assert runner_pod["serviceAccountName"] == "slipstream-task"  # not the runner's
    assert runner_pod["automountServiceAccountToken"] is False
    worker_pod = job["spec"]["cluster"]["spec"]["worker"]["spec"]
    assert "nodeSelector" not in worker_pod  # any provider's spot label: an affinity
    assert "affinity" in worker_pod and "affinity" not in runner_pod
    assert worker_pod["tolerations"] == settings.spot_tolerations

    last_retry = AttemptSpec(**{**spec.__dict__, "on_demand": True, "bundle_uri": ""})
    (job,) = plugin.kubernetes_objects(task, last_retry, settings) or []
    last_worker = job["spec"]["cluster"]["spec"]["worker"]["spec"]
    assert "nodeSelector" not in last_worker and "tolerations" not in last_worker
    assert "--bundle" not in containers(job["spec"]["job"]["spec"])["command"]

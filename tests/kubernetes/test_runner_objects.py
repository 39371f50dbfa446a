"""The Kubernetes runner's pure parts: names, Pods, plugin objects, status mapping, RBAC."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from harness import validate_daskjob
from harness.crds import problems
from runner_support import KUBERNETES_VERSIONS, env_of, validate_pod

from slipstream import Resources, task
from slipstream.config import Settings
from slipstream.dask import Dask, WorkerGroup
from slipstream.errors import ConfigError
from slipstream.ir import ErrorDocument, Literal, ResourceSpec
from slipstream.runners.base import AttemptResult, AttemptSpec
from slipstream.runners.contract import execute_command
from slipstream.runners.kubernetes.conditions import event_waiting, involves, refusal
from slipstream.runners.kubernetes.manifests import build_cluster_manifests
from slipstream.runners.kubernetes.names import is_dns_label, pod_name
from slipstream.runners.kubernetes.pods import (
    attempt_objects,
    build_pod,
    container_resources,
)
from slipstream.runners.kubernetes.results import final_result
from slipstream.runners.kubernetes.status import (
    FAILED,
    INITIALIZING,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Observation,
    daskjob_observation,
    pod_observation,
    waiting_reason,
)
from slipstream.sdk.plugins import default_plugins
from slipstream.types import AttemptPhase

SETTINGS = Settings(
    namespace="team-a",
    image="registry.example.com/app:1",
    service_account="runner",
    blob_url="s3://bucket/slipstream",
    blob_secret="blob-credentials",
)
BLOBS = "s3://bucket/slipstream"


@task(
    interruptible=True,
    requests=Resources(cpu="500m", mem="1Gi", gpu="1"),
    limits=Resources(mem="2Gi"),
    environment={"MODE": "fast"},
)
def spot_task(x: int) -> int:
    return x


@task(
    task_config=Dask(
        workers=[
            WorkerGroup(number_of_workers=2, min_workers=1, max_workers=5),
            WorkerGroup(name="gpu", number_of_workers=1, limits=Resources(gpu="1")),
        ]
    ),
    interruptible=True,
)
def dask_task(x: int) -> int:
    return x


def spec_for(
    entity: Any,
    node: str = "train-model",
    attempt: int = 1,
    *,
    execution: str = "e8z0abcdef1234",
    on_demand: bool = False,
    bundle: str = "s3://bucket/slipstream/bundles/" + "a" * 64 + ".tar.gz",
) -> AttemptSpec:
    return AttemptSpec(
        execution_id=execution,
        node_id=node,
        attempt=attempt,
        task=entity.template,
        inputs={"x": Literal(value=1)},
        output_prefix=f"{BLOBS}/runs/{execution}/{node}/{attempt}",
        on_demand=on_demand,
        bundle_uri=bundle,
    )


def objects(spec: AttemptSpec, settings: Settings = SETTINGS) -> list[dict[str, Any]]:
    return attempt_objects(spec, settings, default_plugins, blob_url=BLOBS, offload_threshold=4096)


# ---- names ---------------------------------------------------------------------------------


def test_pod_names_are_dns_labels_unique_per_attempt_even_when_cut() -> None:
    long_node = "a-very-long-sub-workflow-name/" * 4 + "Train_Model"
    names = {
        pod_name("e8z0abcdef1234", node, attempt)
        for node in (long_node, long_node + "x", "map/17", "map/18")
        for attempt in (1, 2)
    }
    assert len(names) == 8
    assert all(is_dns_label(name) and len(name) <= 63 for name in names)
    assert pod_name("e1", "n", 1) == pod_name("e1", "n", 1)  # a second create conflicts


# ---- Pods ----------------------------------------------------------------------------------


def test_a_plain_task_gets_one_valid_pod_with_spot_placement() -> None:
    spec = spec_for(spot_task, node="outer/" + "x" * 80)
    (pod,) = objects(spec)
    validate_pod(pod)
    meta = pod["metadata"]
    assert meta["namespace"] == "team-a" and is_dns_label(meta["name"])
    assert all(len(v) <= 63 for v in meta["labels"].values())
    assert meta["annotations"]["slipstream.io/node-id"] == spec.node_id  # the full id
    assert meta["annotations"]["slipstream.io/output-prefix"] == spec.output_prefix
    pod_spec = pod["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    # The task's own account, not the runner's, and no API token in the Pod.
    assert pod_spec["serviceAccountName"] == "slipstream-task"
    assert pod_spec["automountServiceAccountToken"] is False
    assert "nodeSelector" not in pod_spec  # any provider's spot label, as an affinity
    terms = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    spot = {(t["matchExpressions"][0]["key"], t["matchExpressions"][0]["values"][0]) for t in terms}
    assert {
        ("cloud.google.com/gke-spot", "true"),
        ("eks.amazonaws.com/capacityType", "SPOT"),
        ("kubernetes.azure.com/scalesetpriority", "spot"),
    } <= spot
    assert all(len(t["matchExpressions"]) == 1 for t in terms)  # terms are ORed
    # Spot taints, then the GPU taint: the task asks for a GPU.
    assert pod_spec["tolerations"] == [*SETTINGS.spot_tolerations, *SETTINGS.gpu_tolerations]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec[
        "tolerations"
    ]
    assert pod_spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod_spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["imagePullPolicy"] == "Always"  # a tag: every node runs what it names now
    assert container["image"] == "registry.example.com/app:1"
    assert container["command"] == execute_command(spec)
    assert container["command"][-2:] == ["--bundle", spec.bundle_uri]
    assert container["envFrom"] == [{"secretRef": {"name": "blob-credentials"}}]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
        "limits": {"memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    env = env_of(container)
    assert env["MODE"] == "fast" and env["SLIPSTREAM_BLOB_URL"] == BLOBS
    assert env["SLIPSTREAM_OFFLOAD_THRESHOLD"] == "4096"
    assert "SLIPSTREAM_SOURCE_ROOT" not in env  # the bundle carries the code


def test_the_last_system_retry_of_an_interruptible_task_avoids_spot_nodes() -> None:
    (pod,) = objects(spec_for(spot_task, on_demand=True))
    validate_pod(pod)
    assert "nodeSelector" not in pod["spec"]
    assert pod["spec"]["tolerations"] == SETTINGS.gpu_tolerations  # no spot taints tolerated
    (term,) = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    avoided = {(e["key"], e["operator"], e["values"][0]) for e in term["matchExpressions"]}
    assert {
        ("cloud.google.com/gke-spot", "NotIn", "true"),
        ("eks.amazonaws.com/capacityType", "NotIn", "SPOT"),
        ("kubernetes.azure.com/scalesetpriority", "NotIn", "spot"),
        ("node.kubernetes.io/lifecycle", "NotIn", "spot"),
    } <= avoided  # one term: none of them


def test_spot_placement_can_name_its_own_node_label_and_pull_policy() -> None:
    settings = SETTINGS.with_values(
        spot_node_selector={"pool": "cheap"},
        spot_tolerations=[],
        image_pull_policy="IfNotPresent",
        run_as_user=0,
    )
    (pod,) = objects(spec_for(spot_task), settings)
    validate_pod(pod)
    assert pod["spec"]["nodeSelector"] == {"pool": "cheap"} and "affinity" not in pod["spec"]
    assert pod["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    (retry,) = objects(spec_for(spot_task, on_demand=True), settings)
    (term,) = retry["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "pool", "operator": "NotIn", "values": ["cheap"]}]
    pinned = SETTINGS.with_values(image="registry.example.com/app@sha256:" + "a" * 64)
    (pod,) = objects(spec_for(spot_task), pinned)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    with pytest.raises(ConfigError, match=r"image_pull_policy='Sometimes' is not one of Always"):
        objects(spec_for(spot_task), SETTINGS.with_values(image_pull_policy="Sometimes"))


def test_build_pod_rejects_what_kubernetes_would() -> None:
    spec = spec_for(spot_task)
    with pytest.raises(ConfigError, match="'Bad_Name'"):
        build_pod(spec, SETTINGS, image="x", command=["true"], labels={}, env={}, name="Bad_Name")
    with pytest.raises(ConfigError, match=r"has no container image.*SLIPSTREAM_IMAGE"):
        objects(spec, Settings(namespace="team-a", image=""))  # set empty on purpose
    plain = build_pod(
        spec, Settings(task_service_account=""), image="x", command=["true"], labels={}, env={}
    )
    assert "serviceAccountName" not in plain["spec"] and "env" not in plain["spec"]["containers"][0]
    assert container_resources(ResourceSpec(), ResourceSpec()) == {}


# ---- plugin objects ------------------------------------------------------------------------


def test_a_dask_task_gets_its_plugins_objects_with_the_runner_environment() -> None:
    spec = spec_for(dask_task, attempt=3)
    made = objects(spec)
    assert [o["kind"] for o in made] == ["DaskJob", "DaskAutoscaler", "DaskWorkerGroup"]
    job = made[0]
    validate_daskjob(job)
    for obj in made[1:]:
        assert problems(obj, obj["kind"].lower()) == []
    for obj in made:
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "slipstream"
        assert obj["metadata"]["labels"]["slipstream.io/attempt"] == "3"
        assert obj["metadata"]["annotations"]["slipstream.io/node-id"] == "train-model"
        assert obj["metadata"]["namespace"] == "team-a"
    (runner,) = job["spec"]["job"]["spec"]["containers"]
    env = env_of(runner)
    assert env["SLIPSTREAM_ATTEMPT"] == "3" and env["SLIPSTREAM_BLOB_URL"] == BLOBS
    assert env["SLIPSTREAM_EXECUTION_ID"] == spec.execution_id
    assert len([e for e in runner["env"] if e["name"] == "SLIPSTREAM_BLOB_URL"]) == 1
    assert runner["command"] == execute_command(spec)
    for pod_spec in (job["spec"]["job"]["spec"], job["spec"]["cluster"]["spec"]["worker"]["spec"]):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec}
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(pod, desired_version=version, strict=True)
    # Workers (only) go to spot nodes; on the last system retry they do not.
    worker = job["spec"]["cluster"]["spec"]["worker"]["spec"]
    assert worker["tolerations"] == SETTINGS.spot_tolerations
    assert "affinity" in worker and "affinity" not in job["spec"]["job"]["spec"]
    assert "tolerations" not in job["spec"]["job"]["spec"]
    last = objects(spec_for(dask_task, on_demand=True))[0]
    assert "tolerations" not in last["spec"]["cluster"]["spec"]["worker"]["spec"]
    # Every Pod of the job: restricted-compatible, explicit pulls, the task's account.
    group = made[2]["spec"]["worker"]["spec"]
    cluster = job["spec"]["cluster"]["spec"]
    for pod_spec in (job["spec"]["job"]["spec"], cluster["scheduler"]["spec"], worker, group):
        assert pod_spec["securityContext"]["runAsNonRoot"] is True
        assert pod_spec["serviceAccountName"] == "slipstream-task"
        assert pod_spec["automountServiceAccountToken"] is False
        for container in pod_spec["containers"]:
            assert container["imagePullPolicy"] == "Always"
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    for template in (job["spec"]["job"], cluster["scheduler"], cluster["worker"]):
        assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"


def test_a_plugin_must_return_something_the_runner_can_follow() -> None:
    class Odd:
        task_type = "dask"

        def kubernetes_objects(self, template: Any, attempt: Any, settings: Any) -> list[dict]:
            return [{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}}]

    class Plugins:
        def for_task_type(self, task_type: str) -> Any:
            return Odd()

    with pytest.raises(ConfigError, match="made 'Job' the main object"):
        attempt_objects(
            spec_for(dask_task), SETTINGS, Plugins(), blob_url=BLOBS, offload_threshold=1
        )


# ---- statuses ------------------------------------------------------------------------------


def pod(
    phase: str, *, reason: str = "", container: dict | None = None, message: str = ""
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
        status["message"] = message
    if container is not None:
        status["containerStatuses"] = [{"name": "attempt", **container}]
    return {
        "metadata": {"name": "p1"},
        "spec": {"containers": [{"name": "attempt", "image": "repo/app:v2"}]},
        "status": status,
    }


def waiting(reason: str, message: str = "nope") -> dict[str, Any]:
    return {"state": {"waiting": {"reason": reason, "message": message}}}


def terminated(code: int, reason: str) -> dict[str, Any]:
    return {"state": {"terminated": {"exitCode": code, "reason": reason}}}


@pytest.mark.parametrize(
    ("obj", "state", "reason", "recoverable"),
    [
        (pod("Pending"), PENDING, "", True),
        (pod("Pending", container=waiting("ContainerCreating")), PENDING, "", True),
        (pod("Running"), RUNNING, "", True),
        (pod("Succeeded"), SUCCEEDED, "", True),
        (pod("Failed", container=terminated(3, "Error")), FAILED, "Error", True),
        (pod("Failed", container=terminated(137, "OOMKilled")), FAILED, "OOMKilled", True),
        (pod("Failed", reason="Evicted", message="low on memory"), FAILED, "Evicted", True),
        (pod("Failed", reason="Preempted"), FAILED, "Preempted", True),
        (pod("Failed", reason="DeadlineExceeded"), FAILED, "DeadlineExceeded", True),
        (
            pod("Pending", container=waiting("ErrImagePull", "repo/app:v2: not found")),
            FAILED,
            "ErrImagePull",
            False,
        ),
        (
            pod("Pending", container=waiting("ImagePullBackOff", "manifest unknown")),
            FAILED,
            "ImagePullBackOff",
            False,
        ),
        # The kubelet retries pulls that fail for other reasons (a registry's 429): waiting.
        (
            pod("Pending", container=waiting("ErrImagePull", "429 Too Many Requests")),
            PENDING,
            "",
            True,
        ),
        (
            pod("Pending", container=waiting("ImagePullBackOff", "Back-off pulling")),
            PENDING,
            "",
            True,
        ),
        (pod("Pending", container=waiting("InvalidImageName")), FAILED, "InvalidImageName", False),
        (
            pod("Pending", container=waiting("CreateContainerConfigError")),
            FAILED,
            "CreateContainerConfigError",
            False,
        ),
    ],
)
def test_pod_statuses_map_to_attempt_states(
    obj: dict, state: str, reason: str, recoverable: bool
) -> None:
    observed = pod_observation(obj)
    assert (observed.state, observed.reason, observed.recoverable) == (state, reason, recoverable)
    if reason.startswith(("ErrImage", "ImagePull", "InvalidImage")):
        assert "'repo/app:v2'" in observed.message


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (None, INITIALIZING),
        ({}, INITIALIZING),
        ({"jobStatus": ""}, INITIALIZING),
        ({"jobStatus": "JobCreated"}, INITIALIZING),
        ({"jobStatus": "ClusterCreated"}, INITIALIZING),
        ({"jobStatus": "Running"}, RUNNING),
        ({"jobStatus": "Successful"}, SUCCEEDED),
        ({"jobStatus": "Failed"}, FAILED),
    ],
)
def test_daskjob_statuses_map_as_the_design_says(status: dict | None, state: str) -> None:
    job: dict[str, Any] = {"metadata": {"name": "j"}}
    if status is not None:
        job["status"] = status
    assert daskjob_observation(job).state == state


def test_outcomes_combine_what_the_attempt_wrote_with_what_happened_to_its_pods() -> None:
    user = AttemptResult(
        AttemptPhase.FAILED,
        error=ErrorDocument(kind="user", recoverable=True, type="builtins.KeyError", message="'x'"),
    )
    ok = AttemptResult(AttemptPhase.SUCCEEDED, outputs={})
    oom = "Pod w1: container 'worker' was OOMKilled (exit code 137)"
    assert final_result(ok, None, [oom], "DaskJob j") is ok  # outputs win
    assert final_result(user, None, [], "Pod p") is user
    combined = final_result(user, None, [oom], "DaskJob j").error
    assert combined is not None and (combined.kind, combined.type) == (
        "system",
        "slipstream.errors.OOMKilled",
    )
    assert oom in combined.message and "builtins.KeyError" in combined.message
    died = final_result(
        None, Observation(FAILED, "Error", "Pod p: exited with code 2"), [], "Pod p"
    ).error
    assert died is not None and died.kind == "system" and died.recoverable
    assert "exited with code 2" in died.message and "outputs.json" in died.message
    pull = final_result(
        None, Observation(FAILED, "ErrImagePull", "cannot pull 'x'", False), [], "Pod p"
    ).error
    assert (
        pull is not None
        and not pull.recoverable
        and pull.type == "slipstream.errors.ImagePullError"
    )


# ---- what a cluster needs ------------------------------------------------------------------


def test_cluster_manifests_give_the_runner_what_it_uses() -> None:
    made = build_cluster_manifests(SETTINGS)
    kinds = ["Namespace", "ServiceAccount", "ServiceAccount", "Role", "RoleBinding"]
    assert [o["kind"] for o in made] == kinds
    for obj in made:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(obj, desired_version=version, strict=True)
    # Task Pods run as an account with no Role and no token: user code cannot use the API.
    task_account = made[2]
    assert task_account["metadata"]["name"] == "slipstream-task"
    assert task_account["automountServiceAccountToken"] is False
    bound = [s["name"] for o in made if o["kind"] == "RoleBinding" for s in o["subjects"]]
    assert "slipstream-task" not in bound
    rules = {
        (group, resource): set(rule["verbs"])
        for rule in made[3]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    for resource in ("pods", "pods/log", "events"):
        assert ("", resource) in rules
    for resource in (
        "daskjobs",
        "daskjobs/status",
        "daskclusters",
        "daskworkergroups",
        "daskautoscalers",
    ):
        assert ("kubernetes.dask.org", resource) in rules
    assert {"create", "watch", "delete"} <= rules[("", "pods")]
    assert {"create", "watch", "delete"} <= rules[("kubernetes.dask.org", "daskjobs")]
    binding = made[4]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "runner", "namespace": "team-a"}
    ]
    with pytest.raises(ConfigError, match="namespace 'Team_A'"):
        build_cluster_manifests(Settings(namespace="Team_A"))


def test_what_a_waiting_pod_waits_for() -> None:
    unscheduled = pod("Pending")
    unscheduled["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        }
    ]
    found = waiting_reason(unscheduled)
    assert found is not None and found.reason == "Unschedulable" and not found.permanent
    assert "Insufficient nvidia.com/gpu" in found.message
    crashing = pod("Running", container=waiting("CrashLoopBackOff"))
    crashing["status"]["containerStatuses"][0]["restartCount"] = 4
    found = waiting_reason(crashing)
    assert found is not None and found.reason == "CrashLoopBackOff"
    assert "4 restarts" in found.message
    pulling = pod("Pending", container=waiting("ImagePullBackOff", "Back-off pulling"))
    found = waiting_reason(pulling)
    assert found is not None and found.reason == "ImagePullBackOff"
    assert "'repo/app:v2'" in found.message
    assert waiting_reason(pod("Running")) is None
    assert waiting_reason(pod("Pending", container=waiting("ContainerCreating"))) is None


@pytest.mark.parametrize(
    ("status", "message", "reason", "permanent"),
    [
        (403, 'pods "p" is forbidden: exceeded quota: compute', "ResourceQuota", False),
        (403, 'pods is forbidden: User "x" cannot create resource "pods"', "ApiRefused", True),
        (429, "Too Many Requests", "Throttled", False),
        (503, "etcdserver: leader changed", "ApiUnavailable", False),
        (422, 'Pod "p" is invalid: spec.containers[0].image: Required value', "ApiRefused", True),
    ],
)
def test_api_refusals_are_transient_or_permanent(
    status: int, message: str, reason: str, permanent: bool
) -> None:
    found = refusal(status, message, "Pod p in namespace ns")
    assert (found.reason, found.permanent) == (reason, permanent)
    assert message in found.message and "Pod p in namespace ns" in found.message


def _event(kind: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "reason": reason,
        "message": message,
        "involvedObject": {"kind": "ReplicaSet", "name": "job-scheduler-5d8f"},
    }


@pytest.mark.parametrize(
    ("event", "reason", "permanent"),
    [
        (
            _event(
                "Warning", "FailedCreate", 'Error creating: pods "x" is forbidden: exceeded quota'
            ),
            "ResourceQuota",
            False,
        ),
        (
            _event("Warning", "FailedCreate", 'pods "x" is forbidden: violates PodSecurity'),
            "AdmissionRefused",
            True,
        ),
        (
            _event("Error", "Logging", "Handler 'daskworkergroup_create' failed temporarily"),
            "OperatorError",
            False,
        ),
        (_event("Normal", "Scheduled", "assigned"), None, False),
        (_event("Warning", "BackOff", "Back-off restarting failed container"), None, False),
    ],
)
def test_events_that_hold_an_attempt(event: dict, reason: str | None, permanent: bool) -> None:
    found = event_waiting(event)
    if reason is None:
        assert found is None
        return
    assert found is not None and (found.reason, found.permanent) == (reason, permanent)
    assert "ReplicaSet job-scheduler-5d8f" in found.message
    assert involves(event, "job") and not involves(event, "jo")

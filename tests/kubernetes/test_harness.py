"""Tests of the Kubernetes test harness itself: the API server through real kr8s, the kubelet,
the fake operator and the real dask-kubernetes operator."""

from __future__ import annotations

import asyncio
import base64
import pathlib
import sys
import threading
import time
from typing import Any

import kr8s
import psutil
import pytest
from dask_kubernetes.operator._objects import DaskCluster, DaskJob
from harness import KubeHarness, kr8s_client, validate_daskjob
from harness.crds import problems
from harness.selectors import SelectorError, parse_label_selector
from kr8s.asyncio.objects import Pod


def pod(name: str, code: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict:
    """A Pod manifest running `python -c code` (restartPolicy Never unless given)."""
    container = {"name": "main", "image": "python:3.11", "command": ["python", "-c", code]}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def daskjob(name: str, code: str, replicas: int = 1) -> dict:
    """A minimal valid DaskJob whose runner runs `python -c code`."""
    image = "ghcr.io/dask/dask:latest"
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskJob",
        "metadata": {"name": name, "labels": {"app": "slipstream-test"}},
        "spec": {
            "job": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "job", "image": image, "command": ["python", "-c", code]}
                    ],
                }
            },
            "cluster": {
                "spec": {
                    "worker": {
                        "replicas": replicas,
                        "spec": {
                            "containers": [
                                {"name": "worker", "image": image, "args": ["dask", "worker"]}
                            ]
                        },
                    },
                    "scheduler": {
                        "spec": {
                            "containers": [
                                {"name": "scheduler", "image": image, "args": ["dask", "scheduler"]}
                            ]
                        },
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
                                    "port": 8786,
                                    "targetPort": "tcp-comm",
                                }
                            ],
                        },
                    },
                }
            },
        },
    }


def dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def phase(obj: dict) -> str:
    return str(obj.get("status", {}).get("phase", ""))


def job_statuses(harness: KubeHarness, name: str) -> list[str]:
    """The distinct status.jobStatus values the job went through, in order."""
    seen: list[str] = []
    for change in harness.changes("daskjob", name):
        status = change.obj.get("status", {}).get("jobStatus")
        if status and (not seen or seen[-1] != status):
            seen.append(status)
    return seen


# ---- the API server through kr8s --------------------------------------------------------


@pytest.mark.asyncio
async def test_kr8s_creates_lists_watches_patches_and_deletes_a_pod(kube: KubeHarness) -> None:
    async with kr8s_client(kube.kubeconfig) as api:
        version = await api.version()
        assert version["gitVersion"].startswith("v1.")
        # Bound to another node, so the test kubelet leaves it alone and we own its status.
        manifest = pod("p1", "pass", labels={"app": "a", "tier": "x"}, nodeName="elsewhere")
        p1 = await Pod(manifest, api=api)
        await p1.create()
        meta = p1.raw["metadata"]
        assert meta["uid"] and meta["creationTimestamp"] and int(meta["resourceVersion"]) > 0
        assert meta["namespace"] == kube.namespace
        await (
            await Pod(pod("p2", "pass", labels={"app": "b"}, nodeName="elsewhere"), api=api)
        ).create()

        got = await Pod.get("p1", api=api)
        assert got.metadata.uid == meta["uid"]
        names = lambda pods: sorted(p.name for p in pods)  # noqa: E731
        assert names([p async for p in api.get("pods", label_selector={"app": "a"})]) == ["p1"]
        assert names([p async for p in api.get("pods", label_selector="app in (a,b),!tier")]) == [
            "p2"
        ]
        assert names([p async for p in api.get("pods", field_selector="metadata.name=p2")]) == [
            "p2"
        ]

        events: list[tuple[str, str, str]] = []

        async def watch() -> None:
            async for kind, obj in api.watch(
                "pods", namespace=kube.namespace, label_selector={"app": "a"}
            ):
                events.append((kind, obj.name, phase(obj.raw)))
                if kind == "DELETED":
                    return

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.2)
        await p1.patch({"status": {"phase": "Running"}}, subresource="status")
        assert p1.raw["status"]["phase"] == "Running"
        rv = int(p1.metadata.resourceVersion)
        assert rv > int(meta["resourceVersion"])
        await p1.patch({"status": {"phase": "Failed"}})  # status is only written via /status
        assert p1.raw["status"]["phase"] == "Running"
        await p1.patch({"metadata": {"labels": {"extra": "1"}}})
        assert int(p1.metadata.resourceVersion) > rv
        await p1.delete()
        await asyncio.wait_for(watcher, 10)
        assert events[0] == ("ADDED", "p1", "Pending")
        assert ("MODIFIED", "p1", "Running") in events
        assert events[-1][0:2] == ("DELETED", "p1")
        assert all(name == "p1" for _, name, _ in events)  # p2 never matched the selector
        assert not await p1.exists()
        with pytest.raises(kr8s.ServerError, match="unable to parse requirement"):
            [p async for p in api.get("pods", label_selector="app in (a")]


@pytest.mark.asyncio
async def test_kr8s_drives_a_daskjob_and_deletion_cascades_by_owner(kube: KubeHarness) -> None:
    async with kr8s_client(kube.kubeconfig) as api:
        events: list[tuple[str, str | None]] = []

        async def watch() -> None:
            async for kind, obj in api.watch(
                "daskjobs.kubernetes.dask.org",
                namespace=kube.namespace,
                label_selector="app=slipstream-test",
            ):
                events.append((kind, obj.raw.get("status", {}).get("jobStatus")))
                if kind == "DELETED":
                    return

        watcher = asyncio.create_task(watch())
        job = await DaskJob(daskjob("j1", "pass"), api=api)
        await job.create()
        assert "status" not in job.raw  # no operator here: nothing acts on it
        got = await DaskJob.get("j1", namespace=kube.namespace, api=api)
        assert got.metadata.uid == job.metadata.uid
        selected = api.get(
            "daskjobs.kubernetes.dask.org", label_selector={"app": "slipstream-test"}
        )
        assert [j.name async for j in selected] == ["j1"]
        await job.patch({"status": {"jobStatus": "Running"}}, subresource="status")
        await job.refresh()
        assert job.raw["status"] == {"jobStatus": "Running"}
        owner = {
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskJob",
            "name": "j1",
            "uid": job.metadata.uid,
            "controller": True,
        }
        cluster = await DaskCluster(
            {"metadata": {"name": "j1", "ownerReferences": [owner]}, "spec": {}}, api=api
        )
        await cluster.create()
        runner = pod("j1-runner", "import time; time.sleep(60)")
        runner["metadata"]["ownerReferences"] = [owner]
        runner_pod = await Pod(runner, api=api)
        await runner_pod.create()
        kube.wait_for_object("pod", "j1-runner", lambda p: phase(p) == "Running")
        (pid,) = kube.started_pids
        # DaskCluster has no status subresource (its CRD says so): status is part of the body.
        await cluster.patch({"status": {"phase": "Running"}})
        assert cluster.raw["status"]["phase"] == "Running"

        await job.delete()
        await asyncio.wait_for(watcher, 10)
        assert events == [("ADDED", None), ("MODIFIED", "Running"), ("DELETED", "Running")]
        kube.wait_gone("pod", "j1-runner", timeout=15)
        assert kube.get("daskcluster", "j1") is None
        assert not await cluster.exists()
        assert dead(pid)


def test_store_semantics_conflicts_patches_and_validation(kube: KubeHarness) -> None:
    kube.create(pod("p", "pass", nodeName="elsewhere"))
    with pytest.raises(Exception, match="already exists"):
        kube.create(pod("p", "pass", nodeName="elsewhere"))
    with pytest.raises(Exception, match="Invalid value: 'Bad_Name'"):
        kube.create(pod("Bad_Name", "pass"))
    with pytest.raises(Exception, match='namespaces "nowhere" not found'):
        kube.create(pod("q", "pass"), namespace="nowhere")
    with pytest.raises(Exception, match="pod updates may not change fields"):
        kube.patch("pod", "p", {"spec": {"restartPolicy": "Always"}})
    with pytest.raises(Exception, match="the object has been modified"):
        kube.patch("pod", "p", {"metadata": {"resourceVersion": "1", "labels": {"a": "b"}}})
    patched = kube.patch(
        "pod", "p", [{"op": "add", "path": "/metadata/labels/x", "value": "y"}], patch_type="json"
    )
    assert patched["metadata"]["labels"]["x"] == "y"
    secret = kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s"},
            "stringData": {"token": "abc"},
        }
    )
    assert base64.b64decode(secret["data"]["token"]) == b"abc"
    assert "stringData" not in secret


def test_watch_resumes_after_a_resource_version_and_reports_selection_changes(
    kube: KubeHarness,
) -> None:
    api = kube.api
    pods = api.table.find("pods")
    first = kube.create(pod("a", "pass", labels={"sel": "yes"}, nodeName="elsewhere"))
    since = int(first["metadata"]["resourceVersion"])
    kube.create(pod("b", "pass", labels={"sel": "yes"}, nodeName="elsewhere"))
    kube.patch("pod", "a", {"metadata": {"labels": {"sel": "no"}}})

    async def collect() -> list[tuple[str, str]]:
        from harness.selectors import Selector

        seen: list[tuple[str, str]] = []
        changes = api.store.watch(pods, kube.namespace, Selector.parse("sel=yes", None), since)
        async for change in changes:
            seen.append((change.type, change.name))
            if len(seen) == 2:
                break
        await changes.aclose()
        return seen

    # Only what happened after `since`: b was added, a left the selection (seen as DELETED).
    assert kube.call(collect) == [("ADDED", "b"), ("DELETED", "a")]


def test_http_put_delete_collection_version_and_namespaces(kube: KubeHarness) -> None:
    base = f"/api/v1/namespaces/{kube.namespace}"
    for name, team in (("c1", "a"), ("c2", "a"), ("c3", "b")):
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {"team": team}},
                "data": {"k": name},
            }
        )

    async def scenario() -> dict[str, Any]:
        api = kube.api
        out: dict[str, Any] = {}
        async with api.get("/version/") as resp:
            out["version"] = (await resp.json())["gitVersion"]
        async with api.get(f"{base}/configmaps/c1") as resp:
            current = await resp.json()
        current["data"] = {"k": "replaced"}
        async with api.put(f"{base}/configmaps/c1", json=current) as resp:
            out["put"] = (resp.status, (await resp.json())["data"])
        async with api.put(f"{base}/configmaps/c1", json=current) as resp:
            out["stale_put"] = resp.status  # current carries the old resourceVersion
        async with api.delete(f"{base}/configmaps", params={"labelSelector": "team=a"}) as resp:
            out["deleted"] = sorted(i["metadata"]["name"] for i in (await resp.json())["items"])
        async with api.get(f"{base}/configmaps") as resp:
            out["left"] = [i["metadata"]["name"] for i in (await resp.json())["items"]]
        async with api.get("/api/v1/namespaces") as resp:
            out["namespaces"] = sorted(i["metadata"]["name"] for i in (await resp.json())["items"])
        return out

    result = kube.call(scenario)
    assert result["version"].startswith("v1.")
    assert result["put"] == (200, {"k": "replaced"})
    assert result["stale_put"] == 409
    assert result["deleted"] == ["c1", "c2"] and result["left"] == ["c3"]
    assert result["namespaces"] == ["default", kube.namespace]


# ---- the kubelet ------------------------------------------------------------------------


CHECK_ENV = """
import os, sys
print("exe", sys.executable)
print("greeting", os.environ["GREETING"])
print("token", os.environ["TOKEN"])
print("pod", os.environ["POD_NAME"])
print("passed", os.environ["SLIPSTREAM_HARNESS_PROBE"])
print("oops", file=sys.stderr)
sys.exit(3)
"""


@pytest.mark.asyncio
async def test_kubelet_runs_the_container_command_with_its_env_and_records_logs(
    kube: KubeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_HARNESS_PROBE", "from-the-test")
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"token": "s3cr3t"},
        }
    )
    env = [
        {"name": "WHO", "value": "world"},
        {"name": "GREETING", "value": "hello $(WHO)"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    kube.create(pod("envy", CHECK_ENV, container={"env": env}))
    done = kube.wait_for_object("pod", "envy", lambda p: phase(p) in ("Succeeded", "Failed"))
    assert phase(done) == "Failed"
    terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert done["spec"]["nodeName"] == "kmock-node"
    async with kr8s_client(kube.kubeconfig) as api:
        lines = [line async for line in (await Pod.get("envy", api=api)).logs()]
    assert f"exe {sys.executable}" in lines
    assert "greeting hello world" in lines
    assert "token s3cr3t" in lines
    assert "pod envy" in lines
    assert "passed from-the-test" in lines
    assert "oops" in lines
    phases = [phase(c.obj) for c in kube.changes("pod", "envy")]
    assert phases.index("Pending") < phases.index("Running") < phases.index("Failed")


def test_kubelet_restarts_on_failure_and_keeps_the_previous_log(kube: KubeHarness) -> None:
    kube.create(pod("crashy", "print('run'); raise SystemExit(1)", restartPolicy="OnFailure"))
    crashed = kube.wait_for_object(
        "pod", "crashy", lambda p: p["status"]["containerStatuses"][0]["restartCount"] >= 2
    )
    assert phase(crashed) == "Running"  # OnFailure restarts in place, forever
    assert kube.output("crashy").count("run") >= 2
    kube.wait_for(lambda: kube.logs("crashy", previous=True) == "run\n", 10)
    kube.delete("pod", "crashy")
    kube.wait_gone("pod", "crashy")


def test_deleting_a_running_pod_stops_its_process(kube: KubeHarness) -> None:
    code = "import time; print('up', flush=True); time.sleep(120)"
    kube.create(pod("sleeper", code))
    kube.wait_for(lambda: "up" in kube.logs("sleeper"), 20)
    (pid,) = kube.started_pids
    assert psutil.pid_exists(pid)
    began = time.monotonic()
    deleting = kube.delete("pod", "sleeper")
    assert deleting["metadata"]["deletionTimestamp"]  # graceful: it lingers until stopped
    kube.wait_gone("pod", "sleeper", timeout=15)
    assert time.monotonic() - began < 10
    assert dead(pid)


@pytest.mark.parametrize(
    ("failure", "reason"), [("preempted", "Preempted"), ("evicted", "Evicted")]
)
def test_inject_ends_the_pod_like_a_disruption(
    kube: KubeHarness, failure: str, reason: str
) -> None:
    kube.create(pod("victim", "import time; print('up', flush=True); time.sleep(120)"))
    kube.wait_for(lambda: "up" in kube.logs("victim"), 20)
    (pid,) = kube.started_pids
    kube.inject("victim", failure)
    failed = kube.wait_for_object("pod", "victim", lambda p: phase(p) == "Failed")
    assert failed["status"]["reason"] == reason
    assert failed["status"]["message"]
    assert any(c["type"] == "DisruptionTarget" for c in failed["status"]["conditions"])
    assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137
    kube.wait_for(lambda: dead(pid), 10)


def test_inject_oomkilled_terminates_the_container(kube: KubeHarness) -> None:
    kube.inject("hog", "oomkilled")  # before it exists: applied when it starts
    kube.create(pod("hog", "import time; time.sleep(120)"))
    failed = kube.wait_for_object("pod", "hog", lambda p: phase(p) == "Failed")
    terminated = failed["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
    assert "reason" not in failed["status"]  # a container failure, not a Pod disruption


def test_image_pull_failure_keeps_the_pod_pending(kube: KubeHarness) -> None:
    kube.fail_image_pulls("*:does-not-exist")
    kube.create(pod("nopull", "pass", container={"image": "registry.example/app:does-not-exist"}))
    backoff = kube.wait_for_object(
        "pod",
        "nopull",
        lambda p: (
            p["status"]
            .get("containerStatuses", [{}])[0]
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "ImagePullBackOff"
        ),
    )
    assert phase(backoff) == "Pending"
    reasons = [
        c.obj["status"]["containerStatuses"][0]["state"].get("waiting", {}).get("reason")
        for c in kube.changes("pod", "nopull")
        if c.obj["status"].get("containerStatuses")
    ]
    assert "ErrImagePull" in reasons
    assert (
        "registry.example/app:does-not-exist"
        in (backoff["status"]["containerStatuses"][0]["state"]["waiting"]["message"])
    )
    assert kube.started_pids == []
    status, body = kube.call(lambda: _get(kube, "pods/nopull/log"))
    assert status == 400 and "waiting to start: ImagePullBackOff" in body["message"]


async def _get(kube: KubeHarness, path: str) -> tuple[int, Any]:
    async with kube.api.get(f"/api/v1/namespaces/{kube.namespace}/{path}") as resp:
        return resp.status, await resp.json()


# ---- operators --------------------------------------------------------------------------


RUNNER_USES_DASK = """
import os
from distributed import Client
with Client() as client:
    print("scheduler", os.environ["DASK_SCHEDULER_ADDRESS"])
    client.wait_for_workers(2, timeout=60)  # workers join when their Pods are up
    print("workers", len(client.scheduler_info()["workers"]))
    print("total", sum(client.gather(client.map(lambda x: x + 1, range(10)))))
"""


def test_fake_operator_runs_a_daskjob_on_a_real_local_cluster(
    fake_dask_operator: KubeHarness,
) -> None:
    kube = fake_dask_operator
    manifest = daskjob("crunch", RUNNER_USES_DASK, replicas=2)
    validate_daskjob(manifest)
    kube.create(manifest)
    job = kube.wait_for_object(
        "daskjob", "crunch", lambda j: j.get("status", {}).get("endTime"), timeout=120
    )
    assert job["status"]["jobStatus"] == "Successful", kube.output("crunch-runner")
    assert job_statuses(kube, "crunch") == ["JobCreated", "ClusterCreated", "Running", "Successful"]
    assert job["status"]["jobRunnerPodName"] == "crunch-runner"
    output = kube.logs("crunch-runner")
    assert "workers 2" in output and "total 55" in output
    (started,) = kube.dask_clusters.started
    assert started.n_workers == 2 and f"scheduler {started.address}" in output
    assert kube.dask_clusters.open_keys == []  # closed when the job ended
    assert kube.get("daskcluster", "crunch") is None
    runner = kube.get("pod", "crunch-runner")
    assert runner is not None and runner["metadata"]["labels"]["dask.org/component"] == "job-runner"
    kube.delete("daskjob", "crunch")
    kube.wait_gone("pod", "crunch-runner")


def test_fake_operator_reports_a_failed_runner_and_cleans_up_a_deleted_job(
    fake_dask_operator: KubeHarness,
) -> None:
    kube = fake_dask_operator
    kube.create(daskjob("bad", "raise SystemExit(2)"))
    job = kube.wait_for_object(
        "daskjob", "bad", lambda j: j.get("status", {}).get("endTime"), timeout=120
    )
    assert job["status"]["jobStatus"] == "Failed"
    kube.create(daskjob("slow", "import time; print('up', flush=True); time.sleep(120)"))
    kube.wait_for(lambda: "up" in kube.logs("slow-runner"), 120)
    assert len(kube.dask_clusters.open_keys) == 1
    kube.delete("daskjob", "slow")
    kube.wait_gone("pod", "slow-runner")
    kube.wait_for(lambda: kube.dask_clusters.open_keys == [], 30)
    assert kube.get("daskcluster", "slow") is None


def test_real_operator_drives_a_daskjob_to_successful(
    real_dask_operator: KubeHarness, tmp_path: pathlib.Path
) -> None:
    kube = real_dask_operator
    # The runner waits for a go-ahead: a runner that ends within kopf's batching window makes
    # the real operator skip Running (it sees Pending -> Succeeded), on real clusters too.
    go = tmp_path / "go"
    code = f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)\nprint('ok')"
    manifest = daskjob("real", code, replicas=2)
    assert problems(manifest) == []
    kube.create(manifest)
    kube.wait_for_object(
        "daskjob", "real", lambda j: j.get("status", {}).get("jobStatus") == "Running"
    )
    go.touch()
    job = kube.wait_for_object(
        "daskjob", "real", lambda j: j.get("status", {}).get("endTime"), timeout=60
    )
    assert job["status"]["jobStatus"] == "Successful"
    assert job_statuses(kube, "real") == ["JobCreated", "ClusterCreated", "Running", "Successful"]
    assert job["status"]["clusterName"] == "real"
    assert kube.logs("real-runner") == "ok\n"
    runner = kube.get("pod", "real-runner")
    assert runner is not None
    env = {e["name"]: e["value"] for e in runner["spec"]["containers"][0]["env"]}
    assert env["DASK_SCHEDULER_ADDRESS"] == (
        f"tcp://real-scheduler.{kube.namespace}.svc.cluster.local:8786"
    )
    # The cluster existed, owned by the job, and was deleted when the runner succeeded. The
    # operator may write Successful just before it deletes the cluster: wait for the delete.
    kube.wait_gone("daskcluster", "real")
    kube.wait_gone("deployment", "real-scheduler")
    kube.wait_gone("service", "real-scheduler")
    clusters = [c for c in kube.changes("daskcluster", "real")]
    assert clusters[0].type == "ADDED" and clusters[-1].type == "DELETED"
    owner = clusters[0].obj["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("DaskJob", job["metadata"]["uid"])
    assert kube.get("daskcluster", "real") is None
    # Its scheduler Deployment and Service went with it (ownerReferences + our GC).
    assert [c.type for c in kube.changes("deployment", "real-scheduler")][-1] == "DELETED"
    assert [c.type for c in kube.changes("service", "real-scheduler")][-1] == "DELETED"
    kube.delete("daskjob", "real")
    kube.wait_gone("pod", "real-runner")


@pytest.mark.kube(local_dask=True)
def test_real_operator_with_local_dask_runs_the_job_on_a_real_cluster(
    real_dask_operator: KubeHarness,
) -> None:
    kube = real_dask_operator
    kube.create(daskjob("compute", RUNNER_USES_DASK, replicas=2))
    job = kube.wait_for_object(
        "daskjob", "compute", lambda j: j.get("status", {}).get("endTime"), timeout=120
    )
    assert job["status"]["jobStatus"] == "Successful", kube.output("compute-runner")
    output = kube.logs("compute-runner")
    (started,) = kube.dask_clusters.started
    # The Pod spec keeps the cluster-DNS address; the kubelet resolved it to the local scheduler.
    assert f"scheduler {started.address}" in output
    assert "workers 2" in output and "total 55" in output
    # The operator made one worker Deployment per replica (found by label selector).
    workers = {
        c.name
        for c in kube.changes("deployment")
        if c.type == "ADDED" and c.obj["metadata"]["labels"].get("dask.org/component") == "worker"
    }
    assert len(workers) == 2
    kube.wait_for(lambda: kube.dask_clusters.open_keys == [], 30)  # closed with its DaskCluster


# ---- the harness itself -----------------------------------------------------------------


@pytest.mark.parametrize("operator", ["fake", "real"])
def test_harness_shuts_down_without_leftovers(tmp_path: pathlib.Path, operator: str) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    threads_before = {t.name for t in threading.enumerate()}
    harness = KubeHarness(tmp_path, operator=operator, local_dask=operator == "real")
    began = time.monotonic()
    with harness:
        started = time.monotonic() - began
        harness.create(daskjob("linger", "import time; print('up', flush=True); time.sleep(120)"))
        harness.wait_for(lambda: "up" in harness.logs("linger-runner"), 120)
        harness.create(pod("plain", "import time; time.sleep(120)"))
        harness.wait_for_object("pod", "plain", lambda p: phase(p) == "Running")
        assert len(harness.started_pids) == 2
        closing = time.monotonic()
    closed = time.monotonic() - closing
    assert harness.leftover_tasks == []
    assert harness.real_operator is None or harness.real_operator.leftover_tasks == []
    assert harness.dask_clusters.open_keys == [] and len(harness.dask_clusters.started) == 1
    # multiprocessing's resource tracker is started once per process and lives on by design.
    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and not dead(p.pid)
        if "multiprocessing.resource_tracker" not in " ".join(p.cmdline())
    ]
    assert [p.cmdline() for p in left] == []
    new_threads = {t.name for t in threading.enumerate()} - threads_before
    assert not new_threads & {"kube-harness", "dask-operator"}
    assert started < 30 and closed < 30, (started, closed)


def test_validate_daskjob_names_every_problem() -> None:
    manifest = daskjob("x" * 54, "pass")
    manifest["spec"]["cluster"]["metadata"] = {"labels": {"a": "b"}}  # dropped by the server
    manifest["spec"]["cluster"]["spec"]["worker"]["replicas"] = "two"
    with pytest.raises(ValueError) as raised:
        validate_daskjob(manifest)
    message = str(raised.value)
    assert "at most 53 characters" in message
    assert "spec.cluster.metadata: unknown field" in message
    assert "'two' is not of type 'integer'" in message
    validate_daskjob(daskjob("fine", "pass"))


def test_label_selector_parser_rejects_garbage() -> None:
    parsed = parse_label_selector("a=b,c!=d,e in (f, g),!h,i")
    assert [r.op for r in parsed] == ["=", "!=", "in", "!exists", "exists"]
    with pytest.raises(SelectorError, match="'a=b=c'"):
        parse_label_selector("a=b=c")


def test_kubelet_stop_kills_process_groups(tmp_path: pathlib.Path) -> None:
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        "print('spawned', flush=True); time.sleep(120)"
    )
    with KubeHarness(tmp_path) as harness:
        harness.create(pod("parent", code))
        harness.wait_for(lambda: "spawned" in harness.logs("parent"), 20)
        (pid,) = harness.started_pids
        children = psutil.Process(pid).children(recursive=True)
        assert children
    # The whole process group was killed: no grandchild outlives the harness.
    _, alive = psutil.wait_procs(children, timeout=5)  # SIGKILL lands asynchronously
    assert dead(pid) and [p for p in alive if not dead(p.pid)] == []

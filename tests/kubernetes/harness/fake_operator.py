"""A stand-in for the dask-kubernetes operator that gives each DaskJob a real LocalCluster.

Started by the harness when asked for the fake operator. For each DaskJob it does what the
real operator does (same objects, labels, ownerReferences and `status.jobStatus` sequence:
JobCreated -> ClusterCreated -> Running -> Successful/Failed), except that the DaskCluster is
a `distributed.LocalCluster` with `spec.cluster.spec.worker.replicas` worker processes, and
the runner Pod's DASK_SCHEDULER_ADDRESS is that cluster's real address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import kmock

from .apiserver import Apiserver
from .changes import Change
from .dask_clusters import LocalDaskClusters
from .objects import now_iso
from .selectors import Selector

log = logging.getLogger(__name__)
RUNNER_SELECTOR = "dask.org/component=job-runner"


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """What kopf.adopt() writes: a controller reference that blocks owner deletion."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


class FakeDaskOperator:
    """See the module docstring. `namespace=None` serves every namespace."""

    def __init__(
        self, apiserver: Apiserver, clusters: LocalDaskClusters, namespace: str | None = None
    ) -> None:
        self.store = apiserver.store
        self.table = apiserver.table
        self.clusters = clusters
        self.namespace = namespace
        self.jobs = self.table.find("daskjobs")
        self.errors: list[BaseException] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._watchers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        ready = [asyncio.Event(), asyncio.Event()]
        self._watchers = [
            asyncio.create_task(self._watch_jobs(ready[0]), name="fake-operator-jobs"),
            asyncio.create_task(self._watch_runners(ready[1]), name="fake-operator-runners"),
        ]
        await asyncio.gather(*(event.wait() for event in ready))

    async def stop(self) -> None:
        for task in [*self._watchers, *self._tasks.values()]:
            task.cancel()
        await asyncio.gather(*self._watchers, *self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        await self.clusters.close_all()

    async def _watch_jobs(self, ready: asyncio.Event) -> None:
        changes = self.store.watch(self.jobs, self.namespace)
        ready.set()
        async for change in changes:
            uid = change.obj["metadata"]["uid"]
            if change.type == "DELETED":
                task = self._tasks.pop(uid, None)
                if task is not None:
                    task.cancel()
                await self.clusters.close(uid)
            elif change.type == "ADDED" and "status" not in change.obj:
                self._tasks[uid] = asyncio.create_task(self._create_components(change.obj))

    async def _create_components(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
        try:
            await self._job_status(namespace, name, {"jobStatus": "JobCreated"})
            from dask_kubernetes.operator.controller import build_cluster_spec, build_job_pod_spec

            labels = dict(meta.get("labels") or {})
            annotations = dict(meta.get("annotations") or {})
            cluster_spec = job["spec"]["cluster"]["spec"]
            cluster = build_cluster_spec(
                name,
                cluster_spec.get("worker", {}),
                cluster_spec.get("scheduler", {}),
                annotations,
                labels,
            )
            cluster["metadata"]["ownerReferences"] = [owner_reference(job)]
            cluster = await self.store.create(self.table.find("daskclusters"), namespace, cluster)
            replicas = cluster_spec.get("worker", {}).get("replicas", 1)
            address = await self.clusters.start(uid, replicas)
            await self.store.patch(
                self.table.find("daskclusters"), namespace, name, {"status": {"phase": "Running"}}
            )
            pod = build_job_pod_spec(
                name, name, namespace, job["spec"]["job"]["spec"], annotations, labels
            )
            for container in pod["spec"]["containers"]:
                env = [e for e in container["env"] if e["name"] != "DASK_SCHEDULER_ADDRESS"]
                container["env"] = [*env, {"name": "DASK_SCHEDULER_ADDRESS", "value": address}]
            pod["metadata"]["ownerReferences"] = [owner_reference(job)]
            try:
                pod = await self.store.create(self.table.find("pods"), namespace, pod)
            except kmock.KubernetesError as e:
                if e.status not in (403, 422):
                    raise
                # Admission refused the runner Pod: kopf logs the handler's failure as an
                # Error event on the DaskJob and retries a minute later; the job stays put.
                await self._post_error(job, f"{e}")
                return
            await self._job_status(
                namespace,
                name,
                {
                    "clusterName": name,
                    "jobStatus": "ClusterCreated",
                    "jobRunnerPodName": pod["metadata"]["name"],
                },
            )
        except Exception as e:
            # 404: the job was deleted meanwhile, as may happen. Anything else is a harness
            # problem: the job stays at JobCreated (as with the real operator) and close() raises.
            if not (isinstance(e, kmock.KubernetesError) and e.status == 404):
                self.errors.append(e)
                log.exception("fake dask operator: job %s/%s", namespace, name)
            await self.clusters.close(uid)

    async def _post_error(self, job: dict[str, Any], error: str) -> None:
        meta = job["metadata"]
        await self.store.create(
            self.table.find("events"),
            meta["namespace"],
            {
                "metadata": {"generateName": f"{meta['name']}."},
                "involvedObject": {
                    "apiVersion": job["apiVersion"],
                    "kind": job["kind"],
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta["uid"],
                },
                "type": "Error",
                "reason": "Logging",
                "message": "Handler 'daskjob_create_components' failed with an exception and "
                f"will try again in 60 seconds: {error}",
                "count": 1,
                "firstTimestamp": now_iso(),
                "lastTimestamp": now_iso(),
                "source": {"component": "kopf"},
            },
        )

    async def _job_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self.store.patch(self.jobs, namespace, name, {"status": status}, subresource="status")

    async def _watch_runners(self, ready: asyncio.Event) -> None:
        pods = self.table.find("pods")
        changes = self.store.watch(pods, self.namespace, Selector.parse(RUNNER_SELECTOR, None))
        ready.set()
        async for change in changes:
            try:
                await self._on_runner(change)
            except kmock.KubernetesError as e:
                if e.status != 404:
                    self.errors.append(e)
                    log.exception("fake dask operator: runner %s", change.name)

    async def _on_runner(self, change: Change) -> None:
        if change.type == "DELETED":
            return
        phase = change.obj.get("status", {}).get("phase")
        old_phase = (change.old or {}).get("status", {}).get("phase")
        if phase == old_phase:
            return  # the real operator reacts to changes of status.phase only
        meta = change.obj["metadata"]
        job_name = meta["labels"].get("dask.org/cluster-name", "")
        job = self.store.get(self.jobs, meta["namespace"], job_name)
        if job is None or job["metadata"]["uid"] not in self._tasks:
            return  # not a job of ours
        if phase == "Running":
            await self._job_status(
                meta["namespace"], job_name, {"jobStatus": "Running", "startTime": now_iso()}
            )
        elif phase in ("Succeeded", "Failed"):
            with contextlib.suppress(kmock.KubernetesError):
                await self.store.delete(
                    self.table.find("daskclusters"), meta["namespace"], job_name
                )
            await self.clusters.close(job["metadata"]["uid"])
            final = "Successful" if phase == "Succeeded" else "Failed"
            await self._job_status(
                meta["namespace"], job_name, {"jobStatus": final, "endTime": now_iso()}
            )

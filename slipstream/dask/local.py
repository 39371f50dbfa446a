"""The Dask cluster around one task attempt: start it, point Client() at it, always tear it down.

Called by DaskPlugin.local_context, inside `slipstream.execute` (one process per Dask attempt:
dask's config and DASK_SCHEDULER_ADDRESS are process-wide). Extra worker groups carry the Dask
resource ``{<group name>: 1}``: a task targets a group with ``client.submit(f, x,
resources={"gpu": 1})`` or ``with dask.annotate(resources={"gpu": 1}): ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

from slipstream.dask import keep
from slipstream.dask.config import Dask, config_from_json
from slipstream.dask.forking import SERVER_MODULE, forked_workers
from slipstream.dask.plan import ClusterPlan, Machine, plan_cluster
from slipstream.dask.shipping import ship_code
from slipstream.errors import SlipstreamError
from slipstream.ir import TaskTemplate
from slipstream.sdk.plugins import AttemptContext
from slipstream.trace import mark

log = logging.getLogger("slipstream.dask")

ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
# Set by build_daskjob on a DaskJob's runner: the operator runs the cluster, we only connect.
EXTERNAL_ENV = "SLIPSTREAM_DASK_EXTERNAL"
BUNDLE_ENV = "SLIPSTREAM_BUNDLE_DIR"  # set by slipstream.execute when it unpacked a code bundle
EXTERNAL_CONNECT_TIMEOUT = 300.0  # seconds: scheduler Pods may still be pulling their image
CLOSE_TIMEOUT = 10.0  # seconds for the cluster to close before its processes are killed
STOP_TIMEOUT = 1.0  # seconds for a worker to stop after a failure before it is killed


class DaskClusterError(SlipstreamError):
    """The task's Dask cluster could not be started or reached."""


_owner_lock = threading.Lock()
_owners: list[int] = []  # thread idents holding a cluster context in this process


@contextlib.contextmanager
def _claim_process() -> Iterator[None]:
    """Refuse two concurrent Dask attempts in one process: they would share one dask config."""
    me = threading.get_ident()
    with _owner_lock:
        others = [ident for ident in _owners if ident != me]
        if others:
            raise DaskClusterError(
                "another Dask task is running in this process; dask's config and "
                f"{ADDRESS_ENV} are process-wide, so each Dask attempt needs its own process"
            )
        _owners.append(me)
    try:
        yield
    finally:
        with _owner_lock:
            _owners.remove(me)


class _OnCluster:
    """dask's `scheduler` setting during a task: plain dask.compute runs on the task's cluster.

    Without it, dask.compute before any Client() exists runs on local threads. A Client the
    user made (to this cluster or another) still wins; else it connects on first use.
    Picklable: Nannies started later (adaptive scaling) hand dask's config to their workers.
    """

    def __init__(self, address: str) -> None:
        self.address = address

    def __call__(self, graph: Any, keys: Any, **kwargs: Any) -> Any:
        from distributed import get_client

        try:
            client = get_client()  # the worker's own, or the current default Client
        except ValueError:
            client = get_client(self.address)
        return client.get(graph, keys, **kwargs)


@contextlib.contextmanager
def _pointed_at(address: str) -> Iterator[None]:
    """Plain Client() (no address), get_client() and dask.compute use `address` while open."""
    import dask

    previous = os.environ.get(ADDRESS_ENV)
    os.environ[ADDRESS_ENV] = address
    try:
        with dask.config.set({"scheduler-address": address, "scheduler": _OnCluster(address)}):
            yield
    finally:
        if previous is None:
            os.environ.pop(ADDRESS_ENV, None)
        else:
            os.environ[ADDRESS_ENV] = previous


class _ToRoot(logging.Handler):
    """Hands distributed's warnings to the application's handlers (root), nothing below."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """Keep distributed's INFO chatter off the application's log handlers.

    It still reaches distributed's own in-memory log buffers, which become the attempt's
    dask-scheduler.log and dask-workers.log.
    """
    logger = logging.getLogger("distributed")
    if not logger.propagate:  # distributed has its own stderr handler; the cluster quiets it
        yield
        return
    handler = _ToRoot(logging.WARNING)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


@contextlib.contextmanager
def local_context(template: TaskTemplate, attempt: AttemptContext) -> Iterator[None]:
    """Run the attempt's body with its own Dask cluster (or the DaskJob's, on Kubernetes)."""
    config = config_from_json(template.config)
    with _claim_process(), _quiet_distributed():
        if os.environ.get(EXTERNAL_ENV):
            with _external_cluster(attempt, config, template):
                yield
            return
        plan = plan_cluster(config, Machine.detect())
        if plan.clamped:
            log.warning("%s", plan.summary)
            attempt.notices.append(plan.summary)
        else:
            log.info("%s", plan.summary)
        # The workers' fork server imports dask and the task's module while the scheduler
        # starts. Adaptive clusters spawn theirs: a forked worker retired by adaptive scaling
        # is not seen to go (distributed 2026.8).
        module = template.function.partition(":")[0]
        forked = forked_workers([module]) if plan.default.adaptive is None else nullcontext()
        with forked, _local_cluster(plan, attempt, config, template):
            yield


def _spawned_children() -> set[Any]:
    """Our descendants but fork servers: a Nanny's worker, spawned or forked by the server."""
    import psutil

    found = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if SERVER_MODULE not in " ".join(child.cmdline()):
                found.add(child)
    return found


def _start(plan: ClusterPlan) -> Any:
    from distributed import SpecCluster

    from slipstream.dask.cluster import GroupedCluster

    before = set(SpecCluster._instances)  # noqa: SLF001 - distributed's registry of clusters
    children = _spawned_children()
    try:
        return GroupedCluster(plan)
    except BaseException as exc:
        # A half-started cluster (Ctrl-C while workers start) still owns processes.
        for cluster in set(SpecCluster._instances) - before:  # noqa: SLF001 - as above
            with contextlib.suppress(BaseException):
                cluster.close(timeout=CLOSE_TIMEOUT)
        _reap(_spawned_children() - children)
        if isinstance(exc, Exception):
            raise DaskClusterError(f"could not start the local Dask cluster: {exc}") from exc
        raise


@contextlib.contextmanager
def _local_cluster(
    plan: ClusterPlan, attempt: AttemptContext, config: Dask, template: TaskTemplate
) -> Iterator[None]:
    from slipstream.dask.cluster import GroupAdaptive

    started = time.perf_counter()
    cluster = _start(plan)
    mark("cluster up")
    address = cluster.scheduler_address
    log.debug("dask: cluster at %s started in %.2f s", address, time.perf_counter() - started)
    processes = _worker_processes(cluster)
    kept: keep.Kept | None = None
    try:
        with _pointed_at(address):
            if plan.default.adaptive is not None:
                low, high = plan.default.adaptive
                cluster.adapt(Adaptive=GroupAdaptive, minimum=low, maximum=high)
            info: dict[str, Any] = {
                "dashboard": cluster.dashboard_link,
                "scheduler": address,
                "workers": plan.workers,
            }
            if plan.clamped:
                info["notice"] = plan.summary  # the attempt's stderr is a log file: say it here
            _report(attempt, info)
            recording = keep.begin(cluster.sync, cluster.scheduler_comm) if config.report else None
            failure: BaseException | None = None
            stopped = False
            try:
                yield
            except Exception as exc:  # the task failed: its report says how far it got
                failure = exc
                raise
            except BaseException:  # stopped (abort, timeout, Ctrl-C): its logs only, at once
                stopped = True
                raise
            finally:
                mark("body done")
                processes |= _worker_processes(cluster)  # adaptive scaling may have added some
                kept = _keep(
                    keep.SchedulerAccess(cluster.sync, cluster.scheduler_comm, cluster.scheduler),
                    attempt,
                    None if stopped else recording,
                    template,
                    failure,
                )
                _close_clients(address)
                if stopped or failure is not None:
                    _stop_workers(cluster)
    finally:
        try:
            cluster.close(timeout=CLOSE_TIMEOUT)
        except BaseException as exc:
            log.warning("dask: closing the cluster at %s failed: %r", address, exc)
            log.debug("dask: cluster close failure", exc_info=True)
        finally:
            _reap(processes)
            mark("cluster down")
            if kept is not None:
                kept.finish()


def _keep(
    access: keep.SchedulerAccess,
    attempt: AttemptContext,
    recording: keep.Recording | None,
    template: TaskTemplate,
    error: BaseException | None,
) -> keep.Kept:
    """The cluster's logs; its report and summary too if `recording`."""
    code = f"{template.name} ({template.function})"
    return keep.keep(access, attempt, recording, code=code, error=error)


def _stop_workers(cluster: Any) -> None:
    """After a failure, abort or timeout: stop the workers without waiting out their tasks.

    A graceful close waits for a worker's running tasks (4 s a Nanny, then SIGKILL): longer
    than an aborted task deserves, and close to the runner's own grace before it kills the
    whole attempt. Their logs are saved already.
    """

    async def stop() -> None:
        nannies = list(cluster.workers.values())
        await asyncio.gather(
            *(nanny.close(timeout=STOP_TIMEOUT) for nanny in nannies), return_exceptions=True
        )

    try:
        cluster.sync(stop)
    except Exception as exc:  # cluster.close and _reap still follow
        log.debug("dask: stopping the workers at once failed: %r", exc)


def _report(attempt: AttemptContext, info: dict[str, Any]) -> None:
    if attempt.report is None:
        return
    try:
        attempt.report(info)
    except Exception as exc:  # the engine's bookkeeping must not fail the user's task
        log.warning("dask: could not report %s: %s", info, exc)


def _worker_processes(cluster: Any) -> set[Any]:
    """The worker processes the cluster's Nannies run (psutil handles: safe from PID reuse)."""
    import psutil

    processes = set()
    for worker in list(cluster.workers.values()):
        with contextlib.suppress(Exception):
            if worker.pid:
                processes.add(psutil.Process(int(worker.pid)))
    return processes


def _reap(processes: set[Any]) -> None:
    """Kill worker processes that outlived cluster.close (e.g. a worker stuck in user code)."""
    import psutil

    alive = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.is_running():
                alive.extend([*process.children(recursive=True), process])
    if not alive:
        return
    log.warning("dask: killing %d worker process(es) left after the cluster closed", len(alive))
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, still = psutil.wait_procs(alive, timeout=3)
    for process in still:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(still, timeout=3)


def _close_clients(address: str) -> None:
    """Close every Client the user left open on this cluster (it is about to go away)."""
    from distributed import Client

    for client in list(Client._instances):  # noqa: SLF001 - distributed's open clients
        try:
            client_address = client.scheduler.address if client.scheduler else None
            if client_address == address and client.status not in ("closed", "closing"):
                client.close(timeout=CLOSE_TIMEOUT)
        except Exception as exc:
            log.debug("dask: closing a client of %s failed: %s", address, exc)


@contextlib.contextmanager
def _external_cluster(
    attempt: AttemptContext, config: Dask, template: TaskTemplate
) -> Iterator[None]:
    """Inside a DaskJob's runner: connect to the operator's scheduler, never start or stop it."""
    from distributed import Client

    address = os.environ.get(ADDRESS_ENV, "")
    if not address:
        raise DaskClusterError(
            f"{EXTERNAL_ENV} is set but {ADDRESS_ENV} is empty: this runner does not know "
            f"its DaskJob's scheduler"
        )
    try:
        client = Client(address, timeout=EXTERNAL_CONNECT_TIMEOUT, set_as_default=False)
    except Exception as exc:
        raise DaskClusterError(
            f"could not reach the Dask scheduler at {address} within "
            f"{EXTERNAL_CONNECT_TIMEOUT:.0f} s: {exc}"
        ) from exc
    try:
        bundle = os.environ.get(BUNDLE_ENV, "")
        if bundle:
            ship_code(client, bundle)
        with _pointed_at(address):
            _report(
                attempt,
                {
                    "dashboard": client.dashboard_link,
                    "scheduler": address,
                    "workers": len(client.scheduler_info().get("workers", {})),
                },
            )
            recording = keep.begin(client.sync, client.scheduler) if config.report else None
            failure: BaseException | None = None
            stopped = False
            try:
                yield
            except Exception as exc:
                failure = exc
                raise
            except BaseException:
                stopped = True
                raise
            finally:
                recorded = None if stopped else recording
                access = keep.SchedulerAccess(
                    client.sync,
                    client.scheduler,
                    run_on_scheduler=functools.partial(client.run_on_scheduler, asynchronous=True),
                )
                _keep(access, attempt, recorded, template, failure).finish()
                _close_clients(address)
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=CLOSE_TIMEOUT)

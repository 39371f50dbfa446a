"""Creating an attempt's objects; used by the runner (first try) and the follower (retries).

The main object (a Pod or a DaskJob) first. A DaskJob's extra objects (DaskWorkerGroups, a
DaskAutoscaler) wait until the operator made its DaskCluster: the operator looks the
cluster up when they appear, gives up within seconds and retries only a minute later.
They are owned by the DaskJob, without blockOwnerDeletion, which would need `update` on
`daskjobs/finalizers` where the OwnerReferencesPermissionEnforcement admission plugin runs.
"""

from __future__ import annotations

import time
from typing import Any

from slipstream.runners.kubernetes.client import ApiError, KubeClient
from slipstream.runners.kubernetes.conditions import Waiting, refusal
from slipstream.runners.kubernetes.tracked import Tracked

RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0


def _what(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']} {meta['name']} in namespace {meta['namespace']}"


async def create_main(client: KubeClient, tracked: Tracked) -> Waiting | None:
    """Create `tracked.unsent[0]`; None once it exists, else why not (then retry later)."""
    main = tracked.unsent[0]
    try:
        try:
            created = await client.create(main)
        except ApiError as exc:
            if exc.status != 409:
                raise
            # Made by an earlier try of this very launch: follow it.
            created = await client.get(tracked.kind, tracked.name, tracked.namespace) or {}
    except ApiError as exc:
        waiting = refusal(exc.status, str(exc), _what(main))
        if exc.status == 404 and main["kind"] != "Pod":
            hint = f" (is the operator that serves {main['kind']} installed?)"
            waiting = Waiting(waiting.reason, waiting.message + hint, permanent=True)
        tracked.retry_delay = min(
            max(tracked.retry_delay * 2, RETRY_FIRST_SECONDS), RETRY_MAX_SECONDS
        )
        tracked.retry_at = time.monotonic() + tracked.retry_delay
        return waiting
    uid = created.get("metadata", {}).get("uid", "")
    owner = {"apiVersion": main["apiVersion"], "kind": main["kind"], "name": tracked.name}
    extras = []
    for extra in tracked.unsent[1:]:
        if uid:  # so that deleting the main object deletes it too
            extra["metadata"]["ownerReferences"] = [{**owner, "uid": uid}]
        extras.append(extra)
    tracked.unsent = []
    tracked.extras = extras
    tracked.created, tracked.created_at = True, time.monotonic()
    tracked.refusal = None
    tracked.retry_delay = 0.0
    tracked.created_object = created
    return None


async def create_extras(client: KubeClient, tracked: Tracked) -> Waiting | None:
    """Create the DaskJob's extra objects; None when all exist, else why not."""
    while tracked.extras:
        extra = tracked.extras[0]
        try:
            await client.create(extra)
        except ApiError as exc:
            if exc.status != 409:
                return refusal(exc.status, str(exc), _what(extra))
        tracked.extras.pop(0)
    return None

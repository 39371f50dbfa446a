"""Schedules: activating launch plans, and firing each slot once; used by the API and the server.

Public methods: activate, deactivate, state, tick (one pass, also for tests), start, stop.
Each slot is taken through a unique key on (plan, slot) in the same transaction that stores
the execution it fires (QUEUED, with its lease), so a slot fires exactly once whatever
servers run, also when the server that fired it dies at once (another takes the execution
up). After downtime only the latest missed
slot fires; the log says how many were skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from typing import Any

from slipstream.engine.ids import new_execution_id
from slipstream.ir import LaunchPlanTemplate, ScheduleSpec, decode
from slipstream.server.services.catalog import CatalogService
from slipstream.server.services.cron import Cron
from slipstream.storage.metadata.server_records import CatalogEntry, ScheduleState, SlotRecord
from slipstream.storage.metadata.server_store import ServerStore

log = logging.getLogger("slipstream.server.schedules")

TICK_SECONDS = 0.5
MAX_CRON_STEPS = 1_000_000


def due_slots(
    spec: ScheduleSpec, since: float, anchor: float, now: float
) -> tuple[float | None, int]:
    """(the latest slot in (since, now], how many earlier ones in that span were missed)."""
    if spec.rate_seconds > 0:
        rate = spec.rate_seconds
        last_due = math.floor((now - anchor) / rate)
        first_new = math.floor((since - anchor) / rate) + 1
        if last_due < max(first_new, 1):
            return None, 0
        return anchor + last_due * rate, last_due - max(first_new, 1)
    cron = Cron.parse(spec.cron)
    moment = dt.datetime.fromtimestamp(since, dt.UTC)
    latest: float | None = None
    count = 0
    for _ in range(MAX_CRON_STEPS):
        moment = cron.next_after(moment)
        if moment.timestamp() > now:
            break
        latest = moment.timestamp()
        count += 1
    return latest, max(0, count - 1)


class ScheduleService:
    def __init__(self, store: ServerStore, catalog: CatalogService, executions: Any) -> None:
        self.store = store
        self.catalog = catalog
        self.executions = executions
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- activation ----------------------------------------------------------------------------
    def activate(
        self, project: str, domain: str, name: str, version: str | None = None
    ) -> dict[str, Any]:
        """Make a version (the latest by default) of the plan the one that fires."""
        entry = self.catalog.get_entry(project, domain, "launch_plan", name, version)
        self.store.set_schedule(
            ScheduleState(
                project=project, domain=domain, name=name, version=entry.version, active=True
            )
        )
        return self.state(project, domain, name)

    def deactivate(self, project: str, domain: str, name: str) -> dict[str, Any]:
        self.catalog.get_entry(project, domain, "launch_plan", name)
        current = self.store.get_schedule(project, domain, name)
        version = current.version if current is not None else ""
        state = ScheduleState(
            project=project, domain=domain, name=name, version=version, active=False
        )
        self.store.set_schedule(state)
        return self.state(project, domain, name)

    def state(self, project: str, domain: str, name: str) -> dict[str, Any]:
        current = self.store.get_schedule(project, domain, name)
        return {
            "project": project,
            "domain": domain,
            "name": name,
            "active": bool(current and current.active),
            "version": current.version if current else None,
            "since": current.updated_at if current else None,
            "last_slot": self.store.last_slot(project, domain, name),
        }

    # -- firing --------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[str]:
        """Fire every active plan's latest due slot not fired yet; the new execution ids."""
        now = time.time() if now is None else now
        fired = []
        for state in self.store.active_schedules():
            try:
                execution_id = self._fire(state, now)
            except Exception:  # one broken plan must not stop the others
                log.exception("launch plan %s: its schedule failed", state.name)
                continue
            if execution_id:
                fired.append(execution_id)
        return fired

    def _fire(self, state: ScheduleState, now: float) -> str | None:
        entry = self.store.get_entry(
            state.project, state.domain, "launch_plan", state.name, state.version
        )
        if entry is None:
            return None
        plan = decode(entry.template, LaunchPlanTemplate)
        if plan.schedule is None:
            return None
        last = self.store.last_slot(state.project, state.domain, state.name)
        since = max(last if last is not None else state.updated_at, state.updated_at)
        slot, skipped = due_slots(plan.schedule, since, state.updated_at, now)
        if slot is None:
            return None
        given: dict[str, Any] = {}
        arg = plan.schedule.kickoff_time_input_arg
        if arg:
            given[arg] = dt.datetime.fromtimestamp(slot, dt.UTC).isoformat()
        record = SlotRecord(
            project=state.project,
            domain=state.domain,
            name=state.name,
            slot=slot,
            execution_id=new_execution_id(),
            skipped=skipped,
            fired_at=now,
        )
        execution_id = self._launch(entry, given, record)
        if execution_id is None:
            return None  # another server fired it
        if skipped:
            log.warning(
                "launch plan %s: %d missed slot(s) skipped after downtime; firing only the "
                "latest (%s)",
                state.name,
                skipped,
                dt.datetime.fromtimestamp(slot, dt.UTC).isoformat(),
            )
        log.info("launch plan %s: slot %s fired as %s", state.name, slot, execution_id)
        return execution_id

    def _launch(self, entry: CatalogEntry, given: dict[str, Any], slot: SlotRecord) -> str | None:
        """Take the slot and store the execution it fires in one transaction; drive it here
        if this server has room (else any server with room claims it). None if taken."""
        info, template, literals = self.executions.prepared(
            entry, given, {}, "schedule", "schedule", slot.execution_id
        )
        runtime = self.executions.runtime
        bundle = entry.bundle_uri
        record, nodes = runtime.prepare(
            template,
            literals,
            source_root=self.catalog.source_root(bundle),
            options={"bundle_uri": bundle} if bundle else {},
            execution_id=info.execution_id,
        )
        lease = runtime.lease_for(info.execution_id)
        if not self.store.fire_slot(slot, info, record, nodes, lease):
            return None
        runtime.drive_stored(lease)
        return info.execution_id

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(TICK_SECONDS):
                try:
                    self.tick()
                except Exception:
                    log.exception("the scheduler failed; trying again")

        self._thread = threading.Thread(target=loop, name="schedules", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

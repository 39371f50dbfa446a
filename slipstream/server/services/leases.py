"""This server's leases on executions: renewed by heartbeat, claimed when free; for the runtime.

A `LeaseKeeper` has a thread that, every `tick`, renews the leases it holds (every third of
the lease time) and claims executions whose lease is free (unowned: QUEUED for any server)
or expired (their server died), as many as the runtime has room for; the runtime drives
each claimed one. A lease it could not renew in time (the database out of reach, or another
server took it over) is marked lost: the engine driving it writes nothing more and stops.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from slipstream.storage.metadata.leases import LeaseStore
from slipstream.storage.records import Lease

log = logging.getLogger("slipstream.server.leases")


def server_id() -> str:
    """A name for this server process, unique among the servers of one database."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


class LeaseKeeper:
    def __init__(
        self,
        store: LeaseStore,
        seconds: float,
        *,
        room: Callable[[], int],
        take: Callable[[Lease], None],
        sole: bool = False,
    ) -> None:
        """room(): how many more executions the runtime can drive; take(lease): drive one.

        sole: this is the only server of its database (SQLite): at start, every lease not
        its own is a dead server's and is claimed at once, without waiting for its expiry.
        """
        self.store = store
        self.seconds = seconds
        self.owner = server_id()
        self.tick = min(1.0, seconds / 4)
        self._room, self._take = room, take
        self._steal = sole
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewed = 0.0

    def new(self, execution_id: str) -> Lease:
        """A lease of this server on a new execution (stored with it, then `hold`)."""
        return Lease(
            execution_id=execution_id,
            owner=self.owner,
            token=1,
            expires_at=time.time() + self.seconds,
            held_until=time.monotonic() + self.seconds,
        )

    def hold(self, lease: Lease) -> None:
        with self._lock:
            self._held[lease.execution_id] = lease

    def drop(self, lease: Lease, *, ended: bool) -> None:
        """Stop renewing; ended: the execution is over, its lease row goes too."""
        with self._lock:
            if self._held.get(lease.execution_id) is lease:
                del self._held[lease.execution_id]
        if ended:
            try:
                self.store.release(lease)
            except Exception:  # an expired row is harmless: nobody claims an ended execution
                log.warning("execution %s: its lease could not be released", lease.execution_id)

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def renew(self) -> None:
        """Push the expiry of every lease held; mark lost the ones no longer ours."""
        started = time.monotonic()
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        try:
            kept = self.store.renew(self.owner, list(held), self.seconds, time.time())
        except Exception as exc:  # each lease stays valid until its own deadline passes
            log.warning("leases could not be renewed (%s); trying again", exc)
            return
        for execution_id, lease in held.items():
            if execution_id in kept:
                lease.held_until = started + self.seconds
            else:
                lease.held_until = 0.0
                log.warning("execution %s: lease lost to another server", execution_id)

    def claim(self) -> int:
        """Claim free or expired leases as the runtime has room; how many were taken."""
        room = self._room()
        if room < 1:
            return 0
        started = time.monotonic()
        claimed = self.store.claim(
            self.owner, self.seconds, time.time(), room, any_owner=self._steal
        )
        self._steal = False
        for lease in claimed:
            lease.held_until = started + self.seconds
            log.info("execution %s: taken up (lease token %d)", lease.execution_id, lease.token)
            self.hold(lease)
            self._take(lease)
        return len(claimed)

    def step(self) -> None:
        now = time.monotonic()
        if now - self._renewed >= self.seconds / 3:
            self._renewed = now
            self.renew()
        self.claim()

    def start(self) -> int:
        """Claim what is free now (how many), then keep going on a thread."""
        now = time.monotonic()
        self._renewed = now
        taken = self.claim()

        def loop() -> None:
            while not self._stop.wait(self.tick):
                try:
                    self.step()
                except Exception:
                    log.exception("the lease keeper failed; trying again")

        self._thread = threading.Thread(target=loop, name="leases", daemon=True)
        self._thread.start()
        return taken

    def stop(self, hand_over: bool = False) -> None:
        """Claim and renew no more; hand_over: let this server's leases expire at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if hand_over:
            try:
                self.store.expire(self.owner)
            except Exception as exc:
                log.warning("leases could not be handed over (%s); they expire by themselves", exc)

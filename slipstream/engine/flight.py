"""The attempts in flight of one execution: parallelism slots, deadlines, launches to make and
how to stop them; owned by the loop."""

from __future__ import annotations

from slipstream.engine.attempts import Attempt, Cancellations


class InFlight:
    """Attempts by their node id ("<node>" or "<map>/<index>"), at most `slots` at a time."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.taken = 0
        self.attempts: dict[str, Attempt] = {}
        self.deadlines: dict[str, float] = {}  # attempt node id -> monotonic time it times out
        self.to_launch: list[Attempt] = []
        self.timed_out_stops = Cancellations()  # never waited for: the caller moves on

    def has_room(self) -> bool:
        return self.taken < self.slots

    def take_slot(self) -> bool:
        if self.taken >= self.slots:
            return False
        self.taken += 1
        return True

    def release_slot(self) -> None:
        self.taken -= 1

    def add(self, attempt: Attempt, *, launch: bool) -> None:
        """A launched attempt is queued for the loop; an adopted one runs already (and takes
        a slot of its own, whatever max_parallelism says now)."""
        self.attempts[attempt.id] = attempt
        if launch:
            self.to_launch.append(attempt)
        else:
            self.taken += 1

    def current(self, node_id: str, attempt: int) -> Attempt | None:
        """The attempt in flight, None if it ended, was stopped or is an older one."""
        found = self.attempts.get(node_id)
        return found if found is not None and found.spec.attempt == attempt else None

    def set_deadline(self, attempt: Attempt, when: float) -> None:
        attempt.deadline = when
        self.deadlines[attempt.id] = when

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values()) if self.deadlines else None

    def timed_out(self, now: float) -> list[Attempt]:
        """Launched attempts whose deadline has passed."""
        late = [self.attempts.get(key) for key, when in self.deadlines.items() if now >= when]
        return [attempt for attempt in late if attempt is not None and attempt.handle is not None]

    def ended(self, attempt: Attempt) -> None:
        del self.attempts[attempt.id]
        self.deadlines.pop(attempt.id, None)
        self.taken -= 1

    def stop(self, attempt: Attempt) -> None:
        """Stop a timed-out attempt on a thread of its own; nobody waits for its teardown
        (the process does at exit: the threads are not daemons)."""
        if attempt.handle is not None:
            self.timed_out_stops.cancel(attempt.runner, attempt.handle, attempt.id)

    def stop_under(self, prefix: str, stopping: Cancellations) -> list[Attempt]:
        """Stop (through `stopping`) every attempt of a node under `prefix` and forget them;
        returns the ones that had been launched."""
        launched = []
        for attempt in list(self.attempts.values()):
            if not attempt.owner.startswith(prefix):
                continue
            if attempt.handle is not None:
                stopping.cancel(attempt.runner, attempt.handle, attempt.id)
                launched.append(attempt)
            self.ended(attempt)
        self.to_launch = [a for a in self.to_launch if not a.owner.startswith(prefix)]
        if not prefix:
            self.taken = 0
        return launched

"""Retry decisions and backoff: which budget a failure spends and how long to wait."""

from __future__ import annotations

import random
from dataclasses import dataclass

from slipstream.ir import ErrorDocument
from slipstream.types import ErrorKind


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    budget: str  # "user" | "system" | ""
    delay: float = 0.0


def decide(
    error: ErrorDocument,
    *,
    user_failures: int,
    system_failures: int,
    user_retries: int,
    system_retries: int,
    backoff: float,
    backoff_max: float,
) -> RetryDecision:
    """user_failures / system_failures count earlier failures, not this one."""
    if error.kind == ErrorKind.SYSTEM.value:
        if error.recoverable and system_failures < system_retries:
            return RetryDecision(True, "system", _delay(system_failures, backoff, backoff_max))
        return RetryDecision(False, "system")
    if error.recoverable and user_failures < user_retries:
        return RetryDecision(True, "user", _delay(user_failures, backoff, backoff_max))
    return RetryDecision(False, "user")


def _delay(failures: int, backoff: float, backoff_max: float) -> float:
    """Exponential with full jitter in [half, whole] of the step."""
    step = min(backoff_max, backoff * (2**failures))
    return step * random.uniform(0.5, 1.0)

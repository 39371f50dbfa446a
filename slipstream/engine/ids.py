"""Execution ids: short, time-ordered, DNS-safe; made by the engine."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 36)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))


def new_execution_id() -> str:
    """'e' + 7 time digits + 6 random digits, all lowercase base 36 (14 characters)."""
    millis = int(time.time() * 1000)
    return "e" + _base36(millis // 100, 7) + _base36(secrets.randbits(31), 6)

"""A light module for the whole-process cached re-run benchmark (imports nothing heavy)."""

from __future__ import annotations

from slipstream import task


@task(cache=True, cache_version="1")
def cached_square(n: int) -> int:
    return n * n

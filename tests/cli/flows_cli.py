"""Entities the CLI tests run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from slipstream import Cache, task, workflow


@dataclass
class Point:
    x: int
    y: int


@task
def scale(points: list[Point], factor: float = 2.0) -> list[Point]:
    """Multiply every point by a factor."""
    return [Point(int(p.x * factor), int(p.y * factor)) for p in points]


@task(cache=Cache(version="1", ttl=timedelta(days=1)))
def square(n: int) -> int:
    return n * n


@task
def explode(message: str) -> int:
    return _deep(message)


def _deep(message: str) -> int:
    raise ValueError(f"exploded: {message}")


@workflow
def total(n: int, wait: timedelta = timedelta(seconds=0)) -> int:
    return square(n=n)

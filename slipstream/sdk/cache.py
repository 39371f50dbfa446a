"""Cache(...): the caching options of a task, validated at definition; read by task()."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from slipstream.errors import DefinitionError
from slipstream.ir import CacheSpec


@dataclass(frozen=True)
class Cache:
    """Flyte's Cache: a version, inputs left out of the key, a time to live, and serialisation."""

    version: str = ""
    ignored_inputs: tuple[str, ...] | list[str] = ()
    ttl: timedelta | float | int | None = None
    serialize: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.version, str):
            raise DefinitionError(f"Cache(version={self.version!r}): expected a string")
        if isinstance(self.ignored_inputs, str):
            raise DefinitionError(
                f"Cache(ignored_inputs={self.ignored_inputs!r}): expected a list of input names"
            )
        if self.ttl is not None:
            seconds = _ttl_seconds(self.ttl)
            if seconds <= 0:
                raise DefinitionError(f"Cache(ttl={self.ttl!r}): must be positive")

    def to_spec(self, default_version: str = "") -> CacheSpec:
        return CacheSpec(
            version=self.version or default_version,
            ignored_inputs=tuple(self.ignored_inputs),
            ttl_seconds=None if self.ttl is None else _ttl_seconds(self.ttl),
            serialize=self.serialize,
        )


def _ttl_seconds(ttl: timedelta | float | int) -> float:
    if isinstance(ttl, timedelta):
        return ttl.total_seconds()
    if isinstance(ttl, int | float) and not isinstance(ttl, bool):
        return float(ttl)
    raise DefinitionError(f"Cache(ttl={ttl!r}): expected a timedelta or a number of seconds")

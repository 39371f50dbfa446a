"""Cache keys of task attempts (DESIGN §6), and the check of an entry before it is served.

Used by the engine's task nodes and map items before they launch anything.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

from slipstream.ir import (
    Literal,
    LiteralMap,
    LiteralMapDocument,
    TaskTemplate,
    decode,
    encode,
    literal_hash,
)

log = logging.getLogger("slipstream.engine")


def cache_version(task: TaskTemplate) -> str:
    assert task.cache is not None
    return task.cache.version or f"src-{task.source_hash}"


def cache_key(task: TaskTemplate, inputs: LiteralMap) -> str:
    """Hash of task name, cache version, interface types and input content hashes."""
    assert task.cache is not None
    ignored = set(task.cache.ignored_inputs)
    digest = hashlib.sha256()
    digest.update(task.name.encode())
    digest.update(b"\0" + cache_version(task).encode())
    digest.update(b"\0" + encode(task.interface))
    for name in sorted(inputs):
        if name not in ignored:
            digest.update(b"\0" + name.encode() + b"=" + literal_hash(inputs[name]).encode())
    return digest.hexdigest()


def offloaded(literals: Iterator[Literal]) -> Iterator[Literal]:
    """Every literal stored in the blob store, nested ones too."""
    for literal in literals:
        if literal.uri:
            yield literal
        if literal.items is not None:
            yield from offloaded(iter(literal.items))
        if literal.entries is not None:
            yield from offloaded(iter(literal.entries.values()))


def blob_problems(blobs: Any, outputs: LiteralMap) -> list[str]:
    """What is wrong with the blobs of a stored value (empty when they are all fine)."""
    problems = []
    for literal in offloaded(iter(outputs.values())):
        problem = blobs.verify(literal.uri)
        if problem:
            problems.append(f"{literal.uri} {problem}")
    return problems


def servable(store: Any, blobs: Any, task_name: str, entry: Any) -> LiteralMap | None:
    """A cache entry's outputs if its blobs are sound; else it is evicted with a warning."""
    outputs = decode(entry.outputs, LiteralMapDocument).literals
    problems = blob_problems(blobs, outputs)
    if not problems:
        return outputs
    store.cache_evict(entry.key)
    log.warning(
        "cache entry %s of task %s is broken (%s): evicted; the task runs again",
        entry.key[:12],
        task_name,
        problems[0],
    )
    return None

"""Cache keys of task attempts (DESIGN §6); computed by the engine before it launches anything."""

from __future__ import annotations

import hashlib

from slipstream.ir import LiteralMap, TaskTemplate, encode, literal_hash


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

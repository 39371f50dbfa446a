"""The attempt of a node that a command names; used by `executions logs` and `executions report`."""

from __future__ import annotations

from typing import Any

import click

from slipstream.storage.records import AttemptRecord


def chosen_attempt(store: Any, execution_id: str, node: str, attempt: int | None) -> AttemptRecord:
    """Attempt `attempt` of `node` (its last when None); a usage error naming what exists."""
    attempts = store.get_attempts(execution_id, node)
    if not attempts:
        known = sorted({n.node_id for n in store.get_nodes(execution_id)})
        raise click.BadParameter(
            f"node {node!r} of execution {execution_id} has no attempts; nodes: {', '.join(known)}",
            param_hint="NODE",
        )
    chosen = (
        attempts[-1]
        if attempt is None
        else next((a for a in attempts if a.attempt == attempt), None)
    )
    if chosen is None:
        raise click.BadParameter(f"node {node!r} has no attempt {attempt}", param_hint="--attempt")
    return chosen

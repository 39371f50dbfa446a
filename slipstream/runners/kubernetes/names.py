"""Names, labels and annotations of the objects an attempt creates; pure, for pods and runner."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slipstream.sdk.plugins import PluginAttempt

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "slipstream"
SELECTOR = f"{MANAGED_BY}={MANAGER}"  # every object and Pod of every attempt carries it
EXECUTION_LABEL = "slipstream.io/execution"
NODE_LABEL = "slipstream.io/node"
ATTEMPT_LABEL = "slipstream.io/attempt"
# Label values are cut at 63 characters; the full ids ride along as annotations.
EXECUTION_ANNOTATION = "slipstream.io/execution-id"
NODE_ANNOTATION = "slipstream.io/node-id"
PREFIX_ANNOTATION = "slipstream.io/output-prefix"
MAX_POD_NAME = 63
MAX_LABEL = 63
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns_part(text: str) -> str:
    """Lowercase letters, digits and single dashes, no dash at either end."""
    return re.sub(r"-{2,}", "-", _NOT_DNS.sub("-", text.lower())).strip("-")


def label_value(text: str) -> str:
    """A Kubernetes label value: at most 63 characters, alphanumeric at both ends."""
    return _NOT_LABEL.sub("-", text)[:MAX_LABEL].strip("-_.")


def is_dns_label(name: str, limit: int = MAX_POD_NAME) -> bool:
    return len(name) <= limit and bool(_DNS_LABEL.match(name))


def attempt_digest(execution_id: str, node_id: str, attempt: int) -> str:
    return hashlib.sha256(f"{execution_id}\0{node_id}\0{attempt}".encode()).hexdigest()


def pod_name(execution_id: str, node_id: str, attempt: int, limit: int = MAX_POD_NAME) -> str:
    """The Pod of one attempt: `ss-<execution>-<node>-<attempt>-<hash>` (see attempt_name)."""
    return attempt_name(execution_id, node_id, attempt, limit=limit)


def attempt_name(
    execution_id: str,
    node_id: str,
    attempt: int,
    *,
    limit: int = MAX_POD_NAME,
    execution_chars: int = 14,
    digest_chars: int = 6,
) -> str:
    """`ss-<execution>-<node>-<attempt>-<hash>`: DNS-1123, unique per attempt, <= `limit`.

    The hash covers the full ids, so cutting the node id keeps names apart; it is
    deterministic, so creating the same attempt twice conflicts instead of running twice.
    Plugins name their objects (a DaskJob) with it too, with a shorter limit.
    """
    digest = attempt_digest(execution_id, node_id, attempt)[:digest_chars]
    execution = dns_part(execution_id)[:execution_chars].strip("-") or "x"
    fixed = f"ss-{execution}--{attempt}-{digest}"
    node = dns_part(node_id)[: max(0, limit - len(fixed))].strip("-")
    parts = (
        ["ss", execution, node, str(attempt), digest]
        if node
        else ["ss", execution, str(attempt), digest]
    )
    return "-".join(parts)[:limit].strip("-")


def attempt_labels(spec: PluginAttempt) -> dict[str, str]:
    """Labels naming execution, node and attempt of an AttemptSpec (runners/base.py)."""
    return {
        MANAGED_BY: MANAGER,
        EXECUTION_LABEL: label_value(spec.execution_id),
        NODE_LABEL: label_value(spec.node_id),
        ATTEMPT_LABEL: str(spec.attempt),
    }


def attempt_annotations(spec: PluginAttempt) -> dict[str, str]:
    return {
        EXECUTION_ANNOTATION: spec.execution_id,
        NODE_ANNOTATION: spec.node_id,
        PREFIX_ANNOTATION: spec.output_prefix,
    }


def attempt_selector(execution_id: str, attempt: int) -> str:
    """A label selector for the objects of one attempt of any node of an execution."""
    return f"{SELECTOR},{EXECUTION_LABEL}={label_value(execution_id)},{ATTEMPT_LABEL}={attempt}"

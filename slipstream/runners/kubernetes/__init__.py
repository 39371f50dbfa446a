"""The Kubernetes runner: attempts as Pods or plugin objects (DaskJobs); the engine loads it lazily.

`KubernetesRunner` (and with it kr8s) loads on first access, so the pure builders here
(`names`, `pods`, `status`, `manifests`) serve `slipstream k8s render|manifests` without kr8s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipstream.runners.kubernetes.runner import KubernetesRunner

__all__ = ["KubernetesRunner"]


def __getattr__(name: str) -> Any:
    if name == "KubernetesRunner":
        from slipstream.runners.kubernetes.runner import KubernetesRunner

        return KubernetesRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

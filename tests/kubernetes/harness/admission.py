"""Validation and defaulting on create/update, as the real API server's admission does."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from .objects import api_error
from .resources import ResourceSpec

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_POD_MUTABLE_SPEC = ("activeDeadlineSeconds", "tolerations")


def validate_name(spec: ResourceSpec, name: str) -> None:
    """The metadata.name rules of the real API server (DNS-1123 subdomain or label)."""
    pattern, limit = (_LABEL, 63) if spec.name_rule == "label" else (_SUBDOMAIN, 253)
    if not isinstance(name, str) or len(name) > limit or not pattern.match(name):
        raise api_error(
            422,
            "Invalid",
            f'{spec.kind} "{name}" is invalid: metadata.name: Invalid value: '
            f"{name!r}: a lowercase RFC 1123 "
            f"{'label' if spec.name_rule == 'label' else 'subdomain'} of at most "
            f"{limit} characters must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric "
            "character",
        )


def apply_defaults(spec: ResourceSpec, obj: dict[str, Any], next_ip: Callable[[], str]) -> None:
    """The few defaults the real API server applies that our users read back."""
    body_spec = obj.setdefault("spec", {}) if spec.kind in ("Pod", "Service") else None
    if spec.kind == "Pod":
        assert body_spec is not None
        containers = body_spec.get("containers")
        if not isinstance(containers, list) or not containers:
            raise api_error(
                422,
                "Invalid",
                f'Pod "{obj["metadata"]["name"]}" is invalid: spec.containers: Required value',
            )
        for index, container in enumerate(containers):
            if not isinstance(container, dict) or not container.get("name"):
                raise api_error(422, "Invalid", f"spec.containers[{index}].name: Required value")
        body_spec.setdefault("restartPolicy", "Always")
        body_spec.setdefault("terminationGracePeriodSeconds", 30)
        body_spec.setdefault("serviceAccountName", "default")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif spec.kind == "Service":
        assert body_spec is not None
        body_spec.setdefault("type", "ClusterIP")
        if body_spec.get("clusterIP") != "None":
            body_spec["clusterIP"] = next_ip()
            body_spec["clusterIPs"] = [body_spec["clusterIP"]]
        obj["status"] = {"loadBalancer": {}}
    elif spec.kind == "Secret" and obj.get("stringData"):
        # stringData is write-only: it lands base64-encoded in data.
        data = obj.setdefault("data", {})
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    elif spec.kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif spec.kind == "Deployment":
        obj.setdefault("spec", {}).setdefault("replicas", 1)


def check_pod_update(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Pods are immutable but for images, activeDeadlineSeconds and tolerations."""

    def comparable(pod_spec: dict[str, Any]) -> dict[str, Any]:
        result = {k: v for k, v in pod_spec.items() if k not in _POD_MUTABLE_SPEC}
        for key in ("containers", "initContainers"):
            if key in result:
                result[key] = [{k: v for k, v in c.items() if k != "image"} for c in result[key]]
        return result

    if comparable(old.get("spec", {})) != comparable(new.get("spec", {})):
        raise api_error(
            422,
            "Invalid",
            f'Pod "{old["metadata"]["name"]}" is invalid: spec: Forbidden: pod '
            "updates may not change fields other than spec.containers[*].image, "
            "spec.initContainers[*].image, spec.activeDeadlineSeconds, "
            "spec.tolerations (only additions to existing tolerations)",
        )

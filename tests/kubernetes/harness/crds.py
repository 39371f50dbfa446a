"""Validates Dask custom resources as a real API server with the shipped CRDs would.

For tests that build DaskJobs (the harness tests, the Kubernetes runner's tests): schema
errors, fields a real server would silently prune, and names the operator rejects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema

from .resources import DASK_CRD_FILES, crd_schema, load_crd

MAX_CLUSTER_NAME = 53  # dask-kubernetes: 63 minus len("-scheduler")


def _pruned(obj: Any, schema: dict[str, Any], path: str) -> Iterator[str]:
    """Paths of fields that structural-schema pruning would drop."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(obj, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, value in obj.items():
            if properties is not None and key in properties:
                yield from _pruned(value, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                yield from _pruned(value, extra, f"{path}.{key}")
            elif (properties is not None or schema.get("type") == "object") and not (
                extra is True or schema.get("x-kubernetes-embedded-resource")
            ):
                yield f"{path}.{key}"
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(obj):
            yield from _pruned(item, schema["items"], f"{path}[{index}]")


def problems(obj: dict[str, Any], crd: str = "daskjob") -> list[str]:
    """Everything wrong with `obj` as a `crd` resource ([] when a real server takes it as is)."""
    if crd not in DASK_CRD_FILES:
        raise ValueError(f"crd {crd!r}: expected one of {DASK_CRD_FILES}")
    names = load_crd(crd)["spec"]["names"]
    found: list[str] = []
    if obj.get("kind") != names["kind"]:
        found.append(f"kind is {obj.get('kind')!r}, expected {names['kind']!r}")
    if obj.get("apiVersion") != "kubernetes.dask.org/v1":
        found.append(f"apiVersion is {obj.get('apiVersion')!r}, expected 'kubernetes.dask.org/v1'")
    name = (obj.get("metadata") or {}).get("name", "")
    if crd in ("daskjob", "daskcluster"):
        from dask_kubernetes.constants import VALID_CLUSTER_NAME

        if not VALID_CLUSTER_NAME.match(name):
            found.append(
                f"metadata.name {name!r} is not a DNS-1123 label of at most "
                f"{MAX_CLUSTER_NAME} characters (the operator rejects it)"
            )
    schema = dict(crd_schema(crd))
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    properties = {k: v for k, v in schema.get("properties", {}).items() if k != "metadata"}
    schema = {**schema, "properties": properties}
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path) or "(root)"
        found.append(f"{where}: {error.message}")
    found.extend(
        f"{p.lstrip('.')}: unknown field, a real API server drops it"
        for p in _pruned(body, schema, "")
    )
    return found


def validate_daskjob(obj: dict[str, Any]) -> None:
    """Raise ValueError listing every problem of a DaskJob (see `problems`)."""
    found = problems(obj, "daskjob")
    if found:
        name = (obj.get("metadata") or {}).get("name")
        raise ValueError(f"DaskJob {name!r} is not valid:\n- " + "\n- ".join(found))

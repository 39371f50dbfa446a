"""The resource kinds the test API server serves, and the CRD schemas; used by all the harness."""

from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass, field
from typing import Any

import dask_kubernetes
import yaml

VERBS = frozenset(
    {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)


@dataclass(frozen=True)
class ResourceSpec:
    """One served resource: where it lives in the API and how it behaves."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool = True
    subresources: frozenset[str] = frozenset()
    short_names: frozenset[str] = frozenset()
    # Field selectors the real API server accepts besides metadata.name/namespace.
    selectable_fields: frozenset[str] = frozenset()
    # "subdomain" (DNS-1123, 253 chars) or "label" (DNS-1123 label, 63 chars).
    name_rule: str = "subdomain"
    defaults: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


_POD_FIELDS = frozenset(
    {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    }
)
_EVENT_FIELDS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)

CORE: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        "",
        "v1",
        "pods",
        "Pod",
        "pod",
        subresources=frozenset({"status", "log"}),
        short_names=frozenset({"po"}),
        selectable_fields=_POD_FIELDS,
    ),
    ResourceSpec(
        "",
        "v1",
        "services",
        "Service",
        "service",
        subresources=frozenset({"status"}),
        short_names=frozenset({"svc"}),
        name_rule="label",
    ),
    ResourceSpec(
        "",
        "v1",
        "namespaces",
        "Namespace",
        "namespace",
        namespaced=False,
        subresources=frozenset({"status"}),
        short_names=frozenset({"ns"}),
        selectable_fields=frozenset({"status.phase"}),
        name_rule="label",
    ),
    ResourceSpec(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        "serviceaccount",
        short_names=frozenset({"sa"}),
    ),
    ResourceSpec("", "v1", "secrets", "Secret", "secret", selectable_fields=frozenset({"type"})),
    ResourceSpec("", "v1", "configmaps", "ConfigMap", "configmap", short_names=frozenset({"cm"})),
    ResourceSpec(
        "",
        "v1",
        "events",
        "Event",
        "event",
        short_names=frozenset({"ev"}),
        selectable_fields=_EVENT_FIELDS,
    ),
    ResourceSpec(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        "deployment",
        subresources=frozenset({"status", "scale"}),
        short_names=frozenset({"deploy"}),
    ),
)

CRD_DIR = (
    pathlib.Path(str(dask_kubernetes.__file__)).parent
    / "operator/deployment/helm/dask-kubernetes-operator/crds"
)
DASK_CRD_FILES = ("daskjob", "daskcluster", "daskworkergroup", "daskautoscaler")


@functools.cache
def load_crd(name: str) -> dict[str, Any]:
    """The CustomResourceDefinition shipped in the dask-kubernetes wheel (e.g. "daskjob")."""
    path = CRD_DIR / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no CRD {name!r} in {CRD_DIR}: expected one of {DASK_CRD_FILES}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as f:
        crd: dict[str, Any] = yaml.load(f, Loader=loader)
    return crd


def crd_resource(name: str) -> ResourceSpec:
    """A ResourceSpec read from a shipped CRD: names, scope and subresources as declared."""
    crd = load_crd(name)
    spec = crd["spec"]
    names = spec["names"]
    (version,) = [v for v in spec["versions"] if v.get("storage")]
    return ResourceSpec(
        spec["group"],
        version["name"],
        names["plural"],
        names["kind"],
        names.get("singular", names["kind"].lower()),
        namespaced=spec["scope"] == "Namespaced",
        subresources=frozenset(version.get("subresources") or {}),
        short_names=frozenset(names.get("shortNames") or ()),
    )


@functools.cache
def default_resources() -> tuple[ResourceSpec, ...]:
    """Everything the slipstream runner and the dask operator touch."""
    return CORE + tuple(crd_resource(name) for name in DASK_CRD_FILES)


@functools.cache
def crd_schema(name: str) -> dict[str, Any]:
    """The openAPIV3Schema of a shipped CRD's storage version."""
    crd = load_crd(name)
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


class ResourceTable:
    """Finds a ResourceSpec by kind, plural, singular, short name or "plural.group"."""

    def __init__(self, specs: tuple[ResourceSpec, ...]) -> None:
        self.specs = specs
        self._by_name: dict[str, ResourceSpec] = {}
        for spec in specs:
            names = {spec.kind.lower(), spec.plural, spec.singular, *spec.short_names}
            for name in names:
                self._by_name.setdefault(name, spec)
                self._by_name[f"{name}.{spec.group}" if spec.group else name] = spec
                self._by_name[f"{name}.{spec.version}.{spec.group}".rstrip(".")] = spec

    def __iter__(self) -> Any:
        return iter(self.specs)

    def find(self, kind: str | ResourceSpec) -> ResourceSpec:
        if isinstance(kind, ResourceSpec):
            return kind
        spec = self._by_name.get(kind.lower())
        if spec is None:
            known = sorted({s.kind for s in self.specs})
            raise KeyError(f"unknown resource kind {kind!r}; the test API server serves {known}")
        return spec

    def at(self, group: str | None, version: str | None, plural: str | None) -> ResourceSpec | None:
        for spec in self.specs:
            if (spec.group, spec.version, spec.plural) == (group, version, plural):
                return spec
        return None

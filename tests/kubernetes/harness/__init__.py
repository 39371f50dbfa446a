"""Kubernetes test harness: an in-memory API server, a kubelet and Dask operators for tests."""

from .apiserver import Apiserver
from .changes import Change
from .cluster import KubeHarness
from .crds import validate_daskjob
from .dask_clusters import LocalDaskClusters
from .failures import Failure
from .kr8s_client import kr8s_client
from .kubeconfig import write_kubeconfig
from .kubelet import Kubelet
from .objects import refusal
from .resources import ResourceSpec, crd_schema, default_resources

__all__ = [
    "Apiserver",
    "Change",
    "Failure",
    "KubeHarness",
    "Kubelet",
    "LocalDaskClusters",
    "ResourceSpec",
    "crd_schema",
    "default_resources",
    "kr8s_client",
    "refusal",
    "validate_daskjob",
    "write_kubeconfig",
]

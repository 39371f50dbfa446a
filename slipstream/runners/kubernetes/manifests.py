"""What a cluster needs before slipstream can run there (`slipstream k8s manifests`); pure."""

from __future__ import annotations

from typing import Any

from slipstream.config import Settings
from slipstream.errors import ConfigError
from slipstream.runners.kubernetes.names import MANAGED_BY, MANAGER, is_dns_label

ROLE = "slipstream-runner"
_WATCH = ["get", "list", "watch"]
_OWN = ["create", "get", "list", "watch", "delete", "patch"]
# What the engine and its runner do: create, follow and delete Pods and Dask resources,
# read Pod logs and events. The dask-kubernetes operator brings its own RBAC (Helm chart).
# The extra Dask objects are owned by their DaskJob without blockOwnerDeletion, so no
# `update` on daskjobs/finalizers is needed where OwnerReferencesPermissionEnforcement runs.
RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": _OWN},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": _WATCH},
    {
        "apiGroups": ["kubernetes.dask.org"],
        "resources": ["daskjobs", "daskworkergroups", "daskautoscalers"],
        "verbs": _OWN,
    },
    {"apiGroups": ["kubernetes.dask.org"], "resources": ["daskjobs/status"], "verbs": ["get"]},
    {"apiGroups": ["kubernetes.dask.org"], "resources": ["daskclusters"], "verbs": _WATCH},
]


def build_cluster_manifests(settings: Settings) -> list[dict[str, Any]]:
    """Namespace, two ServiceAccounts, Role and RoleBinding for `settings.namespace`.

    `service_account` is the runner's, with the Role: give it to an engine that runs inside
    the cluster (`kubeconfig = "in-cluster"`). `task_service_account` is what task Pods and
    Dask Pods run as: no Role, no token mounted, so user code cannot use the API.
    """
    namespace, account = settings.namespace, settings.service_account
    task_account = settings.task_service_account
    for what, value in (
        ("namespace", namespace),
        ("service_account", account),
        ("task_service_account", task_account),
    ):
        if not is_dns_label(value):
            raise ConfigError(
                f"{what} {value!r} is not a DNS-1123 label (lowercase letters, digits and '-', "
                "at most 63 characters)"
            )
    labels = {MANAGED_BY: MANAGER}

    def meta(name: str, namespaced: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "labels": dict(labels)}
        if namespaced:
            out["namespace"] = namespace
        return out

    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(namespace, namespaced=False)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(account)},
        *(
            [
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": meta(task_account),
                    "automountServiceAccountToken": False,
                }
            ]
            if task_account != account  # the same one: the tasks get the runner's rights
            else []
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(ROLE),
            "rules": [dict(rule) for rule in RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(ROLE),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]

"""What runs the server in the cluster (`slipstream k8s manifests --server`); pure builders.

The server runs as a Deployment of `slipstream serve` in the runtime image, as the runner's
service account (the Role `build_cluster_manifests` makes, so one list of rights), with
`kubeconfig = "in-cluster"`. Its database URL and token come from Secrets (secretKeyRef), its
blob-store credentials from the `blob_secret` the task Pods get too (envFrom).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slipstream.config import IN_CLUSTER, Settings
from slipstream.errors import ConfigError
from slipstream.runners.kubernetes.manifests import build_cluster_manifests
from slipstream.runners.kubernetes.names import MANAGED_BY, MANAGER
from slipstream.runners.kubernetes.podspec import container_security, pod_security, pull_policy

SERVER = "slipstream-server"
PORT = 8080
HEALTH = "/api/v1/health"
STATE = "/var/lib/slipstream"  # SLIPSTREAM_HOME: an emptyDir (the root filesystem is read-only)


# The Secrets (and their keys) the server's database URL and token come from.
DATABASE_SECRET = ("slipstream-database", "url")  # SLIPSTREAM_DATABASE_URL
TOKEN_SECRET = ("slipstream-server", "token")  # SLIPSTREAM_SERVER_TOKEN
RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}


@dataclass(frozen=True)
class ServerOptions:
    """How the server runs there (`k8s manifests --server --replicas N --image I`)."""

    replicas: int = 1  # several share one PostgreSQL: see docs/scaling.md
    image: str = ""  # "" = the image setting (the runtime image by default)


def _labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": SERVER, "app.kubernetes.io/component": "server"}


def _check(settings: Settings, options: ServerOptions) -> None:
    if options.replicas < 1:
        raise ConfigError(f"replicas {options.replicas} must be at least 1")
    if not (options.image or settings.image):
        raise ConfigError("the server needs an image: set the image setting or --image")
    blob = settings.blob_url
    if not blob or blob.startswith(("/", "file://")):
        raise ConfigError(
            f"blob_url {blob!r}: the server in the cluster and its task Pods need a blob store "
            "they all reach, such as s3://bucket/prefix (SLIPSTREAM_BLOB_URL)"
        )


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _server_env(settings: Settings, image: str) -> list[dict[str, Any]]:
    """The settings the server needs there; the task Pods it launches get theirs from it."""
    plain = {
        "SLIPSTREAM_RUNNER": "kubernetes",
        "SLIPSTREAM_KUBECONFIG": IN_CLUSTER,
        "SLIPSTREAM_NAMESPACE": settings.namespace,
        "SLIPSTREAM_IMAGE": image,
        "SLIPSTREAM_BLOB_URL": settings.blob_url,
        "SLIPSTREAM_BLOB_SECRET": settings.blob_secret,
        "SLIPSTREAM_SERVICE_ACCOUNT": settings.service_account,
        "SLIPSTREAM_TASK_SERVICE_ACCOUNT": settings.task_service_account,
        "SLIPSTREAM_HOME": STATE,
    }
    return [
        *({"name": k, "value": v} for k, v in plain.items() if v),
        _secret_env("SLIPSTREAM_DATABASE_URL", *DATABASE_SECRET),
        _secret_env("SLIPSTREAM_SERVER_TOKEN", *TOKEN_SECRET),
    ]


def _probe(period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": HEALTH, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def build_server_deployment(settings: Settings, options: ServerOptions) -> dict[str, Any]:
    """The Deployment of `slipstream serve --host 0.0.0.0`, probed on /api/v1/health."""
    _check(settings, options)
    image = options.image or settings.image
    container: dict[str, Any] = {
        "name": "server",
        "image": image,
        "imagePullPolicy": pull_policy(settings, image),
        "command": ["slipstream", "serve", "--host", "0.0.0.0", "--port", str(PORT)],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": _server_env(settings, image),
        "resources": {part: dict(values) for part, values in RESOURCES.items()},
        "startupProbe": _probe(2, 60),  # migrations run before the first answer
        "readinessProbe": _probe(10, 3),
        "livenessProbe": _probe(20, 3),
        "securityContext": {**container_security(), "readOnlyRootFilesystem": True},
        "volumeMounts": [
            {"name": "state", "mountPath": STATE},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if settings.blob_secret:
        container["envFrom"] = [{"secretRef": {"name": settings.blob_secret}}]
    labels = _labels()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": SERVER,
            "namespace": settings.namespace,
            "labels": {**labels, MANAGED_BY: MANAGER},
        },
        "spec": {
            "replicas": options.replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": {**labels, MANAGED_BY: MANAGER}},
                "spec": {
                    "serviceAccountName": settings.service_account,
                    "automountServiceAccountToken": True,  # the in-cluster runner's credentials
                    "securityContext": pod_security(settings),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [
                        {"name": "state", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def build_server_service(settings: Settings) -> dict[str, Any]:
    """A ClusterIP Service on port 80 in front of the server's Pods."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": SERVER,
            "namespace": settings.namespace,
            "labels": {**_labels(), MANAGED_BY: MANAGER},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": _labels(),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def build_server_manifests(settings: Settings, options: ServerOptions) -> list[dict[str, Any]]:
    """What `k8s manifests` prints (namespace, accounts, the runner's Role), then the server."""
    return [
        *build_cluster_manifests(settings),
        build_server_deployment(settings, options),
        build_server_service(settings),
    ]

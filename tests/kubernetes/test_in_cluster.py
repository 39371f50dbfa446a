"""The server as `k8s manifests --server` runs it in the cluster, against the test API server.

The server's settings are the Deployment's environment (its Secrets resolved here); the
in-cluster credentials are a service-account folder (token, ca.crt, namespace) and
KUBERNETES_SERVICE_HOST/PORT pointing at the test API server's HTTPS entry point, which
answers only requests bearing that token. The real kr8s client, the real app on uvicorn.
"""

from __future__ import annotations

import base64
import json
import pathlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from harness import KubeHarness
from runner_support import FLOWS, created, validate_pod

from slipstream.cli.main import cli
from slipstream.config import load_settings
from slipstream.runners.kubernetes import client
from slipstream.runners.kubernetes.server_manifests import ServerOptions, build_server_deployment
from slipstream.runtime_image import default_image
from slipstream.server.app import create_app
from slipstream.server.auth import AuthConfig, check_bind
from slipstream.server.services import open_services
from slipstream.server.tokens import server_tokens

TOKEN = "in-cluster-test-token"


def deployment_env(
    deployment: dict[str, Any], secrets: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The environment the Deployment's container gets, its Secrets taken from `secrets`."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        env.update(secrets[source["secretRef"]["name"]])
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
        else:
            env[item["name"]] = item["value"]
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def in_cluster_server(
    kube: KubeHarness, home: pathlib.Path, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> Iterator[str]:
    """The server with the Deployment's settings and a Pod's credentials; yields its URL."""
    import uvicorn

    assert kube.tls is not None
    manifest_settings = load_settings().with_values(
        namespace=kube.namespace, blob_url="s3://bucket/slipstream", blob_secret="blobs"
    )
    deployment = build_server_deployment(manifest_settings, ServerOptions())
    database = f"sqlite:///{tmp_path / 'server.db'}"
    secrets = {
        "slipstream-database": {"url": database},
        "slipstream-server": {"token": TOKEN},
        "blobs": {"AWS_ACCESS_KEY_ID": "id"},
    }
    for name, value in deployment_env(deployment, secrets).items():
        monkeypatch.setenv(name, value)
    blobs = {k: base64.b64encode(v.encode()).decode() for k, v in secrets["blobs"].items()}
    kube.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "blobs"}, "data": blobs}
    )
    # What differs on this machine: a local blob store and home instead of S3 and /var/lib.
    monkeypatch.setenv("SLIPSTREAM_BLOB_URL", (tmp_path / "blobs").as_uri())
    monkeypatch.setenv("SLIPSTREAM_HOME", str(home))
    monkeypatch.setenv("SLIPSTREAM_BUNDLE_CACHE", str(tmp_path / "bundle-cache"))
    # A Pod's in-cluster credentials, and no kubeconfig that kr8s could prefer.
    account = kube.tls.service_account(tmp_path / "serviceaccount", kube.namespace)
    monkeypatch.setattr(client, "SERVICE_ACCOUNT_DIR", str(account))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(kube.tls.port))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))

    settings = load_settings()
    assert settings.kubeconfig == "in-cluster" and settings.runner == "kubernetes"
    tokens = server_tokens(settings)  # as `slipstream serve` reads them: the Secret's token
    check_bind("0.0.0.0", tokens)  # the Deployment's --host is allowed with it
    services = open_services(settings)
    app = create_app(services, AuthConfig(tokens=tokens))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        deadline = time.monotonic() + 30
        while services.runtime.running_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        services.close()


@pytest.mark.kube(tls=True)
def test_the_server_in_cluster_mode_runs_a_task_as_a_pod_with_its_service_account(
    kube: KubeHarness, in_cluster_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    assert kube.tls is not None
    # The token the Deployment takes from its Secret guards the API; the probes' path is open.
    assert httpx.get(f"{in_cluster_server}/api/v1/executions").status_code == 401
    assert httpx.get(f"{in_cluster_server}/api/v1/health").status_code == 200
    monkeypatch.setenv("SLIPSTREAM_SERVER_URL", in_cluster_server)  # the token: from the env
    result = CliRunner().invoke(
        cli, ["run", "--remote", str(FLOWS), "add", "--a", "2", "--b", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["phase"] == "SUCCEEDED", outcome
    (pod,) = created(kube, "pod")
    validate_pod(pod)
    assert pod["metadata"]["namespace"] == kube.namespace
    assert pod["metadata"]["labels"]["slipstream.io/execution"] == outcome["execution"]
    assert pod["spec"]["serviceAccountName"] == "slipstream-task"  # the Deployment's setting
    (container,) = pod["spec"]["containers"]
    assert container["image"] == default_image()
    assert container["envFrom"] == [{"secretRef": {"name": "blobs"}}]
    # Every call of the runner went over TLS, verified against ca.crt, with the token.
    assert kube.tls.answered > 0 and kube.tls.refused == 0


@pytest.mark.kube(tls=True)
def test_the_https_entry_point_refuses_a_request_without_the_token(kube: KubeHarness) -> None:
    import httpx

    assert kube.tls is not None and kube.tls.ca_file is not None
    url = f"https://127.0.0.1:{kube.tls.port}/api/v1/namespaces/{kube.namespace}/pods"
    trusted = ssl.create_default_context(cafile=str(kube.tls.ca_file))
    refused = httpx.get(url, verify=trusted)
    assert refused.status_code == 401
    allowed = httpx.get(url, verify=trusted, headers={"Authorization": f"Bearer {kube.tls.token}"})
    assert allowed.status_code == 200 and allowed.json()["kind"] == "PodList"
    with pytest.raises(httpx.ConnectError):  # a client that does not trust its CA
        httpx.get(url, headers={"Authorization": f"Bearer {kube.tls.token}"})

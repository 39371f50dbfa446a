"""`slipstream k8s render` and `slipstream k8s manifests`: YAML a cluster would accept."""

from __future__ import annotations

import hashlib
import pathlib

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from harness import validate_daskjob
from runner_support import EXAMPLES, FLOWS, KUBERNETES_VERSIONS, env_of, validate_pod

from slipstream.cli.main import cli
from slipstream.runners.bundle import bundle_bytes
from slipstream.runtime_image import default_image


@pytest.fixture
def k8s_home(home: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    monkeypatch.setenv("SLIPSTREAM_IMAGE", "registry.example.com/team/app:7")
    monkeypatch.setenv("SLIPSTREAM_NAMESPACE", "team-a")
    return home


def invoke(*args: str) -> list[dict]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_manifests_print_namespace_account_and_rbac(k8s_home: pathlib.Path) -> None:
    docs = invoke("k8s", "manifests", "--namespace", "team-b", "--service-account", "robot")
    kinds = ["Namespace", "ServiceAccount", "ServiceAccount", "Role", "RoleBinding"]
    assert [d["kind"] for d in docs] == kinds
    assert docs[0]["metadata"]["name"] == "team-b" and docs[1]["metadata"]["name"] == "robot"
    assert all(d["metadata"].get("namespace") == "team-b" for d in docs[1:])
    for doc in docs:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, desired_version=version, strict=True)
    resources = {r for rule in docs[3]["rules"] for r in rule["resources"]}
    assert {
        "pods",
        "pods/log",
        "daskjobs",
        "daskjobs/status",
        "daskclusters",
        "daskworkergroups",
        "daskautoscalers",
    } <= resources
    bad = CliRunner().invoke(cli, ["k8s", "manifests", "--namespace", "Not Valid"])
    assert bad.exit_code == 2 and "'Not Valid' is not a DNS-1123 label" in bad.output


def test_render_a_task_prints_its_pod(k8s_home: pathlib.Path) -> None:
    (pod,) = invoke(
        "k8s", "render", str(FLOWS), "add", "--a", "1", "--b", "2", "--execution-id", "erender1"
    )
    validate_pod(pod)
    assert pod["kind"] == "Pod" and pod["metadata"]["namespace"] == "team-a"
    assert pod["metadata"]["name"].startswith("ss-erender1-add-1-")
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example.com/team/app:7"
    assert env_of(container)["GREETING"] == "hello from the pod"
    # The same content-addressed bundle `run --backend kubernetes` would upload.
    digest = hashlib.sha256(bundle_bytes(FLOWS.parent)).hexdigest()
    assert container["command"][-1].endswith(f"/bundles/{digest}.tar.gz")


def test_render_a_dask_task_and_a_workflow(k8s_home: pathlib.Path) -> None:
    (job,) = invoke("k8s", "render", str(EXAMPLES / "increment_numbers.py"), "increment_numbers")
    validate_daskjob(job)
    assert job["spec"]["cluster"]["spec"]["worker"]["replicas"] == 4
    assert job["spec"]["job"]["spec"]["containers"][0]["command"][:3] == [
        "python",
        "-m",
        "slipstream.execute",
    ]
    docs = invoke(
        "k8s", "render", str(FLOWS), "pipeline", "--a", "1", "--n", "3", "--namespace", "team-c"
    )
    assert [d["kind"] for d in docs] == ["Pod", "DaskJob"]
    assert {d["metadata"]["namespace"] for d in docs} == {"team-c"}
    assert [d["metadata"]["labels"]["slipstream.io/node"] for d in docs] == ["add", "dask-squares"]
    validate_pod(docs[0])
    validate_daskjob(docs[1])


def test_render_says_what_is_wrong(k8s_home: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    typed = runner.invoke(cli, ["k8s", "render", str(FLOWS), "add", "--a", "one", "--b", "2"])
    assert typed.exit_code == 2 and "input 'a' expects int" in typed.output
    helped = runner.invoke(cli, ["k8s", "render", str(FLOWS), "add", "--help"])
    assert helped.exit_code == 0 and "--a" in helped.output and "--namespace" in helped.output
    monkeypatch.delenv("SLIPSTREAM_IMAGE")
    project = k8s_home.parent / "no-image"  # an image setting made empty on purpose
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.slipstream]\nimage = ""\n')
    monkeypatch.chdir(project)
    no_image = runner.invoke(cli, ["k8s", "render", str(FLOWS), "add", "--a", "1", "--b", "2"])
    assert no_image.exit_code == 1
    assert "task 'k8s_tasks.add' has no container image" in no_image.output
    assert "SLIPSTREAM_IMAGE" in no_image.output
    with_image = invoke(
        "k8s", "render", str(FLOWS), "add", "--a", "1", "--b", "2", "--image", "python:3.12"
    )
    assert with_image[0]["spec"]["containers"][0]["image"] == "python:3.12"


def _images(job: dict) -> list[str]:
    spec = job["spec"]
    pods = [
        spec["job"]["spec"],
        *(spec["cluster"]["spec"][part]["spec"] for part in ("scheduler", "worker")),
    ]
    return [container["image"] for pod in pods for container in pod["containers"]]


def test_without_an_image_setting_objects_use_the_runtime_image(
    k8s_home: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLIPSTREAM_IMAGE")
    (job,) = invoke("k8s", "render", str(EXAMPLES / "increment_numbers.py"), "increment_numbers")
    validate_daskjob(job)
    assert set(_images(job)) == {default_image()}  # runner, scheduler and workers
    (pod,) = invoke("k8s", "render", str(FLOWS), "add", "--a", "1", "--b", "2")
    assert pod["spec"]["containers"][0]["image"] == default_image()


IMAGES = """
from slipstream import ImageSpec, task, workflow

SPEC = ImageSpec(name="team", registry="registry.example.com", packages=["requests"])


@task(image="registry.example.com/named:1")
def named() -> int:
    return 1


@task(container_image="registry.example.com/flyte-style:2")
def flyte_style() -> int:
    return 2


@task(container_image=SPEC)
def specced() -> int:
    return 3


@task
def plain() -> int:
    return 4


@workflow
def images() -> int:
    named()
    flyte_style()
    specced()
    return plain()
"""


@pytest.mark.parametrize("setting", ["", "registry.example.com/team/app:7"])
def test_a_tasks_image_wins_over_the_setting_and_the_default(
    k8s_home: pathlib.Path,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
) -> None:
    from slipstream import ImageSpec

    monkeypatch.delenv("SLIPSTREAM_IMAGE")
    if setting:
        monkeypatch.setenv("SLIPSTREAM_IMAGE", setting)
    flow = tmp_path / "image_tasks.py"
    flow.write_text(IMAGES)
    docs = invoke("k8s", "render", str(flow), "images")
    spec = ImageSpec(name="team", registry="registry.example.com", packages=["requests"])
    assert {
        d["metadata"]["labels"]["slipstream.io/node"]: d["spec"]["containers"][0]["image"]
        for d in docs
    } == {
        "named": "registry.example.com/named:1",
        "flyte-style": "registry.example.com/flyte-style:2",
        "specced": spec.image_name(),
        "plain": setting or default_image(),
    }


def test_manifests_server_prints_the_control_plane(
    k8s_home: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLIPSTREAM_IMAGE")
    monkeypatch.setenv("SLIPSTREAM_BLOB_URL", "s3://bucket/slipstream")
    monkeypatch.setenv("SLIPSTREAM_BLOB_SECRET", "slipstream-blobs")
    cluster = invoke("k8s", "manifests", "--namespace", "team-b")
    docs = invoke("k8s", "manifests", "--namespace", "team-b", "--server", "--replicas", "3")
    # The runner's account and Role are what `k8s manifests` prints: one list of rights.
    assert docs[: len(cluster)] == cluster
    deployment, service = docs[len(cluster) :]
    for doc in docs:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, desired_version=version, strict=True)
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    assert {d["metadata"]["namespace"] for d in (deployment, service)} == {"team-b"}
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    (binding,) = [d for d in cluster if d["kind"] == "RoleBinding"]
    assert [pod["serviceAccountName"]] == [s["name"] for s in binding["subjects"]]
    assert pod["automountServiceAccountToken"] is True  # the in-cluster runner's token
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"] == default_image()
    assert container["command"][:4] == ["slipstream", "serve", "--host", "0.0.0.0"]
    port = container["ports"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/api/v1/health", "port": port["name"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    env = {item["name"]: item for item in container["env"]}
    assert env["SLIPSTREAM_KUBECONFIG"]["value"] == "in-cluster"
    assert env["SLIPSTREAM_RUNNER"]["value"] == "kubernetes"
    assert env["SLIPSTREAM_NAMESPACE"]["value"] == "team-b"
    assert env["SLIPSTREAM_BLOB_URL"]["value"] == "s3://bucket/slipstream"
    refs = {
        name: env[name]["valueFrom"]["secretKeyRef"]
        for name in ("SLIPSTREAM_DATABASE_URL", "SLIPSTREAM_SERVER_TOKEN")
    }
    assert refs == {
        "SLIPSTREAM_DATABASE_URL": {"name": "slipstream-database", "key": "url"},
        "SLIPSTREAM_SERVER_TOKEN": {"name": "slipstream-server", "key": "token"},
    }
    assert container["envFrom"] == [{"secretRef": {"name": "slipstream-blobs"}}]  # as Pods
    # The Service reaches the Pods by their labels, on the container's named port.
    labels = spec["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert spec["selector"]["matchLabels"] == service["spec"]["selector"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    mine = invoke("k8s", "manifests", "--server", "--image", "registry.example.com/mine:2")
    assert mine[-2]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example.com/mine:2"
    )


def test_manifests_server_says_what_is_missing(
    k8s_home: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    local = runner.invoke(cli, ["k8s", "manifests", "--server"])
    assert local.exit_code == 2
    assert "blob_url '': the server in the cluster and its task Pods need a blob store" in (
        local.output
    )
    monkeypatch.setenv("SLIPSTREAM_BLOB_URL", "s3://bucket/slipstream")
    alone = runner.invoke(cli, ["k8s", "manifests", "--replicas", "2"])
    assert alone.exit_code == 2 and "add --server" in alone.output
    zero = runner.invoke(cli, ["k8s", "manifests", "--server", "--replicas", "0"])
    assert zero.exit_code == 2 and "0 is not in the range x>=1" in zero.output

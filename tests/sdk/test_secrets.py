"""Secrets: asked for by tasks, read locally from env or a folder, mounted on Kubernetes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from slipstream import DefinitionError, Secret, current_context, task, workflow
from slipstream.cli.main import cli
from slipstream.config import load_settings
from slipstream.engine.local import engine_for
from slipstream.ir import SecretSpec
from slipstream.runners.kubernetes.secrets import add_task_secrets, pod_specs
from slipstream.sdk.secrets import SecretNotFoundError, env_var_name

VALUE = "s3cr3t-value-never-shown"


@task(
    secret_requests=[
        Secret(group="user-info", key="token"),
        Secret(group="db", key="password", mount_requirement=Secret.MountType.FILE),
    ]
)
def uses_secrets() -> str:
    secrets = current_context().secrets
    token = secrets.get("user-info", "token")
    password = secrets.get("db", "password")
    return f"{len(token)} {len(password)} {secrets.get_secrets_env_var('user-info', 'token')}"


@task
def missing() -> str:
    return current_context().secrets.get("nope", "key")


def test_the_template_carries_names_only() -> None:
    assert uses_secrets.template.secrets == (
        SecretSpec(group="user-info", key="token", mount="env"),
        SecretSpec(group="db", key="password", mount="file"),
    )
    assert env_var_name("user-info", "token") == "SLIPSTREAM_SECRET_USER_INFO_TOKEN"
    with pytest.raises(DefinitionError, match="Secret\\(group='bad group'\\)"):
        Secret(group="bad group", key="k")
    with pytest.raises(DefinitionError, match="must be a list of Secret"):

        @task(secret_requests=["db"])  # type: ignore[list-item]
        def wrong() -> None: ...


def test_secrets_come_from_env_and_the_secrets_folder(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "secrets"
    (folder / "db").mkdir(parents=True)
    (folder / "db" / "password").write_text("pw12\n")
    monkeypatch.setenv("SLIPSTREAM_SECRETS_DIR", str(folder))
    monkeypatch.setenv("SLIPSTREAM_SECRET_USER_INFO_TOKEN", VALUE)

    @workflow
    def wf() -> str:
        return uses_secrets()

    assert wf() == f"{len(VALUE)} 4 SLIPSTREAM_SECRET_USER_INFO_TOKEN"
    with pytest.raises(SecretNotFoundError) as caught:
        missing()
    message = str(caught.value)
    assert "SLIPSTREAM_SECRET_NOPE_KEY" in message and str(folder / "nope" / "key") in message
    store = engine_for(load_settings()).store
    for record in store.list_executions(limit=5):
        for node in store.get_nodes(record.id):
            assert VALUE not in f"{node.outputs} {node.error}"
    assert VALUE not in (home / "slipstream.db").read_bytes().decode("latin-1")


FLOW = textwrap.dedent(
    """
    from slipstream import Secret, current_context, task, workflow
    from slipstream.dask import Dask, WorkerGroup

    SECRETS = [
        Secret(group="db", key="user", mount_requirement=Secret.MountType.ENV_VAR),
        Secret(group="db", key="password", mount_requirement=Secret.MountType.FILE),
    ]

    @task(secret_requests=SECRETS)
    def plain() -> str:
        return current_context().secrets.get("db", "user")

    @task(secret_requests=SECRETS, task_config=Dask(workers=WorkerGroup(number_of_workers=2)))
    def big() -> str:
        return current_context().secrets.get("db", "user")
    """
)


def _check_pod(pod: dict) -> None:  # type: ignore[type-arg]
    for container in pod["containers"]:
        env = {item["name"]: item for item in container["env"]}
        assert env["SLIPSTREAM_SECRET_DB_USER"]["valueFrom"] == {
            "secretKeyRef": {"name": "db", "key": "user"}
        }
        assert env["SLIPSTREAM_SECRETS_DIR"]["value"] == "/etc/slipstream/secrets"
        assert {
            "name": "secret-db",
            "mountPath": "/etc/slipstream/secrets/db",
            "readOnly": True,
        } in (container["volumeMounts"])
    assert {
        "name": "secret-db",
        "secret": {"secretName": "db", "items": [{"key": "password", "path": "password"}]},
    } in pod["volumes"]


@pytest.mark.parametrize(("entity", "pods"), [("plain", 1), ("big", 3)])
def test_k8s_render_mounts_secrets_on_every_pod(home: Path, entity: str, pods: int) -> None:
    flow = home.parent / "secret_flow.py"
    flow.write_text(FLOW)
    result = CliRunner().invoke(cli, ["k8s", "render", str(flow), entity, "--image", "img:1"])
    assert result.exit_code == 0, result.output
    objects = [o for o in yaml.safe_load_all(result.output) if o]
    specs = [pod for obj in objects for pod in pod_specs(obj)]
    assert len(specs) == pods  # a DaskJob: its runner, scheduler and workers
    for pod in specs:
        _check_pod(pod)


def test_adding_secrets_twice_keeps_one_entry_per_name() -> None:
    pod = {"containers": [{"name": "c", "env": [{"name": "SLIPSTREAM_SECRET_A_B", "value": "x"}]}]}
    secrets = (SecretSpec(group="a", key="b"),)
    add_task_secrets([{"kind": "Pod", "spec": pod}], secrets)
    names = [item["name"] for item in pod["containers"][0]["env"]]  # type: ignore[index]
    assert names == ["SLIPSTREAM_SECRET_A_B"]
    assert "valueFrom" in pod["containers"][0]["env"][0]  # type: ignore[index]

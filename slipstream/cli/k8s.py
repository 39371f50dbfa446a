"""`slipstream k8s render|manifests`: an attempt's Kubernetes objects; what a cluster needs."""

from __future__ import annotations

import hashlib
from typing import Any

import click

from slipstream.cli.inputs import input_options
from slipstream.cli.loading import ENTITY_COMMAND_SETTINGS, entity_command_context
from slipstream.config import Settings, load_settings
from slipstream.errors import SlipstreamError, TypeTransformError


def _yaml(objects: list[dict[str, Any]]) -> str:
    import yaml

    return str(yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False))


def _settings(namespace: str | None, image: str | None) -> Settings:
    settings = load_settings().with_values(runner="kubernetes")
    if namespace:
        settings = settings.with_values(namespace=namespace)
    if image:
        settings = settings.with_values(image=image)
    return settings


@click.group("k8s")
def k8s() -> None:
    """Kubernetes: what an attempt creates (render) and what a cluster needs (manifests)."""


@k8s.command("manifests")
@click.option("--namespace", default=None, help="Namespace (default: the namespace setting).")
@click.option(
    "--service-account",
    default=None,
    help="The runner's service account, with the Role (the server's, with --server; "
    "default: the service_account setting).",
)
@click.option(
    "--server", is_flag=True, help="Also the control plane: the server's Deployment, Service."
)
@click.option("--replicas", type=click.IntRange(1), default=None, help="With --server (1).")
@click.option("--image", default=None, help="With --server: its image (default: the setting).")
def manifests(
    namespace: str | None,
    service_account: str | None,
    server: bool,
    replicas: int | None,
    image: str | None,
) -> None:
    """Print the Namespace, ServiceAccounts, Role and RoleBinding slipstream needs, as YAML;
    with --server also the server's Deployment and Service (docs/in-cluster.md).

    Apply them with `slipstream k8s manifests | kubectl apply -f -`; install the
    dask-kubernetes operator for Dask tasks (see the README, "Going to Kubernetes").
    """
    from slipstream.runners.kubernetes.manifests import build_cluster_manifests
    from slipstream.runners.kubernetes.server_manifests import (
        ServerOptions,
        build_server_manifests,
    )

    if not server and (replicas is not None or image is not None):
        raise click.UsageError("--replicas and --image describe the server: add --server")
    settings = _settings(namespace, None)
    if service_account:
        settings = settings.with_values(service_account=service_account)
    try:
        if server:
            options = ServerOptions(replicas=replicas or 1, image=image or "")
            objects = build_server_manifests(settings, options)
        else:
            objects = build_cluster_manifests(settings)
    except SlipstreamError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(_yaml(objects), nl=False)


def _render(entity: Any, options: dict[str, Any]) -> None:
    from slipstream.compiler.registry import TransformContext
    from slipstream.engine.engine import task_as_workflow
    from slipstream.engine.ids import new_execution_id
    from slipstream.engine.local import encode_inputs
    from slipstream.runners.bundle import bundle_bytes
    from slipstream.runners.kubernetes.render import render_attempts
    from slipstream.sdk.plugins import default_plugins
    from slipstream.storage.blobs import BlobStore

    settings = _settings(options.pop("namespace"), options.pop("image"))
    execution_id = options.pop("execution_id") or new_execution_id()
    kwargs = {name: value for name, value in options.items() if value is not None}
    blobs = BlobStore(settings.resolved_blob_url)
    ctx = TransformContext(blobs=blobs, offload_threshold=settings.offload_threshold)
    try:
        inputs = encode_inputs(entity, kwargs, ctx)
    except (TypeTransformError, TypeError) as exc:
        raise click.UsageError(str(exc)) from None
    template = entity.template
    workflow = task_as_workflow(template) if entity.kind == "task" else template
    bundle_uri = ""
    if entity.source_root:  # where `run --backend kubernetes` would upload the code
        bundle_uri = blobs.bundle_uri(hashlib.sha256(bundle_bytes(entity.source_root)).hexdigest())
    try:
        objects = render_attempts(
            workflow,
            inputs,
            settings,
            default_plugins,
            blobs,
            execution_id=execution_id,
            bundle_uri=bundle_uri,
            source_root=entity.source_root,
        )
    except SlipstreamError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_yaml(objects), nl=False)


def _render_command(entity: Any, info_name: str) -> click.Command:
    params: list[click.Parameter] = [
        *input_options(entity),
        click.Option(["--namespace"], default=None, help="Namespace (default: the setting)."),
        click.Option(
            ["--image"],
            default=None,
            help="Default image for tasks without image= (default: the setting).",
        ),
        click.Option(
            ["--execution-id"],
            default=None,
            help="Execution id to name the objects with (default: a new one).",
        ),
    ]
    return click.Command(
        info_name,
        params=params,
        callback=lambda **options: _render(entity, options),
        help=f"Print, as YAML, what an attempt of {entity.name} would create on Kubernetes.",
        context_settings={"help_option_names": ["-h", "--help"]},
    )


@k8s.command("render", context_settings=ENTITY_COMMAND_SETTINGS)
@click.argument("file_or_module", required=False)
@click.argument("entity", required=False)
@click.pass_context
def render(ctx: click.Context, file_or_module: str | None, entity: str | None) -> None:
    """Print what an attempt of ENTITY would create on Kubernetes, as YAML:
    slipstream k8s render FILE_OR_MODULE ENTITY [--input value ...]

    A task gives its Pod, or for a Dask task its DaskJob (+ DaskAutoscaler and
    DaskWorkerGroups); a workflow gives those of the first attempt of each task node.
    """
    command, sub = entity_command_context(
        ctx, file_or_module, entity, _render_command, "slipstream k8s render"
    )
    with sub:
        command.invoke(sub)

"""`slipstream register PATH...`: bundles the code and registers its entities with a server."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from slipstream.cli.loading import module_for_file
from slipstream.cli.remote import RemoteClient, ServerError, require_client
from slipstream.ir import dumps
from slipstream.runners.bundle import bundle_bytes

KINDS = ("task", "workflow", "launch_plan")
_SKIP = {".git", ".venv", "venv", "__pycache__", "node_modules", "build", "dist", ".tox"}


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise click.BadParameter(f"{str(path)!r}: no such file or directory", param_hint="PATH")
    found: list[Path] = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith("."))
        found.extend(Path(folder) / n for n in sorted(names) if n.endswith(".py"))
    return found


def collect(paths: list[str]) -> tuple[str, dict[str, Any]]:
    """Import every module under paths; (their one source root, entities by name)."""
    roots: dict[str, str] = {}
    entities: dict[str, Any] = {}
    for raw in paths:
        for file in _files(Path(raw)):
            module_name, root = module_for_file(file)
            roots[root] = str(file)
            if root not in sys.path:
                sys.path.insert(0, root)
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:  # the user's module raised while importing
                raise click.ClickException(f"{file}: {type(exc).__name__}: {exc}") from None
            for value in vars(module).values():
                if getattr(value, "kind", None) in KINDS and hasattr(value, "template"):
                    entities[f"{value.kind}:{value.name}"] = value
    if len(roots) > 1:
        raise click.UsageError(
            f"the paths span several source roots ({', '.join(sorted(roots))}); "
            "register each tree on its own"
        )
    if not roots:
        raise click.UsageError("no Python files in the given paths")
    return next(iter(roots)), entities


def register_entities(
    client: RemoteClient,
    root: str,
    entities: dict[str, Any],
    project: str,
    domain: str,
    version: str | None,
) -> dict[str, Any]:
    """Upload the bundle of root (only when the server lacks it) and register entities."""
    data = bundle_bytes(root)
    digest = hashlib.sha256(data).hexdigest()
    if not client.bundle_exists(digest):
        client.put_bundle(digest, data)
    tasks: dict[str, Any] = {}
    workflows: dict[str, Any] = {}
    plans: dict[str, Any] = {}
    for entity in entities.values():
        template = entity.template
        if entity.kind == "task":
            tasks[template.name] = template
        elif entity.kind == "launch_plan":
            plans[template.name] = template
            workflow = entity.workflow.template
            workflows.setdefault(workflow.name, workflow)
            for name, task in workflow.tasks.items():
                tasks.setdefault(name, task)
        else:
            workflows[template.name] = template
            for name, task in template.tasks.items():
                tasks.setdefault(name, task)
    body = {
        "project": project,
        "domain": domain,
        "version": version,
        "bundle": digest,
        "tasks": [json.loads(dumps(t)) for t in tasks.values()],
        "workflows": [json.loads(dumps(w)) for w in workflows.values()],
        "launch_plans": [json.loads(dumps(p)) for p in plans.values()],
    }
    return client.register(body)


@click.command("register")
@click.argument("paths", nargs=-1, required=True)
@click.option("--project", default="default", show_default=True)
@click.option("--domain", default="development", show_default=True)
@click.option("--version", default=None, help="Default: the code bundle's digest.")
@click.option("--remote", default=None, metavar="URL", help="The server (default: server_url).")
@click.option("--json", "as_json", is_flag=True, help="Print the server's answer as JSON.")
def register(
    paths: tuple[str, ...],
    project: str,
    domain: str,
    version: str | None,
    remote: str | None,
    as_json: bool,
) -> None:
    """Register every task, workflow and launch plan defined under PATH... with a server.

    The source tree is packaged as a content-addressed bundle (uploaded only when new) and
    each entity is stored under (project, domain, name, version). Registering the same
    content again changes nothing; other content under a taken version is refused.
    """
    root, entities = collect(list(paths))
    if not entities:
        raise click.UsageError(f"no tasks or workflows found in {', '.join(paths)}")
    with require_client(remote) as client:
        try:
            result = register_entities(client, root, entities, project, domain, version)
        except ServerError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"registered in {result['project']}/{result['domain']} version {result['version']}:")
    for entry in result["entities"]:
        state = "new" if entry["created"] else "unchanged"
        click.echo(f"  {entry['kind']:9} {entry['name']}  ({state})")

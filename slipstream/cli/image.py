"""`slipstream image name|dockerfile|build [FILE ENTITY]`: the runtime image, or an entity's.

Without FILE ENTITY the commands are about the runtime image (the repository's Dockerfile,
named by runtime_image.default_image); with them, about the entity's ImageSpecs.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import click

from slipstream.cli.loading import load_entity
from slipstream.runtime_image import default_image
from slipstream.sdk.dockerfile import (
    REQUIREMENTS_FILE,
    RUNTIME_CONTEXT,
    SOURCE_DIR,
    dockerfile,
    entity_image_specs,
    runtime_dockerfile,
)
from slipstream.sdk.image_spec import ImageSpec

BUILDERS = ("docker", "buildah")


def _specs(file_or_module: str | None, entity: str | None) -> list[ImageSpec] | None:
    """The entity's ImageSpecs; None without FILE ENTITY (the runtime image)."""
    if file_or_module is None:
        return None
    if entity is None:
        raise click.UsageError("give FILE_OR_MODULE and ENTITY, or neither (the runtime image)")
    specs = entity_image_specs(load_entity(file_or_module, entity))
    if not specs:
        raise click.UsageError(
            f"{entity!r} in {file_or_module!r} uses no ImageSpec (image= names a plain image, "
            "or none is set)"
        )
    return specs


@click.group("image")
def image() -> None:
    """Container images: the runtime image tasks run in, and images from ImageSpecs."""


@image.command("name")
def show_name() -> None:
    """Print the runtime image's name (the default of the image setting)."""
    click.echo(default_image())


@image.command("dockerfile")
@click.argument("file_or_module", required=False)
@click.argument("entity", required=False)
def show_dockerfile(file_or_module: str | None, entity: str | None) -> None:
    """Print the runtime image's Dockerfile, or that of every ImageSpec ENTITY uses.

    slipstream image dockerfile [FILE_OR_MODULE ENTITY]; build with `image build`.
    """
    specs = _specs(file_or_module, entity)
    texts = [runtime_dockerfile()] if specs is None else [dockerfile(spec) for spec in specs]
    click.echo("\n".join(texts), nl=False)


@image.command("build")
@click.argument("file_or_module", required=False)
@click.argument("entity", required=False)
@click.option("--builder", type=click.Choice(BUILDERS), default=None, help="docker or buildah.")
@click.option("--push", is_flag=True, help="Push each image after building it.")
def build(file_or_module: str | None, entity: str | None, builder: str | None, push: bool) -> None:
    """Build (with --push, push) the runtime image, or every image ENTITY's ImageSpecs describe.

    slipstream image build [FILE_OR_MODULE ENTITY] [--push]; the runtime image is built from
    this slipstream's checkout (its Dockerfile) and named by `slipstream image name`.
    """
    specs = _specs(file_or_module, entity)
    if specs is None:
        _build_runtime(_builder(builder), push)
        return
    for spec in specs:
        tool = _builder(builder or spec.builder)
        with tempfile.TemporaryDirectory(prefix="slipstream-image-") as folder:
            context = Path(folder)
            _prepare_context(spec, context)
            name = spec.image_name()
            click.echo(f"building {name} with {tool}", err=True)
            command = [tool, "build" if tool == "docker" else "bud", "-t", name]
            command += ["--platform", spec.platform, "-f", str(context / "Dockerfile"), folder]
            _run(command)
            if push:
                _run([tool, "push", name])
        click.echo(name)


def _builder(wanted: str | None) -> str:
    candidates = [wanted] if wanted else list(BUILDERS)
    for candidate in candidates:
        if shutil.which(candidate):
            return candidate
    raise click.ClickException(
        f"no image builder found: {' or '.join(candidates)} must be on the PATH "
        "(or print the Dockerfile with `slipstream image dockerfile` and build it elsewhere)"
    )


def _checkout() -> Path:
    """The source checkout this slipstream runs from (images install it)."""
    package = Path(__file__).resolve().parents[1]
    project = package.parent
    if not (project / "pyproject.toml").is_file():
        raise click.ClickException(
            f"slipstream at {package} is not a source checkout (no pyproject.toml beside it); "
            "build from a checkout so the image gets the same slipstream"
        )
    return project


def _build_runtime(tool: str, push: bool) -> None:
    project, name = _checkout(), default_image()
    missing = [part for part in ("Dockerfile", *RUNTIME_CONTEXT) if not (project / part).exists()]
    if missing:
        raise click.ClickException(f"{project} lacks {', '.join(missing)}: not a full checkout")
    click.echo(f"building {name} with {tool}", err=True)
    verb = "build" if tool == "docker" else "bud"
    _run([tool, verb, "-t", name, "-f", str(project / "Dockerfile"), str(project)])
    if push:
        _run([tool, "push", name])
    click.echo(name)


def _prepare_context(spec: ImageSpec, context: Path) -> None:
    """The Dockerfile, this slipstream's source (installed into the image), requirements."""
    (context / "Dockerfile").write_text(dockerfile(spec))
    project = _checkout()
    package = project / "slipstream"
    source = context / SOURCE_DIR
    shutil.copytree(
        package, source / "slipstream", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        if (project / name).is_file():
            shutil.copy2(project / name, source / name)
    if spec.requirements:
        shutil.copy2(spec.requirements, context / REQUIREMENTS_FILE)


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, check=False, stdout=2)  # the builder's output: stderr
    if completed.returncode != 0:
        raise click.ClickException(f"{' '.join(command[:2])} failed (exit {completed.returncode})")

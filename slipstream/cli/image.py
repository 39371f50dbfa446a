"""`slipstream image dockerfile|build FILE ENTITY`: the images an entity's ImageSpecs describe."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import click

from slipstream.cli.loading import load_entity
from slipstream.sdk.dockerfile import (
    REQUIREMENTS_FILE,
    SOURCE_DIR,
    dockerfile,
    entity_image_specs,
)
from slipstream.sdk.image_spec import ImageSpec

BUILDERS = ("docker", "buildah")


def _specs(file_or_module: str, entity: str) -> list[ImageSpec]:
    specs = entity_image_specs(load_entity(file_or_module, entity))
    if not specs:
        raise click.UsageError(
            f"{entity!r} in {file_or_module!r} uses no ImageSpec (image= names a plain image, "
            "or none is set)"
        )
    return specs


@click.group("image")
def image() -> None:
    """Container images from ImageSpecs: print their Dockerfiles or build them."""


@image.command("dockerfile")
@click.argument("file_or_module")
@click.argument("entity")
def show_dockerfile(file_or_module: str, entity: str) -> None:
    """Print the Dockerfile of every ImageSpec ENTITY uses (build it with `image build`)."""
    texts = [dockerfile(spec) for spec in _specs(file_or_module, entity)]
    click.echo("\n".join(texts), nl=False)


@image.command("build")
@click.argument("file_or_module")
@click.argument("entity")
@click.option("--builder", type=click.Choice(BUILDERS), default=None, help="docker or buildah.")
@click.option("--push", is_flag=True, help="Push each image after building it.")
def build(file_or_module: str, entity: str, builder: str | None, push: bool) -> None:
    """Build (and with --push, push) every image ENTITY's ImageSpecs describe."""
    for spec in _specs(file_or_module, entity):
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


def _prepare_context(spec: ImageSpec, context: Path) -> None:
    """The Dockerfile, this slipstream's source (installed into the image), requirements."""
    (context / "Dockerfile").write_text(dockerfile(spec))
    package = Path(__file__).resolve().parents[1]
    project = package.parent
    source = context / SOURCE_DIR
    if not (project / "pyproject.toml").is_file():
        raise click.ClickException(
            f"slipstream at {package} is not a source checkout (no pyproject.toml beside it); "
            "build from a checkout so the image gets the same slipstream"
        )
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

"""ImageSpec: a container image described in Python (Flyte's names), named by a hash of itself.

Accepted wherever an image name is (`@task(image=)`/`container_image=`, `Scheduler(image=)`,
`WorkerGroup(image=)`); the IR keeps only its name `registry/name:<hash>`. Locally it changes
nothing; `slipstream image dockerfile|build` turns it into an image (see sdk/dockerfile.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from slipstream.errors import DefinitionError

IMAGE_ENV = "SLIPSTREAM_IMAGE_SPEC"  # set inside an image built from a spec: its full name
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_PYTHON = re.compile(r"^3\.\d+$")


@dataclass(frozen=True)
class ImageSpec:
    """What goes into an image: a base, Python, pip and apt packages, environment, commands."""

    name: str = "slipstream"
    python_version: str | None = None
    base_image: str | None = None
    registry: str | None = None
    packages: list[str] | None = None
    apt_packages: list[str] | None = None
    requirements: str | None = None  # a requirements.txt path; its content is hashed too
    env: dict[str, str] | None = None
    commands: list[str] | None = None
    pip_index: str | None = None
    pip_extra_index_url: list[str] | None = None
    platform: str = "linux/amd64"
    builder: str | None = None  # "docker" or "buildah"; None picks what is on the PATH
    _hash: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"ImageSpec(name={self.name!r})"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise DefinitionError(
                f"{where}: the name must be lower-case letters, digits, '.', '_', '-' and '/'"
            )
        if self.python_version is not None and not _PYTHON.match(str(self.python_version)):
            raise DefinitionError(
                f"{where}: python_version={self.python_version!r} must look like '3.11'"
            )
        for option in ("packages", "apt_packages", "commands", "pip_extra_index_url"):
            value = getattr(self, option)
            if value is not None and (
                isinstance(value, str) or not all(isinstance(v, str) for v in value)
            ):
                raise DefinitionError(f"{where}: {option}={value!r} must be a list of strings")
        if self.env is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.env.items()
        ):
            raise DefinitionError(f"{where}: env={self.env!r} must map str to str")
        if self.requirements is not None and not os.path.isfile(self.requirements):
            raise DefinitionError(f"{where}: requirements={self.requirements!r} is not a file")
        if self.builder not in (None, "docker", "buildah"):
            raise DefinitionError(f"{where}: builder={self.builder!r} must be docker or buildah")
        object.__setattr__(self, "_hash", self._content_hash())

    def _content_hash(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            slipstream_version = version("slipstream")
        except PackageNotFoundError:
            slipstream_version = ""
        content = {k: v for k, v in asdict(self).items() if k not in ("_hash", "builder")}
        if self.requirements is not None:
            with open(self.requirements, "rb") as f:
                content["requirements"] = hashlib.sha256(f.read()).hexdigest()
        content["slipstream"] = slipstream_version
        content["python_version"] = self.resolved_python_version
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def resolved_python_version(self) -> str:
        """The Python of the image: python_version, else this interpreter's."""
        return self.python_version or f"{sys.version_info.major}.{sys.version_info.minor}"

    @property
    def tag(self) -> str:
        """A hash of everything in the spec: the same spec always names the same image."""
        return self._hash

    def image_name(self) -> str:
        """`registry/name:tag` (or `name:tag` without a registry)."""
        prefix = f"{self.registry.rstrip('/')}/" if self.registry else ""
        return f"{prefix}{self.name}:{self.tag}"

    def is_container(self) -> bool:
        """True only inside a container built from this spec."""
        return os.environ.get(IMAGE_ENV) == self.image_name()

    # Flyte's builder-style helpers: each returns a new spec.
    def with_packages(self, packages: str | list[str]) -> ImageSpec:
        return self._with("packages", packages)

    def with_apt_packages(self, packages: str | list[str]) -> ImageSpec:
        return self._with("apt_packages", packages)

    def with_commands(self, commands: str | list[str]) -> ImageSpec:
        return self._with("commands", commands)

    def _with(self, option: str, more: str | list[str]) -> ImageSpec:
        values = [*(getattr(self, option) or []), *([more] if isinstance(more, str) else more)]
        fields = {k: v for k, v in asdict(self).items() if k != "_hash"}
        fields[option] = values
        return ImageSpec(**fields)

    def __str__(self) -> str:
        return self.image_name()


def image_reference(image: Any, where: str) -> str:
    """The image name an `image=` option stands for: a string as is, an ImageSpec's full name."""
    if image is None:
        return ""
    if isinstance(image, ImageSpec):
        return image.image_name()
    if isinstance(image, str):
        return image
    raise DefinitionError(f"{where}: image={image!r} must be an image name or an ImageSpec(...)")

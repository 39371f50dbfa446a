"""The Dockerfile an ImageSpec stands for, and the specs an entity uses; for `slipstream image`."""

from __future__ import annotations

import json
import shlex
from typing import Any

from slipstream.sdk.image_spec import IMAGE_ENV, ImageSpec

# Paths inside the build context that `slipstream image build` prepares.
SOURCE_DIR = "slipstream-src"
REQUIREMENTS_FILE = "requirements.txt"


def dockerfile(spec: ImageSpec) -> str:
    """Dockerfile text for `spec`, built in a context holding SOURCE_DIR (and requirements)."""
    base = spec.base_image or f"python:{spec.resolved_python_version}-slim"
    lines = [
        f"# {spec.image_name()}: built by `slipstream image build` from ImageSpec {spec.name!r}",
        f"FROM {base}",
    ]
    if spec.apt_packages:
        packages = " ".join(shlex.quote(p) for p in spec.apt_packages)
        lines.append(
            "RUN apt-get update && apt-get install -y --no-install-recommends "
            f"{packages} && rm -rf /var/lib/apt/lists/*"
        )
    pip = ["python", "-m", "pip", "install", "--no-cache-dir"]
    if spec.pip_index:
        pip += ["--index-url", spec.pip_index]
    for url in spec.pip_extra_index_url or []:
        pip += ["--extra-index-url", url]
    lines.append(f"COPY {SOURCE_DIR} /opt/{SOURCE_DIR}")
    if spec.requirements:
        lines.append(f"COPY {REQUIREMENTS_FILE} /opt/{REQUIREMENTS_FILE}")
    wanted = [f"/opt/{SOURCE_DIR}", *(spec.packages or [])]
    if spec.requirements:
        wanted += ["-r", f"/opt/{REQUIREMENTS_FILE}"]
    lines.append("RUN " + " ".join(shlex.quote(part) for part in [*pip, *wanted]))
    for command in spec.commands or []:
        lines.append(f"RUN {command}")
    env = {**(spec.env or {}), IMAGE_ENV: spec.image_name()}
    for key in sorted(env):
        lines.append(f"ENV {key}={json.dumps(env[key])}")
    lines.append("WORKDIR /root")
    return "\n".join(lines) + "\n"


def entity_image_specs(entity: Any) -> list[ImageSpec]:
    """Every distinct ImageSpec an entity uses (its own, its Dask config's, its children's)."""
    found: dict[str, ImageSpec] = {}
    seen: set[int] = set()

    def visit(item: Any) -> None:
        if id(item) in seen:
            return
        seen.add(id(item))
        for spec in getattr(item, "image_specs", ()):
            found.setdefault(spec.image_name(), spec)
        for child in getattr(item, "entities", {}).values():
            visit(child)
        task = getattr(item, "task", None)  # a map over a task
        if task is not None:
            visit(task)

    visit(entity)
    return list(found.values())

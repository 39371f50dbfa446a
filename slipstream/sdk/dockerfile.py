"""Dockerfiles: the runtime image's (the repository's `Dockerfile`) and an ImageSpec's.

Both are assembled here from the same steps (pip install, the non-root user, the command);
`slipstream image dockerfile|build` prints and builds them, and a test checks that the
repository's `Dockerfile` is `runtime_dockerfile()`.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from slipstream.sdk.image_spec import IMAGE_ENV, ImageSpec

# Paths inside the build context that `slipstream image build` prepares.
SOURCE_DIR = "slipstream-src"
REQUIREMENTS_FILE = "requirements.txt"
# The runtime image: a pinned slim Python (the one constraints.txt was resolved for).
RUNTIME_BASE = "python:3.11.14-slim-bookworm"
# What the runtime image's build context must hold (the rest is left out by .dockerignore).
RUNTIME_CONTEXT = ("pyproject.toml", "README.md", "constraints.txt", "slipstream")
# The user every image runs as: the uid the Kubernetes runner's `run_as_user` defaults to.
USER_ID = 1000
USER_HOME = "/home/slipstream"
COMMAND = ["python", "-m", "slipstream.execute", "--help"]  # Pods give the real command
_PIP = ["python", "-m", "pip", "install", "--no-cache-dir"]


def _run(argv: list[str]) -> str:
    return "RUN " + " ".join(shlex.quote(part) for part in argv)


def _user_steps() -> list[str]:
    """A non-root user (uid/gid USER_ID, kept if the base has one), its home the workdir."""
    uid = USER_ID
    return [
        f"RUN (getent group {uid} >/dev/null || groupadd --gid {uid} slipstream)"
        f" && (getent passwd {uid} >/dev/null || useradd --uid {uid} --gid {uid}"
        f" --no-create-home --home-dir {USER_HOME} --shell /usr/sbin/nologin slipstream)"
        f" && install -d -o {uid} -g {uid} {USER_HOME}",
        f"USER {uid}:{uid}",
        f"ENV HOME={USER_HOME}",
        f"WORKDIR {USER_HOME}",
        f"CMD {json.dumps(COMMAND)}",
    ]


def runtime_dockerfile() -> str:
    """The runtime image: slipstream's wheel and its dependencies (wheels from PyPI, pinned
    by constraints.txt) on RUNTIME_BASE, run as a non-root user. Built from a checkout."""
    wheels = "/opt/slipstream/wheels"
    constraints = "/opt/slipstream/constraints.txt"
    lines = [
        "# The slipstream runtime image (`slipstream image name` names it): task Pods and",
        "# DaskJob runners run `python -m slipstream.execute ...` in it, Dask schedulers and",
        "# workers `dask scheduler|worker`, the control plane `slipstream serve`. Build it from",
        "# a checkout: `slipstream image build [--push]`, or",
        '#   docker build -t "$(slipstream image name)" .',
        "# Written by `slipstream image dockerfile > Dockerfile`: change that, not this file.",
        f"FROM {RUNTIME_BASE} AS wheel",
        "COPY pyproject.toml README.md /src/",
        "COPY slipstream /src/slipstream",
        _run(
            [
                "python",
                "-m",
                "pip",
                "wheel",
                "--no-cache-dir",
                "--no-deps",
                "--wheel-dir",
                "/wheels",
                "/src",
            ]
        ),
        "",
        f"FROM {RUNTIME_BASE}",
        "ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        f"COPY constraints.txt {constraints}",
        f"COPY --from=wheel /wheels {wheels}",
        _run([*_PIP, "--only-binary=:all:", "--constraint", constraints])
        + f" {wheels}/slipstream-*.whl",
        *_user_steps(),
    ]
    return "\n".join(lines) + "\n"


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
    pip = list(_PIP)
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
    lines.append(_run([*pip, *wanted]))
    for command in spec.commands or []:
        lines.append(f"RUN {command}")
    env = {**(spec.env or {}), IMAGE_ENV: spec.image_name()}
    for key in sorted(env):
        lines.append(f"ENV {key}={json.dumps(env[key])}")
    lines += _user_steps()
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

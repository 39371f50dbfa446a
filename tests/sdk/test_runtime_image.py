"""The runtime image: the repository's Dockerfile (parsed, never built here), its name, `image`."""

from __future__ import annotations

import json
import os
import re
import stat
from importlib.metadata import distribution, version
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.requirements import Requirement

from slipstream import ImageSpec
from slipstream.cli.main import cli
from slipstream.config import Settings, load_settings
from slipstream.runtime_image import REPOSITORY, default_image
from slipstream.sdk.dockerfile import RUNTIME_CONTEXT, dockerfile, runtime_dockerfile

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ["python", "-m", "slipstream.execute"]  # DESIGN §4: every attempt runs this


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: comments dropped, continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        out.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            found.append([])
        assert found, f"{keyword} {rest} comes before any FROM"
        found[-1].append((keyword, rest))
    return found


def test_the_repository_dockerfile_is_the_one_slipstream_writes() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text == runtime_dockerfile(), "regenerate: slipstream image dockerfile > Dockerfile"
    printed = CliRunner().invoke(cli, ["image", "dockerfile"])
    assert printed.exit_code == 0, printed.output
    assert printed.output == text


def test_the_dockerfile_pins_its_base_installs_pinned_wheels_and_runs_as_a_user() -> None:
    wheel, final = stages(runtime_dockerfile())
    # Every base is pinned to a Python patch release (or a digest), never a moving tag.
    for stage in (wheel, final):
        base = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+|\S+@sha256:[0-9a-f]{64}", base), base
    # The first stage builds slipstream's wheel; the image installs it with its dependencies,
    # wheels only, pinned by constraints.txt.
    assert wheel[0][1].endswith(" AS wheel")
    (build,) = [rest for keyword, rest in wheel if keyword == "RUN"]
    assert "pip wheel" in build and "--no-deps" in build and build.endswith(" /src")
    runs = [rest for keyword, rest in final if keyword == "RUN"]
    (install,) = [r for r in runs if "pip install" in r]
    assert "--only-binary=:all:" in install
    assert "--constraint /opt/slipstream/constraints.txt" in install
    assert install.endswith("/opt/slipstream/wheels/slipstream-*.whl")
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert "constraints.txt /opt/slipstream/constraints.txt" in copies
    assert "--from=wheel /wheels /opt/slipstream/wheels" in copies
    # A non-root numeric user (runAsNonRoot can check it) that is the runner's default uid.
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users == [f"{Settings().run_as_user}:{Settings().run_as_user}"]
    assert [k for k, _ in final].index("USER") > [k for k, _ in final].index("RUN")
    assert any("useradd --uid 1000" in r for r in runs)
    # No ENTRYPOINT: a Pod's command is the contract's (`python -m slipstream.execute ...`),
    # `dask scheduler|worker` or `slipstream serve`, each run as given; CMD is the contract's.
    assert all(keyword != "ENTRYPOINT" for keyword, _ in instructions(runtime_dockerfile()))
    (command,) = [rest for keyword, rest in final if keyword == "CMD"]
    assert json.loads(command)[:3] == CONTRACT


def test_the_build_context_is_only_what_the_dockerfile_copies() -> None:
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*"  # everything else (.venv, .git, tests) stays out
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert allowed == set(RUNTIME_CONTEXT)
    wheel, final = stages(runtime_dockerfile())
    copied = {
        source
        for keyword, rest in wheel + final
        if keyword == "COPY" and not rest.startswith("--from=")
        for source in rest.split()[:-1]
    }
    assert copied == set(RUNTIME_CONTEXT)
    assert all((ROOT / part).exists() for part in RUNTIME_CONTEXT)


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(name: str, extras: set[str], seen: dict[str, str]) -> None:
    """Every distribution `name` (with `extras`) needs here, with its installed version."""
    for text in distribution(name).requires or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker and not any(marker.evaluate({"extra": e}) for e in extras or {""}):
            continue
        key = _key(requirement.name)
        if key not in seen:
            seen[key] = version(requirement.name)
            _closure(requirement.name, set(requirement.extras), seen)


def test_constraints_pin_everything_the_image_installs() -> None:
    """The image's pip runs with --constraint: each package it installs is pinned there (and
    to what the tests run with). Dask and Kubernetes support are dependencies, not extras."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, pinned = line.strip().split("==", 1)
            pins[_key(name)] = pinned
    needed: dict[str, str] = {}
    _closure("slipstream", set(), needed)
    assert {"dask", "distributed", "kr8s", "bokeh", "psycopg", "uvicorn"} <= set(needed)
    unpinned = {name: got for name, got in needed.items() if pins.get(name) != got}
    assert unpinned == {}


def test_the_default_image_follows_slipstreams_version(home: Path) -> None:
    assert default_image() == f"{REPOSITORY}:{version('slipstream')}"
    assert REPOSITORY == "ghcr.io/slipstream-io/slipstream"
    assert default_image("0.2.0+g1a2b.dirty") == f"{REPOSITORY}:0.2.0-g1a2b.dirty"
    assert default_image("") == f"{REPOSITORY}:latest"
    assert Settings().image == default_image() == load_settings().image
    named = CliRunner().invoke(cli, ["image", "name"])
    assert named.exit_code == 0 and named.output == default_image() + "\n"


def test_an_imagespec_image_runs_as_the_same_user(home: Path) -> None:
    spec_tail = instructions(dockerfile(ImageSpec(name="team", packages=["requests"])))
    runtime_tail = instructions(runtime_dockerfile())
    assert spec_tail[-5:] == runtime_tail[-5:]  # the user, its home, the command
    assert ("USER", "1000:1000") in spec_tail


def test_image_build_builds_the_runtime_image_from_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "calls"
    fake = bin_dir / "docker"  # records its arguments
    fake.write_text(f'#!/bin/sh\necho "$@" >> {record}\nexit 0\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(cli, ["image", "build", "--push", "--builder", "docker"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == default_image()
    assert record.read_text().splitlines() == [
        f"build -t {default_image()} -f {ROOT / 'Dockerfile'} {ROOT}",
        f"push {default_image()}",
    ]
    half = CliRunner().invoke(cli, ["image", "build", "flows.py"])
    assert half.exit_code == 2 and "give FILE_OR_MODULE and ENTITY, or neither" in half.output

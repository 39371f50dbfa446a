"""ImageSpec: a stable content-hash name wherever an image goes; its Dockerfile; `image build`."""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from slipstream import DefinitionError, ImageSpec, task
from slipstream.cli.main import cli
from slipstream.dask import Dask, Scheduler, WorkerGroup
from slipstream.sdk.dockerfile import dockerfile, entity_image_specs
from slipstream.sdk.image_spec import IMAGE_ENV

SPEC = ImageSpec(
    name="flyte-dask",
    registry="ghcr.io/me",
    python_version="3.11",
    packages=["pandas==2.2.3"],
    apt_packages=["git"],
    env={"MODE": "prod"},
)


def test_the_tag_is_a_hash_of_the_content() -> None:
    same = ImageSpec(
        name="flyte-dask",
        registry="ghcr.io/me",
        python_version="3.11",
        packages=["pandas==2.2.3"],
        apt_packages=["git"],
        env={"MODE": "prod"},
    )
    assert SPEC.image_name() == same.image_name()
    assert SPEC.image_name().startswith("ghcr.io/me/flyte-dask:")
    assert len(SPEC.tag) == 20
    other = SPEC.with_packages("s3fs")
    assert other.packages == ["pandas==2.2.3", "s3fs"]
    assert other.tag != SPEC.tag
    assert ImageSpec(name="plain").image_name().startswith("plain:")


def test_requirements_content_is_part_of_the_tag(tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy\n")
    first = ImageSpec(name="r", requirements=str(reqs)).tag
    reqs.write_text("numpy\nscipy\n")
    assert ImageSpec(name="r", requirements=str(reqs)).tag != first


def test_bad_specs_are_named() -> None:
    with pytest.raises(DefinitionError, match="python_version='3'"):
        ImageSpec(python_version="3")
    with pytest.raises(DefinitionError, match="packages='pandas' must be a list"):
        ImageSpec(packages="pandas")  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="the name must be lower-case"):
        ImageSpec(name="Bad Name")
    with pytest.raises(DefinitionError, match="image=3 must be an image name or an ImageSpec"):

        @task(image=3)  # type: ignore[call-overload]
        def t() -> None: ...


def test_accepted_wherever_an_image_is(home: Path) -> None:
    @task(container_image=SPEC)
    def plain(x: int) -> int:
        return x

    dask_spec = SPEC.with_packages("dask[distributed]")

    @task(
        image=SPEC,
        task_config=Dask(
            scheduler=Scheduler(image=dask_spec),
            workers=WorkerGroup(number_of_workers=2, image=dask_spec),
        ),
    )
    def big(x: int) -> int:
        return x

    assert plain.template.image == SPEC.image_name()
    assert big.template.config["scheduler"]["image"] == dask_spec.image_name()
    assert big.template.config["workers"][0]["image"] == dask_spec.image_name()
    assert [s.image_name() for s in entity_image_specs(big)] == [
        SPEC.image_name(),
        dask_spec.image_name(),
    ]
    assert plain(x=3) == 3  # locally an ImageSpec changes nothing
    with pytest.raises(DefinitionError, match="not both"):

        @task(image="a:1", container_image=SPEC)
        def both() -> None: ...


def test_the_dockerfile_installs_what_the_spec_says() -> None:
    text = dockerfile(SPEC)
    assert text.splitlines()[1] == "FROM python:3.11-slim"
    assert "apt-get install -y --no-install-recommends git" in text
    assert "pip install --no-cache-dir /opt/slipstream-src pandas==2.2.3" in text
    assert 'ENV MODE="prod"' in text
    assert f'ENV {IMAGE_ENV}="{SPEC.image_name()}"' in text
    assert dockerfile(ImageSpec(base_image="ubuntu:24.04")).splitlines()[1] == "FROM ubuntu:24.04"


def test_is_container_only_inside_its_image(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not SPEC.is_container()
    monkeypatch.setenv(IMAGE_ENV, SPEC.image_name())
    assert SPEC.is_container()
    assert not SPEC.with_packages("x").is_container()


FLOW = textwrap.dedent(
    """
    from slipstream import ImageSpec, task, workflow

    spec = ImageSpec(name="compat", registry="localhost:5000", python_version="3.11",
                     packages=["requests"])

    @task(container_image=spec)
    def hello(name: str) -> str:
        return f"hello {name}"

    @task
    def bare() -> int:
        return 1

    @workflow
    def wf(name: str = "x") -> str:
        return hello(name=name)
    """
)


def _flow(tmp_path: Path) -> Path:
    path = tmp_path / "image_flow.py"
    path.write_text(FLOW)
    return path


def test_image_dockerfile_prints_the_entitys_dockerfile(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    result = CliRunner().invoke(cli, ["image", "dockerfile", str(flow), "wf"])
    assert result.exit_code == 0, result.output
    assert "# localhost:5000/compat:" in result.output
    assert "pip install --no-cache-dir /opt/slipstream-src requests" in result.output
    result = CliRunner().invoke(cli, ["image", "dockerfile", str(flow), "bare"])
    assert result.exit_code == 2
    assert "uses no ImageSpec" in result.output


def test_image_build_without_a_builder_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(cli, ["image", "build", str(_flow(tmp_path)), "wf"])
    assert result.exit_code == 1
    assert "no image builder found: docker or buildah must be on the PATH" in result.output


def test_image_build_runs_the_builder_on_a_prepared_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "calls"
    fake = bin_dir / "buildah"  # records its arguments and the context it was given
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {record}\n'
        "for last; do :; done\n"
        f'[ -f "$last/slipstream-src/slipstream/__init__.py" ] && echo context-ok >> {record}\n'
        "exit 0\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(
        cli, ["image", "build", str(_flow(tmp_path)), "wf", "--push", "--builder", "buildah"]
    )
    assert result.exit_code == 0, result.output
    name = result.output.strip().splitlines()[-1]
    assert name.startswith("localhost:5000/compat:")
    calls = record.read_text().splitlines()
    assert calls[0].startswith(f"bud -t {name} --platform linux/amd64 -f ")
    assert calls[1] == "context-ok"
    assert calls[2] == f"push {name}"

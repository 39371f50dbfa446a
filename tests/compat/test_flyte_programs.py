"""Flyte-style programs (only the imports changed) give what Flyte's semantics give.

Each program in programs/ runs three ways, in fresh processes: as a script (its printed lines
are compared with what Flyte's semantics print), under `slipstream run --isolate --json`
(every attempt in its own process; outputs keep Flyte's names o0, o1, ...), and through
`slipstream k8s render` (the Kubernetes objects it would create).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

PROGRAMS = Path(__file__).with_name("programs")
SECRET = "abcdef"  # the value of the user-info/user_secret secret; never printed by slipstream


@dataclass(frozen=True)
class Run:
    entity: str
    args: tuple[str, ...]
    outputs: dict[str, Any]


@dataclass(frozen=True)
class Render:
    entity: str
    args: tuple[str, ...]
    expect: tuple[str, ...]  # text the YAML must hold


@dataclass(frozen=True)
class Program:
    name: str
    printed: str  # the script's stdout under Flyte's semantics
    runs: tuple[Run, ...] = ()
    renders: tuple[Render, ...] = field(default=())
    failing: tuple[tuple[str, str], ...] = ()  # entity, failed node: run --isolate fails there


CASES = [
    Program(
        "tuples",
        """\
my_wf: 52 'hello world'
fan_out: ['item-0', 'item-1', 'item-2']
slope_wf: -1.5
slope: slope_value(slope=-1.5)
t3: 10 item-5
triple_wf: (6, 'triple-2')
""",
        runs=(
            Run("my_wf", ("--a", "50", "--b", "hello "), {"o0": 52, "o1": "hello world"}),
            Run("t3", ("--a", "4"), {"o0": 8, "o1": "item-4"}),
            Run("fan_out", ("--n", "2"), {"o0": ["item-0", "item-1"]}),
            Run("slope_wf", ("--x", "[-3, 0, 3]", "--y", "[7, 4, -2]"), {"o0": -1.5}),
        ),
        renders=(Render("my_wf", ("--a", "1", "--b", "x"), ("kind: Pod", "tuples:t1")),),
    ),
    Program(
        "attribute_access",
        """\
attribute_wf: ADA
count_wf: 3
condition_wf: NO LABEL
condition_wf: HEAVY AND LABELLED
weight_wf: BETWEEN ONE AND TWO
""",
        runs=(
            Run("attribute_wf", (), {"o0": "ADA"}),
            Run("condition_wf", ("--name", "apple"), {"o0": "HEAVY AND LABELLED"}),
            Run("weight_wf", ("--name", "plain"), {"o0": "BETWEEN ONE AND TWO"}),
        ),
        renders=(Render("attribute_wf", (), ("kind: Pod",)),),
    ),
    Program(
        "ordering",
        """\
chain_wf: ['t0', 't1', 't2']
lp0 before lp1: True
sub_wf0 before sub_wf1: True
lp0(name='other'): launch plan 'lp0': input(s) 'name' are fixed (to 'lp0') and cannot be \
overridden
lp1 ran with its default: lp1
""",
        runs=(Run("chain_wf", (), {}), Run("plans_wf", (), {})),
        renders=(Render("plans_wf", (), ("kind: Pod",)),),
    ),
    Program(
        "files",
        """\
report_wf: report.txt: all good
folder_wf: ['part-0.txt', 'part-1.txt', 'part-2.txt']
a File prints as its path: True
and is os.PathLike: True
""",
        runs=(
            Run("report_wf", ("--text", "fine"), {"o0": "report.txt: fine"}),
            Run("folder_wf", ("--count", "2"), {"o0": ["part-0.txt", "part-1.txt"]}),
        ),
    ),
    Program(
        "structured_dataset",
        """\
ages: [19, 22, 30]
columns: ['Name']
""",
        runs=(Run("simple_sd_wf", ("--a", "40"), {"o0": [40, 22, 30], "o1": ["Name"]}),),
    ),
    Program(
        "dataclass_files",
        """\
datum_wf: first: 'file contents', ['a.csv', 'b.csv'], 3 rows
settings_wf: model: 'lr=0.1', ['x.json']
""",
        runs=(
            Run("datum_wf", (), {"o0": "first: 'file contents', ['a.csv', 'b.csv'], 3 rows"}),
            Run("settings_wf", (), {"o0": "model: 'lr=0.1', ['x.json']"}),
        ),
    ),
    Program(
        "secret_requests",
        """\
secrets_wf: secret has 6 characters
db_wf: ada has a password of 7 characters
where: SLIPSTREAM_SECRET_DB_USER
""",
        runs=(Run("db_wf", (), {"o0": "ada has a password of 7 characters"}),),
        renders=(
            Render(
                "db_wf",
                (),
                ("secretKeyRef:", "name: SLIPSTREAM_SECRET_DB_USER", "secretName: db"),
            ),
        ),
    ),
    Program(
        "failure_handlers",
        """\
wf1 failed: Fail!
Creating cluster: my_cluster
1 2
Deleting cluster my_cluster due to FailureInfo(message='Fail!', failed_node_id='t1')
wf2 failed: Fail!
Creating cluster: my_cluster
Creating cluster: another_cluster
1 2
Sub-workflow handler for another_cluster
Deleting cluster my_cluster due to FailureInfo(message='Fail!', failed_node_id='subwf')
""",
        failing=(("wf1", "t1"), ("wf2", "subwf")),
    ),
    Program(
        "image_spec",
        """\
image_wf: hello world
increment: [1, 2, 3]
is_container: False
same spec, same name: True
""",
        runs=(Run("image_wf", ("--name", "there"), {"o0": "hello there"}),),
        renders=(
            Render("image_wf", (), ("image: ghcr.io/example/flyte-compat:",)),
            Render("increment", ("--n", "2"), ("kind: DaskJob", "ghcr.io/example/flyte-compat:")),
        ),
    ),
]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    secrets = tmp_path / "secrets" / "db"
    secrets.mkdir(parents=True)
    (secrets / "password").write_text("hunter2")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM_")}
    environ.update(
        SLIPSTREAM_HOME=str(tmp_path / "home"),
        SLIPSTREAM_SECRETS_DIR=str(tmp_path / "secrets"),
        SLIPSTREAM_SECRET_USER_INFO_USER_SECRET=SECRET,
        SLIPSTREAM_SECRET_DB_USER="ada",
        ORDER_LOG=str(tmp_path / "order.log"),
        SLIPSTREAM_IMAGE="img:1",
    )
    return environ


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    assert SECRET not in done.stdout + done.stderr
    return done


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_flyte_program(case: Program, env: dict[str, str], tmp_path: Path) -> None:
    program = str(PROGRAMS / f"{case.name}.py")
    assert _run([program], env, tmp_path).stdout == case.printed
    for run in case.runs:
        done = _run(
            ["-m", "slipstream", "run", "--isolate", "--json", program, run.entity, *run.args],
            env,
            tmp_path,
        )
        document = json.loads(done.stdout.strip().splitlines()[-1])
        assert document["phase"] == "SUCCEEDED", done.stderr
        assert document["outputs"] == run.outputs, run.entity
        if run is case.runs[0] and run.outputs:  # the history shows them under the same names
            shown = _run(
                ["-m", "slipstream", "executions", "show", document["execution"]], env, tmp_path
            )
            for name in run.outputs:
                assert f"  {name}: " in shown.stdout, shown.stdout
    for entity, node in case.failing:
        done = subprocess.run(
            [sys.executable, "-m", "slipstream", "run", "--isolate", "--json", program, entity],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
        document = json.loads(done.stdout.strip().splitlines()[-1])
        assert document["phase"] == "FAILED", done.stderr
        assert f"user error in node {node!r}: ValueError: Fail!" in done.stderr
        shown = _run(
            ["-m", "slipstream", "executions", "show", document["execution"]], env, tmp_path
        )
        lines = shown.stdout.splitlines()
        assert any("clean-up" in line and "SUCCEEDED" in line for line in lines), shown.stdout
    for render in case.renders:
        done = _run(
            ["-m", "slipstream", "k8s", "render", program, render.entity, *render.args],
            env,
            tmp_path,
        )
        assert list(yaml.safe_load_all(done.stdout))  # tasks without an image get the setting
        for text in render.expect:
            assert text in done.stdout, f"{render.entity}: {text!r} not in the rendering"

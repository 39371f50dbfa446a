"""Every error of slipstream's own is one message with a documented exit code; -v adds frames."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from slipstream.cli.main import cli

FLOWS = str(Path(__file__).with_name("flows_cli.py"))


@pytest.fixture
def runner(home: Path) -> CliRunner:
    return CliRunner()


def _no_engine_frames(output: str) -> str:
    assert "site-packages" not in output and "/slipstream/" not in output, output
    return output


def _one_message(output: str) -> str:
    assert "Traceback" not in output, output
    return _no_engine_frames(output)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SLIPSTREAM_MAX_PARALLELISM", "0", "an integer >= 1"),
        ("SLIPSTREAM_SYSTEM_RETRIES", "-2", "an integer >= 0"),
        ("SLIPSTREAM_RETRY_BACKOFF", "-1", "a number >= 0"),
        ("SLIPSTREAM_RUNNER", "bogus", "one of inprocess, process, kubernetes"),
        ("SLIPSTREAM_DATABASE_URL", "mysql://x/y", "scheme sqlite or postgresql"),
        ("SLIPSTREAM_BLOB_URL", "file://relative", "an absolute file URL"),
    ],
)
def test_a_bad_setting_is_exit_2_naming_it(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = runner.invoke(cli, ["run", FLOWS, "square", "--n", "3"])
    assert result.exit_code == 2, result.output
    message = _one_message(result.output)
    assert f"the environment variable {variable}" in message
    assert repr(value) in message and expected in message


def test_a_home_that_is_a_file(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file-home").write_text("")
    monkeypatch.setenv("SLIPSTREAM_HOME", str(tmp_path / "file-home"))
    result = runner.invoke(cli, ["executions", "list"])
    assert result.exit_code == 2
    assert "is not a folder" in _one_message(result.output)


def test_verbose_adds_the_internal_traceback(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_MAX_PARALLELISM", "0")
    result = runner.invoke(cli, ["-v", "run", FLOWS, "square", "--n", "3"])
    assert result.exit_code == 2
    assert "Traceback" in result.output and "slipstream/config.py" in result.output


def test_a_broken_pyproject_is_named(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.slipstream\n")
    monkeypatch.chdir(project)
    result = runner.invoke(cli, ["executions", "list"])
    assert result.exit_code == 2
    assert str(project / "pyproject.toml") in _one_message(result.output)


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("def broken(:\n    pass\n", ["line 1", "SyntaxError"]),
        (
            "def helper():\n    raise RuntimeError('boom at import')\nhelper()\n",
            ["line 3, in <module>", "line 2, in helper", "RuntimeError: boom at import"],
        ),
        ("import not_a_package_anywhere_zz\n", ["line 1", "No module named"]),
        (
            "from slipstream import task, workflow\n"
            "@task\ndef a(x: int) -> int:\n    return x\n"
            "@task\ndef b(x: int) -> int:\n    return x\n"
            "@workflow\ndef wf(x: int) -> int:\n"
            "    p = a(x=x)\n    q = b(x=x)\n    p >> q\n    q >> p\n    return p\n",
            ["line 8, in <module>", "has a cycle: a -> b -> a"],
        ),
    ],
    ids=["syntax", "raise", "import", "cycle"],
)
def test_importing_the_users_file_shows_their_frames_only(
    runner: CliRunner, tmp_path: Path, source: str, shown: list[str]
) -> None:
    module = tmp_path / "users_module.py"
    module.write_text(source)
    result = runner.invoke(cli, ["run", str(module), "wf"])
    assert result.exit_code == 2, result.output
    message = _no_engine_frames(result.output)
    assert f"importing {module} failed" in message
    assert "importlib" not in message and "click" not in message
    for text in shown:
        assert text in message


def test_phase_takes_only_phases(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["run", FLOWS, "square", "--n", "2"]).exit_code == 0
    result = runner.invoke(cli, ["executions", "list", "--phase", "BOGUS"])
    assert result.exit_code == 2
    assert "'BOGUS' is not one of" in result.output
    listed = runner.invoke(cli, ["executions", "list", "--phase", "succeeded"])
    assert listed.exit_code == 0 and "SUCCEEDED" in listed.output
    none = runner.invoke(cli, ["executions", "list", "--phase", "failed"])
    assert none.exit_code == 0 and "no FAILED executions" in none.output


def test_read_only_commands_create_nothing(
    runner: CliRunner, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    for command in (["executions", "list"], ["cache", "list"], ["executions", "show", "e1"]):
        result = runner.invoke(cli, command)
        assert result.exit_code in (0, 2), result.output
    assert runner.invoke(cli, ["executions", "list"]).output.strip() == "no executions yet"
    assert not (tmp_path / "missing").exists()
    assert not home.exists()


def test_an_unreachable_postgresql_is_exit_1_with_the_url_and_no_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLIPSTREAM_DATABASE_URL", "postgresql://me:s3cret@127.0.0.1:1/x")
    result = runner.invoke(cli, ["executions", "list"])
    assert result.exit_code == 1
    message = _one_message(result.output)
    assert "postgresql+psycopg://me:***@127.0.0.1:1/x" in message and "s3cret" not in message
    assert "not reachable" in message and "SLIPSTREAM_DATABASE_URL" in message


def test_a_corrupt_database_is_exit_1_naming_the_file(runner: CliRunner, home: Path) -> None:
    home.mkdir()
    (home / "slipstream.db").write_bytes(b"this is no database " * 500)
    for command in (["executions", "list"], ["run", FLOWS, "square", "--n", "2"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 1, result.output
        message = _one_message(result.output)
        assert f"{home / 'slipstream.db'} is not an SQLite database" in message


def test_a_foreign_sqlite_file_is_left_alone(runner: CliRunner, home: Path) -> None:
    home.mkdir()
    with sqlite3.connect(home / "slipstream.db") as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    result = runner.invoke(cli, ["run", FLOWS, "square", "--n", "2"])
    assert result.exit_code == 1
    assert "belongs to something else (it has the tables invoices" in result.output
    with sqlite3.connect(home / "slipstream.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"invoices"}


def test_an_unknown_postgresql_role_is_named(
    runner: CliRunner, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheme, rest = postgres_url.split("://", 1)
    wrong = f"{scheme}://nobody_here:pw@{rest.split('@', 1)[1]}"
    monkeypatch.setenv("SLIPSTREAM_DATABASE_URL", wrong)
    result = runner.invoke(cli, ["executions", "list"])
    assert result.exit_code == 1
    message = _one_message(result.output)
    assert "nobody_here:***@" in message and "has no such database or role" in message

"""A task's secrets never come out of the server: not in any API response, event, log the UI
shows, page or error message of a full launch -> follow -> show -> logs -> events cycle, and not
in the history or the blob store."""

from __future__ import annotations

import os
import secrets
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import register

pytestmark = pytest.mark.timeout(180)

FLOWS = """
from slipstream import Secret, current_context, task, workflow

SECRETS = [
    Secret(group="db", key="password", mount_requirement=Secret.MountType.FILE),
    Secret(group="api", key="token", mount_requirement=Secret.MountType.ENV_VAR),
]


@task(secret_requests=SECRETS)
def connect(host: str) -> str:
    found = current_context().secrets
    password = found.get("db", "password")
    token = found.get("api", "token")
    print(f"connecting to {host} ({len(password)} + {len(token)} characters of secrets)")
    return f"connected to {host}"


@task(secret_requests=SECRETS)
def refuse(host: str) -> str:
    password = current_context().secrets.get("db", "password")
    assert password
    raise ConnectionError(f"{host} refused the login")


@task
def lost() -> str:
    return current_context().secrets.get("nope", "key")


@workflow
def ok(host: str = "db.internal") -> str:
    return connect(host=host)


@workflow
def broken(host: str = "db.internal") -> str:
    return refuse(host=connect(host=host))


@workflow
def missing() -> str:
    return lost()
"""


@pytest.fixture
def secret_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    password, token = f"pw-{secrets.token_hex(12)}", f"tok-{secrets.token_hex(12)}"
    folder = tmp_path / "secrets"
    (folder / "db").mkdir(parents=True)
    (folder / "db" / "password").write_text(password + "\n")
    monkeypatch.setenv("SLIPSTREAM_SECRETS_DIR", str(folder))
    monkeypatch.setenv("SLIPSTREAM_SECRET_API_TOKEN", token)
    yield password, token


@pytest.fixture
def secret_project(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    module = f"secretive_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "secretive"
    root.mkdir()
    (root / f"{module}.py").write_text(textwrap.dedent(FLOWS))
    yield root, module
    sys.modules.pop(module, None)


def test_no_response_holds_a_secret(
    secret_values: tuple[str, str],
    start_server: Any,
    secret_project: tuple[Path, str],
) -> None:
    live = start_server(runner="process")
    root, module = secret_project
    register(live, root)
    seen: list[str] = []
    client = live.client

    def get(path: str, **params: Any) -> Any:
        response = client.get(path, params=params)
        seen.append(f"{path} {response.status_code} {response.headers} {response.text}")
        return response

    ids = {}
    for name in ("ok", "broken", "missing"):
        response = client.post("/api/v1/executions", json={"workflow": f"{module}.{name}"})
        assert response.status_code == 201, response.text
        seen.append(response.text)
        ids[name] = response.json()["execution"]
    for name, execution in ids.items():
        base = f"/api/v1/executions/{execution}"
        with client.stream("GET", f"{base}/events") as events:  # follow it to the end
            seen.append("".join(events.iter_text()))
        doc = get(base).json()
        assert doc["phase"] == ("SUCCEEDED" if name == "ok" else "FAILED"), doc.get("error")
        for node in doc["nodes"]:
            node_base = f"{base}/nodes/{node['id']}"
            get(f"{node_base}/data")
            for attempt in node.get("attempt_history", []):
                get(f"{node_base}/logs", attempt=attempt["attempt"])
            with client.stream("GET", f"{node_base}/logs", params={"follow": "true"}) as tail:
                seen.append("".join(tail.iter_text()))
            get(f"/executions/{execution}/nodes/{node['id']}/panel")
        get(f"/executions/{execution}")
        get(f"/executions/{execution}/summary")
        with client.stream("GET", f"/executions/{execution}/live") as state:
            seen.append("".join(state.iter_text()))
    get("/api/v1/executions")
    get("/api/v1/executions/counts")
    get("/executions")
    relaunched = client.post(f"/api/v1/executions/{ids['broken']}/relaunch")
    recovered = client.post(f"/api/v1/executions/{ids['broken']}/recover")
    seen += [relaunched.text, recovered.text]

    text = "\n".join(seen)
    # the cycle really ran: the task read both secrets, the failures are there to be read
    assert "connecting to db.internal" in text and "refused the login" in text
    assert "secret nope/key not found" in text
    for value in secret_values:
        assert value not in text, "a response holds a secret"

    # nor was it written anywhere in the server's home (history, blob store, logs)
    home = live.services.settings.home_path
    for folder, _, files in os.walk(home):
        for file in files:
            data = Path(folder, file).read_bytes()
            for value in secret_values:
                assert value.encode() not in data, f"{file} holds a secret"

"""schemathesis over the server's own OpenAPI spec with each scope's token: no generated request
gets a 5xx, and none outside the token's scope gets a 2xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from server_helpers import register

EXAMPLES = {"read": 10, "launch": 10, "admin": 20}  # per operation: bounded, seconds in all
TOKENS = {"read": "fuzz-read-0123", "launch": "fuzz-launch-0123", "admin": "fuzz-admin-0123"}
# What each operation needs beyond `read` (every other one is a read). Kept here, not read
# from the code: a route that loses its check fails this test.
NEEDS = {
    ("PUT", "/api/v1/bundles/{digest}"): "launch",
    ("POST", "/api/v1/registrations"): "launch",
    ("POST", "/api/v1/executions"): "launch",
    ("POST", "/api/v1/executions/{execution_id}/relaunch"): "launch",
    ("POST", "/api/v1/executions/{execution_id}/recover"): "launch",
    # abort: a launch token may abort only its own; no generated id is one of its own
    ("POST", "/api/v1/executions/{execution_id}/abort"): "admin",
    ("POST", "/api/v1/launch_plans/{name}/activate"): "admin",
    ("POST", "/api/v1/launch_plans/{name}/deactivate"): "admin",
    ("DELETE", "/api/v1/cache"): "admin",
    ("GET", "/api/v1/audit"): "admin",
}
ORDER = ("read", "launch", "admin")


def _outside(scope: str, method: str, path: str) -> bool:
    needed = NEEDS.get((method, path), "read")
    return ORDER.index(needed) > ORDER.index(scope)


def _fuzz(operation: Any, url: str, headers: dict[str, str], scope: str) -> None:
    """EXAMPLES[scope] generated requests: none a 5xx, none a 2xx if beyond the scope."""
    method, path = operation.method.upper(), operation.path
    outside = _outside(scope, method, path)

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES[scope], deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call_and_validate(
            base_url=url, headers=headers, checks=[not_a_server_error], timeout=10
        )
        if outside:
            assert not 200 <= response.status_code < 300, (
                f"{scope} token got {response.status_code} on {method} {path}: "
                f"{response.text[:200]}"
            )

    check()


@pytest.mark.parametrize("scope", ORDER)
def test_no_generated_request_fails_or_passes_beyond_its_scope(
    scope: str, start_server: Any, project: tuple[Path, str]
) -> None:
    tokens = {name: (secret, name) for name, secret in TOKENS.items()}
    live = start_server(tokens=tokens)
    live.services.schedules.stop()
    live.client.headers["authorization"] = f"Bearer {TOKENS['admin']}"
    root, module = project
    register(live, root)  # something to find: registered entities, one execution
    body = {"workflow": f"{module}.pipeline", "inputs": {"a": 1}}
    created = live.client.post("/api/v1/executions", json=body).json()["execution"]
    live.wait_phase(created, "SUCCEEDED")
    headers = {"authorization": f"Bearer {TOKENS[scope]}"}
    schema = schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json", headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    spec = {(op.method.upper(), op.path) for op in operations}
    assert set(NEEDS) <= spec  # every guarded operation is in the spec
    assert len(operations) >= 17
    failures: list[str] = []
    for operation in operations:
        try:
            _fuzz(operation, live.url, headers, scope)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)

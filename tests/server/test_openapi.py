"""schemathesis over the server's own OpenAPI spec: no generated request gets a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from server_helpers import register

EXAMPLES = 20  # per operation: bounded, a few seconds in all


def test_no_generated_request_makes_the_server_fail(
    start_server: Any, project: tuple[Path, str]
) -> None:
    live = start_server(token="fuzz")
    live.services.schedules.stop()
    root, module = project
    register(live, root)  # something to find: registered entities, one execution
    body = {"workflow": f"{module}.pipeline", "inputs": {"a": 1}}
    created = live.client.post("/api/v1/executions", json=body).json()["execution"]
    live.wait_phase(created, "SUCCEEDED")
    headers = {"authorization": "Bearer fuzz"}
    schema = schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json", headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # every resource is in the spec
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=live.url, headers=headers, checks=[not_a_server_error], timeout=10
            )

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)

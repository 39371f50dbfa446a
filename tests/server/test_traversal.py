"""No identifier in a request escapes its place: every route that takes one (found from the app's
own routes, so a new endpoint is tried too) refuses traversal with 4xx and touches nothing."""

from __future__ import annotations

import http.client
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from server_helpers import register

pytestmark = pytest.mark.timeout(300)

PAYLOADS = [
    "..",
    "%2e%2e",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2fetc%2fpasswd",
    "%2F",
    "..%5c..%5cwindows",
    "..\\..\\windows",
    "C:%5cwindows",
    "a%00b",
    "%c0%ae%c0%ae",
    "x" * 5000,
]
QUERIES = ["attempt=..", "attempt=%2e%2e", "relaunch=..%2f..%2fx", "node=..%2f..%2fetc"]
PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def snapshot(home: Path) -> dict[str, tuple[int, int]]:
    """Every file under home with its size and mtime, but the database files (reads may touch
    their WAL), and every scratch folder an upload could leave."""
    found: dict[str, tuple[int, int]] = {}
    for folder, _, files in os.walk(home):
        for name in files:
            if name.startswith("slipstream.db"):
                continue
            path = os.path.join(folder, name)
            info = os.stat(path)
            found[os.path.relpath(path, home)] = (info.st_size, info.st_mtime_ns)
    return found


def every_route(routes: Any, prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, routers included in routers too."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included router
        if inner is not None:
            found += every_route(inner.routes, prefix + route.include_context.prefix)
        elif hasattr(route, "path"):
            found.append((prefix + route.path, set(getattr(route, "methods", None) or {"GET"})))
    return found


def send(url: str, method: str, target: str) -> int:
    """The status of a request for target sent as it is (no client-side normalising); the
    redirect of a path ending in '/' (an encoded '/' as the last identifier) to the same path
    without it counts as 404: the route was not reached."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=15)
    try:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        headers = {"content-type": "application/json"} if body else {}
        connection.request(method, target, body=body, headers=headers)  # the target verbatim
        response = connection.getresponse()
        location = response.getheader("location", "")
        stripped = target[: -len("%2F")].rstrip("/")
        if response.status == 307 and target.lower().endswith("%2f"):
            return 404 if urlsplit(location).path == stripped else response.status
        return response.status
    finally:
        connection.close()


def test_every_identifier_refuses_traversal_and_nothing_is_touched(
    server: Any, project: tuple[Path, str]
) -> None:
    root, module = project
    register(server, root)
    launched = server.client.post(
        "/api/v1/executions", json={"workflow": f"{module}.pipeline", "inputs": {"a": 1}}
    )
    execution = launched.json()["execution"]
    server.wait_phase(execution, "SUCCEEDED")
    good = {
        "execution_id": execution,
        "node_id": "add",
        "attempt": "1",
        "side": "outputs",
        "name": "o0",
        "digest": "0" * 64,
        "asset": "ui.css",
    }
    from slipstream.server.app import create_app

    routes = [r for r in every_route(create_app(server.services).routes) if PARAM.search(r[0])]
    home = server.services.settings.home_path
    before = snapshot(home)
    executions_before = server.client.get("/api/v1/executions").json()["executions"]

    tried: set[str] = set()
    refused: list[tuple[str, str, str, int]] = []
    for path, methods in routes:
        params = PARAM.findall(path)
        for param in params:
            for payload in PAYLOADS:
                target = path
                for other in params:
                    value = payload if other == param else good.get(other, "x")
                    target = re.sub("{" + other + r"(?::\w+)?}", lambda _m, v=value: v, target)
                for method in sorted(methods):
                    status = send(server.url, method, target)
                    tried.add(param)
                    if not 400 <= status < 500:
                        refused.append((method, target[:120], param, status))
    assert refused == [], f"not refused with 4xx: {refused[:5]}"
    assert {"execution_id", "node_id", "attempt", "side", "name", "digest", "asset"} <= tried

    node_routes = [
        f"/api/v1/executions/{execution}/nodes/add/logs",
        f"/executions/{execution}",
        "/workflows/x/launch",
    ]
    for path in node_routes:
        for query in QUERIES:
            status = send(server.url, "GET", f"{path}?{query}")
            assert 400 <= status < 500, (path, query, status)
    relaunch = server.client.post("/ui/launch", json={"relaunch": "../../x", "inputs": {}})
    assert relaunch.status_code == 400 and "relaunch" in relaunch.json()["detail"]

    assert snapshot(home) == before, "a refused request changed the home or the blob store"
    assert server.client.get("/api/v1/executions").json()["executions"] == executions_before

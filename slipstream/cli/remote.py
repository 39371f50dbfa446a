"""The CLI's client of a slipstream server (httpx), one method per API call; for remote commands."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from typing import Any

from slipstream.errors import SlipstreamError

API = "/api/v1"


class ServerError(SlipstreamError):
    """The server refused a call or could not be reached; `status` is the HTTP status (or 0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "unknown"


class RemoteClient:
    """Talks to one server; every failure is a ServerError carrying the server's own words."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        import httpx

        if not url.startswith(("http://", "https://")):
            raise ServerError(f"server URL {url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        headers = {"x-slipstream-user": _user()}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.url + API, headers=headers, timeout=timeout)
        self._httpx = httpx

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except self._httpx.HTTPError as exc:
            raise ServerError(f"cannot reach the server at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise ServerError(_detail(response), status=response.status_code)
        if not response.content:
            return None
        return response.json()

    # -- registration --------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def bundle_exists(self, digest: str) -> bool:
        try:
            response = self._http.head(f"/bundles/{digest}")
        except self._httpx.HTTPError as exc:
            raise ServerError(f"cannot reach the server at {self.url}: {exc}") from None
        if response.status_code not in (200, 404):
            raise ServerError(_detail(response), status=response.status_code)
        return response.status_code == 200

    def put_bundle(self, digest: str, data: bytes) -> None:
        self._call(
            "PUT",
            f"/bundles/{digest}",
            content=data,
            headers={"content-type": "application/gzip"},
        )

    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/registrations", json=body)
        return result

    def entity(self, kind: str, name: str, **params: Any) -> dict[str, Any]:
        path = {"task": "tasks", "workflow": "workflows", "launch_plan": "launch_plans"}[kind]
        query = {k: v for k, v in params.items() if v is not None}
        result: dict[str, Any] = self._call("GET", f"/{path}/{name}", params=query)
        return result

    def plan_action(self, action: str, name: str, **params: Any) -> dict[str, Any]:
        """activate / deactivate a launch plan; its schedule state."""
        query = {k: v for k, v in params.items() if v is not None}
        result: dict[str, Any] = self._call("POST", f"/launch_plans/{name}/{action}", params=query)
        return result

    # -- executions ----------------------------------------------------------------------------
    def launch(self, body: dict[str, Any]) -> str:
        return str(self._call("POST", "/executions", json=body)["execution"])

    def list_executions(self, **params: Any) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        result: dict[str, Any] = self._call("GET", "/executions", params=query)
        return result

    def execution(self, execution_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/executions/{execution_id}")
        return result

    def abort(self, execution_id: str) -> str:
        return str(self._call("POST", f"/executions/{execution_id}/abort")["phase"])

    def relaunch(self, execution_id: str, inputs: dict[str, Any] | None = None) -> str:
        body = {"inputs": inputs or {}}
        return str(
            self._call("POST", f"/executions/{execution_id}/relaunch", json=body)["execution"]
        )

    def recover(self, execution_id: str) -> str:
        return str(self._call("POST", f"/executions/{execution_id}/recover")["execution"])

    def logs(self, execution_id: str, node_id: str, attempt: int | None = None) -> dict[str, Any]:
        params = {"attempt": attempt} if attempt is not None else {}
        result: dict[str, Any] = self._call(
            "GET", f"/executions/{execution_id}/nodes/{node_id}/logs", params=params
        )
        return result

    def stream(self, path: str, params: dict[str, Any] | None = None) -> Iterator[tuple[str, Any]]:
        """(event, data) pairs of a Server-Sent Events stream, until the server ends it."""
        try:
            with self._http.stream("GET", path, params=params or {}, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ServerError(_detail(response), status=response.status_code)
                event, data = "message", list[str]()
                for line in response.iter_lines():
                    if not line:
                        if data:
                            yield event, json.loads("\n".join(data))
                        event, data = "message", []
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
        except self._httpx.HTTPError as exc:
            raise ServerError(f"lost the server at {self.url}: {exc}") from None

    def audit(self, **params: Any) -> dict[str, Any]:
        """A page of the audit trail (admin): {"events": [...], "next_cursor": ...}."""
        query = {k: v for k, v in params.items() if v is not None}
        result: dict[str, Any] = self._call("GET", "/audit", params=query)
        return result

    def events(self, execution_id: str, after: int = 0) -> Iterator[tuple[str, Any]]:
        return self.stream(f"/executions/{execution_id}/events", {"after": after})


def _detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's own validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', ())[1:])}: {d.get('msg')}" for d in detail
        )
    return f"server said {response.status_code}: {detail or response.text[:300]}"


def client_for(remote: str | None) -> RemoteClient | None:
    """The client of `--remote URL`, else of the server_url setting; None when neither is set."""
    from slipstream.config import load_settings

    settings = load_settings()
    url = remote or settings.server_url
    if not url:
        return None
    return RemoteClient(url, settings.server_token or None)


def require_client(remote: str | None) -> RemoteClient:
    client = client_for(remote)
    if client is None:
        import click

        raise click.UsageError(
            "no server: pass --remote URL or set SLIPSTREAM_SERVER_URL "
            "(or server_url in [tool.slipstream])"
        )
    return client

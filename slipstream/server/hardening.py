"""Security headers on every response and a limit on every request body; installed by create_app.

Pages may run only the server's own script files: no inline script, no eval, nothing from
another origin, and no other site may frame them. A response that sets its own
Content-Security-Policy keeps it (the Dask report: a sandbox with no origin). No CORS header
is ever sent, so other origins cannot read the API from a browser. A body over its limit is
refused with 413 as soon as it is announced (Content-Length) or, while it streams, as soon as
it passes the limit: never read whole first.
"""

from __future__ import annotations

import json
from typing import Any

PAGE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)
# FastAPI's interactive API docs load Swagger UI from its CDN with one inline script; they show
# only the server's own OpenAPI document.
DOCS_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' https://cdn.jsdelivr.net",
        "img-src 'self' data: https://fastapi.tiangolo.com",
        "connect-src 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)
# The one response that may be framed, and only by the server's own pages.
SANDBOX_POLICY = "sandbox allow-scripts; frame-ancestors 'self'"
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response that lacks them."""

    def __init__(self, app: Any, docs_path: str = "/api/v1/docs") -> None:
        self.app = app
        self.docs_path = docs_path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope.get("path") == self.docs_path else PAGE_POLICY

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                own = b"content-security-policy" in names
                if not own:
                    headers.append((b"content-security-policy", policy.encode()))
                if b"x-frame-options" not in names:
                    headers.append((b"x-frame-options", b"SAMEORIGIN" if own else b"DENY"))
                headers.extend(h for h in COMMON if h[0] not in names)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyTooLarge(Exception):
    """Raised into the app when a request body passes its limit while it is read."""


class BodyLimit:
    """ASGI middleware: 413 for a request body over `limit` bytes (`upload_limit` on the
    upload paths), checked on Content-Length and again on every chunk received."""

    def __init__(
        self, app: Any, limit: int, upload_limit: int, upload_paths: tuple[str, ...]
    ) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.upload_paths = upload_paths

    def limit_of(self, path: str) -> tuple[int, str]:
        if path.startswith(self.upload_paths):
            return self.upload_limit, "max_upload_bytes"
        return self.limit, "max_request_bytes"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limit_of(scope.get("path", ""))
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit, setting)
            return
        seen = 0
        over = False
        started = False

        async def counted() -> Any:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise BodyTooLarge(f"the request body passed {limit} bytes")
            return message

        async def guarded(message: Any) -> None:
            nonlocal started
            if over and not started:  # the app answered the error we raised: say 413
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except BodyTooLarge:
            if started:
                raise
        if over and not started:
            await _too_large(send, limit, setting)


async def _too_large(send: Any, limit: int, setting: str) -> None:
    body = json.dumps(
        {"detail": f"the request body is over the limit of {limit} bytes (setting {setting})"}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


UPLOAD_PATHS = ("/bundles/",)  # under the API: code bundles
UI_UPLOAD_PATHS = ("/ui/upload",)  # the launch form's uploads


class Hardening:
    """Both middlewares around the app: headers outside (every answer has them, a 413 too)."""

    def __init__(self, app: Any, settings: Any, api: str) -> None:
        uploads = (*(api + p for p in UPLOAD_PATHS), *UI_UPLOAD_PATHS)
        limited = BodyLimit(app, settings.max_request_bytes, settings.max_upload_bytes, uploads)
        self.app = SecurityHeaders(limited, f"{api}/docs")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

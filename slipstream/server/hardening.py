"""Security headers on every response (CSP, nosniff, referrer, framing); installed by create_app.

Pages may run only the server's own script files: no inline script, no eval, nothing from
another origin, and no other site may frame them. A response that sets its own
Content-Security-Policy keeps it (the Dask report: a sandbox with no origin). No CORS header
is ever sent, so other origins cannot read the API from a browser.
"""

from __future__ import annotations

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

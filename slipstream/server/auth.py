"""Who may call the server: the bind check, Bearer tokens, the UI's cookie, CSRF; used by app.py.

- Without a token the server only listens on loopback (`check_bind`), and every caller is let in.
- With a token, every call but `GET /api/v1/health` needs `Authorization: Bearer TOKEN` or the
  session cookie; a page opened once with `?token=TOKEN` gets that cookie (HttpOnly,
  SameSite=Strict) and is redirected to the same address without the token.
- A state-changing request that a browser could send from another site (it carries the session
  cookie, or has a form or plain-text body) must carry the CSRF token: the `X-CSRF-Token`
  header, or a `csrf_token` form field (url-encoded forms), equal to the `slipstream_csrf`
  cookie. Pages embed it with `csrf_token(request)`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode

from slipstream.errors import ConfigError

SESSION_COOKIE = "slipstream_session"
CSRF_COOKIE = "slipstream_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
USER_HEADER = "x-slipstream-user"
OPEN_PATHS = frozenset({"/api/v1/health"})
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SIMPLE_BODIES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
MAX_FORM_BYTES = 1 << 20

Scope = dict[str, Any]


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    if not token and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host!r} without a token: anyone who can reach it could "
            "run code; pass --token TOKEN or set SLIPSTREAM_SERVER_TOKEN (or bind 127.0.0.1)"
        )


@dataclass(frozen=True)
class AuthConfig:
    token: str | None = None
    token_name: str = "token"  # recorded as launched_by for calls made with the token
    secure_cookies: bool = False  # Secure flag (set when served over HTTPS)

    def session_value(self) -> str:
        assert self.token
        return hmac.new(self.token.encode(), b"slipstream-session", hashlib.sha256).hexdigest()


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:
        return {}
    return {k: m.value for k, m in jar.items()}


def _cookie(name: str, value: str, secure: bool, http_only: bool) -> str:
    parts = [f"{name}={value}", "Path=/", "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def csrf_token(request: Any) -> str:
    """The CSRF token a page must send back (X-CSRF-Token header or csrf_token field)."""
    return str(request.scope.get("state", {}).get("csrf_token", ""))


def launched_by(request: Any) -> str:
    """Who makes this request: the token's name, or the user the CLI says it runs as."""
    return str(request.scope.get("state", {}).get("user", "anonymous"))


async def _send_json(send: Any, status: int, detail: str, extra: list[Any] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AuthMiddleware:
    """ASGI middleware applying the rules of this module to every HTTP request."""

    def __init__(self, app: Any, config: AuthConfig) -> None:
        self.app = app
        self.config = config

    def _authenticated(self, headers: dict[str, str], cookies: dict[str, str]) -> bool | str:
        """False, or how: "bearer" / "cookie" / "open" (no token configured)."""
        token = self.config.token
        if not token:
            return "open"
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip(), token):
            return "bearer"
        session = cookies.get(SESSION_COOKIE, "")
        if session and hmac.compare_digest(session, self.config.session_value()):
            return "cookie"
        return False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        cookies = _cookies(headers)
        path = scope.get("path", "")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        state = scope.setdefault("state", {})
        csrf = cookies.get(CSRF_COOKIE, "")
        new_csrf = not csrf
        if new_csrf:
            csrf = secrets.token_urlsafe(24)
        state["csrf_token"] = csrf

        how = self._authenticated(headers, cookies)
        if "token" in query and not path.startswith("/api/"):
            await self._token_login(scope, send, query, csrf)
            return
        if not how and path not in OPEN_PATHS:
            await _send_json(
                send,
                401,
                "authentication required: send Authorization: Bearer TOKEN "
                "(or open the UI once with ?token=TOKEN)",
                [(b"www-authenticate", b'Bearer realm="slipstream"')],
            )
            return
        state["user"] = (
            self.config.token_name
            if how in ("bearer", "cookie")
            else (headers.get(USER_HEADER, "").strip()[:100] or "anonymous")
        )
        method = scope.get("method", "GET")
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        needs_csrf = (
            method in _UNSAFE
            and how != "bearer"
            and (how == "cookie" or SESSION_COOKIE in cookies or content_type in _SIMPLE_BODIES)
        )
        if needs_csrf:
            receive = await self._check_csrf(headers, content_type, csrf, new_csrf, receive, send)
            if receive is None:
                return
        if new_csrf:
            send = self._with_cookie(
                send, _cookie(CSRF_COOKIE, csrf, self.config.secure_cookies, False)
            )
        await self.app(scope, receive, send)

    async def _check_csrf(
        self,
        headers: dict[str, str],
        content_type: str,
        csrf: str,
        new_csrf: bool,
        receive: Any,
        send: Any,
    ) -> Any:
        """The receive to go on with, or None after answering 403."""
        given = headers.get(CSRF_HEADER, "")
        replay = receive
        if not given and content_type == "application/x-www-form-urlencoded":
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > MAX_FORM_BYTES:
                    await _send_json(send, 413, "form too large")
                    return None
            given = parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [""])[0]
            sent = False

            async def replay() -> Any:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

        if new_csrf or not given or not hmac.compare_digest(given, csrf):
            await _send_json(
                send,
                403,
                "CSRF check failed: send the page's csrf_token (X-CSRF-Token header or "
                "csrf_token form field)",
            )
            return None
        return replay

    async def _token_login(
        self, scope: Scope, send: Any, query: dict[str, list[str]], csrf: str
    ) -> None:
        token = self.config.token
        given = query.pop("token", [""])[0]
        if not token or not hmac.compare_digest(given, token):
            await _send_json(send, 401, "the token in ?token= is not valid")
            return
        rest = urlencode({k: v[0] for k, v in query.items()})
        location = scope.get("path", "/") + (f"?{rest}" if rest else "")
        secure = self.config.secure_cookies
        headers = [
            (b"location", location.encode("latin-1")),
            (
                b"set-cookie",
                _cookie(SESSION_COOKIE, self.config.session_value(), secure, True).encode(),
            ),
            (b"set-cookie", _cookie(CSRF_COOKIE, csrf, secure, False).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def _with_cookie(send: Any, cookie: str) -> Any:
        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        return wrapped

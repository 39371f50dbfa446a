"""Who may call the server and what they may do: bind check, scoped tokens, cookie, CSRF; for app.

- Without tokens the server only listens on loopback (`check_bind`), and every caller is let in
  with every right, named by what the CLI says it runs as (`X-Slipstream-User`).
- With tokens (server/tokens.py), every call but `GET /api/v1/health` needs
  `Authorization: Bearer TOKEN` or the session cookie; a page opened once with `?token=TOKEN`
  gets that cookie (HttpOnly, SameSite=Strict) and is redirected to the same address without
  the token. The caller is then the token's name, with the token's scope: `read` may only read,
  `launch` may also change things (routes ask for it, and any POST/PUT/PATCH/DELETE needs it
  here whatever the route), `admin` may do everything. A call beyond the scope is a 403 naming
  the scope it needs (`ScopeError`).
- A state-changing request that a browser could send from another site (it carries the session
  cookie, or has a form or plain-text body) must carry the CSRF token: the `X-CSRF-Token`
  header, or a `csrf_token` form field (url-encoded forms), equal to the `slipstream_csrf`
  cookie. Pages embed it with `csrf_token(request)`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode

from slipstream.errors import ConfigError
from slipstream.server.tokens import TokenSet, allows, session_value

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


def check_bind(host: str, tokens: TokenSet | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    if not tokens and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host!r} without a token: anyone who can reach it could "
            "run code; make one with `slipstream token create NAME --scope admin` (it goes to "
            "the tokens file, --tokens-file / SLIPSTREAM_SERVER_TOKENS_FILE), or set "
            "SLIPSTREAM_SERVER_TOKEN (or bind 127.0.0.1)"
        )


@dataclass(frozen=True)
class AuthConfig:
    tokens: TokenSet | None = None  # none (or an empty set) at start: no token needed
    secure_cookies: bool = False  # Secure flag (set when served over HTTPS)


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a token's name and scope, or the CLI's word on a token-less server."""

    name: str
    scope: str
    token: bool = False  # named by a token (else by the client's own word)


class ScopeError(Exception):
    """A call beyond the caller's scope (403); names the scope it needs."""

    def __init__(self, principal: Principal, needed: str, what: str = "this call") -> None:
        super().__init__(
            f"{what} needs a token of scope {needed!r} (or above); token {principal.name!r} "
            f"has scope {principal.scope!r}"
        )
        self.needed = needed
        self.scope = principal.scope


def principal(request: Any) -> Principal:
    found = request.scope.get("state", {}).get("principal")
    return found if isinstance(found, Principal) else Principal("anonymous", "read")


def require(request: Any, needed: str, what: str = "this call") -> Principal:
    """The caller, if its scope allows `needed`; else ScopeError."""
    who = principal(request)
    if not allows(who.scope, needed):
        raise ScopeError(who, needed, what)
    return who


def may_abort(who: Principal, owner: str | None) -> bool:
    """`launch` may abort what it launched itself; `admin` anything."""
    if allows(who.scope, "admin"):
        return True
    return allows(who.scope, "launch") and owner is not None and owner == who.name


def require_abort(request: Any, owner: str | None) -> Principal:
    who = principal(request)
    if not may_abort(who, owner):
        raise ScopeError(who, "admin", "aborting an execution launched by someone else")
    return who


def permissions(request: Any, owner: str | None = None) -> dict[str, bool]:
    """What the UI may offer this caller: launch, abort (of `owner`'s execution), admin."""
    who = principal(request)
    return {
        "launch": allows(who.scope, "launch"),
        "abort": may_abort(who, owner),
        "admin": allows(who.scope, "admin"),
    }


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
    return principal(request).name


async def _send_json(
    send: Any, status: int, detail: str, extra: list[Any] | None = None, **fields: Any
) -> None:
    body = json.dumps({"detail": detail, **fields}).encode()
    headers = [(b"content-type", b"application/json"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AuthMiddleware:
    """ASGI middleware applying the rules of this module to every HTTP request."""

    def __init__(self, app: Any, config: AuthConfig) -> None:
        self.app = app
        self.config = config
        # Decided once at start: a server started with tokens never opens up, even when its
        # tokens file later holds none.
        self.tokens = config.tokens if config.tokens else None

    def _authenticated(
        self, headers: dict[str, str], cookies: dict[str, str]
    ) -> tuple[str, Principal | None]:
        """How ("bearer" / "cookie" / "open" / "" for refused) and who."""
        if self.tokens is None:
            name = headers.get(USER_HEADER, "").strip()[:100] or "anonymous"
            return "open", Principal(name, "admin")
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            found = self.tokens.by_token(auth[7:].strip())
            if found is not None:
                return "bearer", Principal(found.name, found.scope, token=True)
        session = cookies.get(SESSION_COOKIE, "")
        if session:
            found = self.tokens.by_session(session)
            if found is not None:
                return "cookie", Principal(found.name, found.scope, token=True)
        return "", None

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

        how, who = self._authenticated(headers, cookies)
        if "token" in query and not path.startswith("/api/"):
            await self._token_login(scope, send, query, csrf)
            return
        if who is None:
            if path in OPEN_PATHS:
                await self.app(scope, receive, send)
                return
            await _send_json(
                send,
                401,
                "authentication required: send Authorization: Bearer TOKEN "
                "(or open the UI once with ?token=TOKEN)",
                [(b"www-authenticate", b'Bearer realm="slipstream"')],
            )
            return
        state["principal"] = who
        method = scope.get("method", "GET")
        if method in _UNSAFE and not allows(who.scope, "launch"):
            refused = ScopeError(who, "launch", f"{method} {path}")
            await _send_json(send, 403, str(refused), needed_scope="launch", scope=who.scope)
            return
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
        given = query.pop("token", [""])[0]
        if self.tokens is None or self.tokens.by_token(given) is None:
            await _send_json(send, 401, "the token in ?token= is not valid")
            return
        rest = urlencode({k: v[0] for k, v in query.items()})
        location = scope.get("path", "/") + (f"?{rest}" if rest else "")
        secure = self.config.secure_cookies
        headers = [
            (b"location", location.encode("latin-1")),
            (
                b"set-cookie",
                _cookie(SESSION_COOKIE, session_value(given), secure, True).encode(),
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

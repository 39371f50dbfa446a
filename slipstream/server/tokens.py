"""Named, scoped server tokens: the tokens file, hashing, lookup; for auth.py, serve and `token`.

A token is a high-entropy random string (`slp_` + 256 random bits) shown once when it is made.
The tokens file keeps, per name, its scope and two SHA-256 digests: of the token (Bearer) and
of the UI session value derived from it (the cookie). Neither lets anyone rebuild a token or a
cookie. Lookup hashes what was presented and compares it with every entry by
`hmac.compare_digest`, without stopping at the first match.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from slipstream.config import Settings
from slipstream.errors import ConfigError

ENV_TOKEN_NAME = "server_token"  # the name of the admin token given by the server_token setting
SCOPES = ("read", "launch", "admin")  # each allows everything the ones before it allow
PREFIX = "slp_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def session_value(token: str) -> str:
    """The UI cookie for a token: derived from it, not the token itself."""
    return hmac.new(token.encode(), b"slipstream-session", hashlib.sha256).hexdigest()


def allows(scope: str, needed: str) -> bool:
    return SCOPES.index(scope) >= SCOPES.index(needed)


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ConfigError(f"token scope {scope!r} is not one of {', '.join(SCOPES)}")
    return scope


def check_token_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"token name {name!r} is not valid: expected 1-64 letters, digits or _ . @ - "
            "(starting with a letter or digit)"
        )
    return name


@dataclass(frozen=True)
class Token:
    """One named token as the file keeps it (digests only)."""

    name: str
    scope: str
    sha256: str  # of the token
    session_sha256: str  # of session_value(token)
    created_at: float = 0.0

    @classmethod
    def from_secret(cls, name: str, scope: str, token: str) -> Token:
        return cls(
            name=check_token_name(name),
            scope=check_scope(scope),
            sha256=digest(token),
            session_sha256=digest(session_value(token)),
            created_at=time.time(),
        )


def _match(tokens: tuple[Token, ...], presented: str, field: str) -> Token | None:
    wanted = digest(presented).encode()
    found = None
    for token in tokens:  # every entry is compared: the time does not tell which matched
        if hmac.compare_digest(wanted, getattr(token, field).encode()):
            found = token
    return found


class TokenSet:
    """The tokens a server accepts: from a tokens file (re-read when it changes) and extras."""

    def __init__(self, path: Path | None = None, extra: Iterable[Token] = ()) -> None:
        self.path = path
        self.extra = tuple(extra)
        self._stamp: tuple[int, int, int] | None = None
        self._from_file: tuple[Token, ...] = ()
        self._refresh()

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._from_file = None, ()
            return
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._from_file = tuple(read_tokens(self.path))
            self._stamp = stamp

    def tokens(self) -> tuple[Token, ...]:
        self._refresh()
        return self._from_file + self.extra

    def __bool__(self) -> bool:
        return bool(self.tokens())

    def by_token(self, presented: str) -> Token | None:
        return _match(self.tokens(), presented, "sha256")

    def by_session(self, presented: str) -> Token | None:
        return _match(self.tokens(), presented, "session_sha256")


def read_tokens(path: Path) -> list[Token]:
    """The file's tokens; a ConfigError naming the file and the entry when it is not valid."""
    try:
        data = json.loads(path.read_text())
        entries = data["tokens"]
        tokens = []
        for entry in entries:
            token = Token(**entry)
            check_token_name(token.name)
            check_scope(token.scope)
            if not (_HEX.match(token.sha256) and _HEX.match(token.session_sha256)):
                raise ValueError(f"entry {token.name!r} has no valid sha256 digests")
            tokens.append(token)
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
        raise ConfigError(
            f"tokens file {path} is not valid: {exc} (expected JSON "
            '{"tokens": [{"name", "scope", "sha256", "session_sha256"}, ...]}, as written by '
            "`slipstream token create`)"
        ) from None
    names = [t.name for t in tokens]
    if len(set(names)) != len(names):
        raise ConfigError(f"tokens file {path} names a token twice")
    return tokens


def write_tokens(path: Path, tokens: list[Token]) -> None:
    """Replace the file atomically; readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"tokens": [asdict(t) for t in tokens]}, out, indent=2)
        out.write("\n")
    os.replace(temporary, path)


def create_token(path: Path, name: str, scope: str) -> str:
    """A new token under `name` (which must be free), its digests added to the file; the token."""
    tokens = read_tokens(path) if path.exists() else []
    if any(t.name == check_token_name(name) for t in tokens):
        raise ConfigError(f"a token named {name!r} exists already in {path}; revoke it first")
    secret = PREFIX + secrets.token_urlsafe(32)
    write_tokens(path, [*tokens, Token.from_secret(name, scope, secret)])
    return secret


def revoke_token(path: Path, name: str) -> None:
    tokens = read_tokens(path) if path.exists() else []
    kept = [t for t in tokens if t.name != name]
    if len(kept) == len(tokens):
        raise ConfigError(f"no token named {name!r} in {path}")
    write_tokens(path, kept)


def tokens_path(settings: Settings, given: str | None = None) -> Path:
    """--tokens-file, else the server_tokens_file setting, else $home/server/tokens.json."""
    chosen = given or settings.server_tokens_file
    return (
        Path(os.path.expanduser(chosen))
        if chosen
        else settings.home_path / "server" / "tokens.json"
    )


def server_tokens(settings: Settings, given: str | None = None) -> TokenSet:
    """What `serve` accepts: the tokens file, and the server_token setting as an admin token."""
    extra = []
    if settings.server_token:
        extra.append(Token.from_secret(ENV_TOKEN_NAME, "admin", settings.server_token))
    return TokenSet(tokens_path(settings, given), extra)

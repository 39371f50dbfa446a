"""Where File, Directory and DataFrame inputs given over the API may point; used by inputs.py.

Into the server's blob store (what tasks read), or under one of the prefixes of the setting
allowed_input_prefixes (object stores such as s3://bucket/data/; never the server's own
disk). A value under an allowed prefix is copied into the blob store when the execution is
launched (at most max_upload_bytes), so tasks read it like any other input and a relaunch
sees the same data. Anything else is refused, naming the input and what is allowed.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from typing import Any

from slipstream.storage.blobs_copy import CopyError, copy_into


class ReferenceRefused(ValueError):
    """A URI input points where the API does not let inputs point."""


def _bad_part(uri: str) -> bool:
    for form in {uri, urllib.parse.unquote(uri)}:
        parts = form.partition("://")[2].split("/")[1:]
        if any(p in (".", "..") or "\\" in p or not p.isprintable() for p in parts):
            return True
    return False


class References:
    """The blob store, the allowed prefixes and the copy limit of one server."""

    def __init__(self, blobs: Any, allowed: Iterable[str] = (), limit: int = 256 << 20) -> None:
        self.blobs = blobs
        self.allowed = tuple(prefix.rstrip("/") for prefix in allowed)
        self.limit = limit

    def _allowed(self, uri: str) -> bool:
        return any(uri.startswith(prefix + "/") for prefix in self.allowed)

    def stored(self, uri: str, kind: str, where: str) -> tuple[str, str]:
        """(uri in the blob store, its sha256 when it was copied here, else ""); or
        ReferenceRefused."""
        if _bad_part(uri):
            raise ReferenceRefused(
                f"{where}: {kind} URI {uri!r} has a '.', '..', backslash or control character"
            )
        root = str(self.blobs.root)
        if uri.startswith(root + "/"):
            try:
                self.blobs.key(uri)
            except ValueError as exc:
                raise ReferenceRefused(f"{where}: {exc}") from None
            return uri, ""
        if self._allowed(uri):
            return self._copy(uri, kind, where)
        allowed = ", ".join(f"{p}/..." for p in self.allowed) or "none"
        raise ReferenceRefused(
            f"{where}: {kind} URI {uri!r} is neither in the server's blob store ({root}/...) "
            f"nor under an allowed prefix ({allowed}; the setting allowed_input_prefixes); "
            "upload it, or give a URI there"
        )

    def _copy(self, uri: str, kind: str, where: str) -> tuple[str, str]:
        try:
            stored, sha = copy_into(
                self.blobs, uri, kind == "directory", self.limit, "max_upload_bytes"
            )
        except CopyError as exc:
            raise ReferenceRefused(f"{where}: {exc}") from None
        return str(stored), str(sha)

"""Copying a value from another store (any fsspec URL) into a blob store; used by the server
for inputs under its allowed prefixes, so tasks read them from the blob store like any input."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slipstream.storage.blobs import BlobStore


class CopyError(ValueError):
    """The value cannot be read there, or is bigger than allowed; says which and why."""


def copy_into(
    blobs: BlobStore, url: str, directory: bool, limit: int, limit_name: str = "the limit"
) -> tuple[str, str]:
    """Store the file (or the tree, when `directory`) at url in blobs: (its uri, its sha256).
    Nothing is copied when it holds more than `limit` bytes (`limit_name` names it)."""
    try:
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(url)
        size = int(fs.du(path) if directory else fs.size(path))
    except ImportError as exc:
        raise CopyError(f"{url!r} cannot be read here ({exc})") from None
    except (OSError, ValueError) as exc:
        raise CopyError(f"nothing can be read at {url!r} ({exc})") from None
    if size > limit:
        raise CopyError(f"{url!r} holds {size} bytes, more than {limit_name} ({limit})")
    folder = tempfile.mkdtemp(prefix="slipstream-input-")
    try:
        local = os.path.join(folder, "value")
        if directory:
            fs.get(path.rstrip("/") + "/", local, recursive=True)
            return blobs.put_directory(local)
        fs.get_file(path, local)
        return blobs.put_file(local)
    except OSError as exc:
        raise CopyError(f"{url!r} could not be copied ({exc})") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""The runtime image's name: `ghcr.io/slipstream-io/slipstream:<slipstream's version>`.

One function names it (`default_image`); config makes it the `image` setting's default, and
`slipstream image` and `slipstream k8s manifests --server` use it. The Dockerfile that builds
it is `runtime_dockerfile()` in sdk/dockerfile.py (the repository's `Dockerfile`).
"""

from __future__ import annotations

import functools
import re

REPOSITORY = "ghcr.io/slipstream-io/slipstream"  # the project's registry (labels: slipstream.io)
_NOT_IN_A_TAG = re.compile(r"[^A-Za-z0-9_.-]")


@functools.cache
def slipstream_version() -> str:
    """The installed slipstream's version ("" when it is not installed, e.g. a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("slipstream")
    except PackageNotFoundError:
        return ""


def default_image(version: str | None = None) -> str:
    """`REPOSITORY:<version>`, the version made a valid tag (`0.2.0+g1a2b` -> `0.2.0-g1a2b`)."""
    wanted = slipstream_version() if version is None else version
    tag = _NOT_IN_A_TAG.sub("-", wanted).lstrip(".-")[:128] or "latest"
    return f"{REPOSITORY}:{tag}"

"""A real kr8s asyncio client for a KubeHarness, closed and forgotten by kr8s when done."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import threading
from collections.abc import AsyncIterator
from typing import Any


@contextlib.asynccontextmanager
async def kr8s_client(kubeconfig: pathlib.Path | str) -> AsyncIterator[Any]:
    """`kr8s.asyncio.api(kubeconfig=...)` in the running loop; closes its HTTP session after.

    kr8s caches clients per thread id and loop id, and both ids are reused once a loop is
    gone: without forgetting it, a later test could get this client bound to a dead loop.
    """
    import kr8s.asyncio
    from kr8s._api import Api

    api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
    try:
        yield api
    finally:
        session = api._session
        if session is not None:
            await session.aclose()
        key = f"{threading.get_ident()}.{id(asyncio.get_running_loop())}"
        Api._instances.pop(key, None)

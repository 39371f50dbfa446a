"""Uploads from the launch form into the blob store; routes added by the UI's router.

A body is streamed to a private temporary file (the server's body limit, max_upload_bytes,
stops it with 413 as it passes the limit), then stored content-addressed; the answer is the
URI the launch then names.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool


@contextlib.contextmanager
def _scratch() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="slipstream-upload-")
    try:
        yield folder
    finally:
        for root, dirs, files in os.walk(folder, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                os.rmdir(os.path.join(root, name))
        os.rmdir(folder)


async def _save(chunks: AsyncIterator[bytes], path: str) -> int:
    size = 0
    with open(path, "wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            out.write(chunk)
    return size


def add_upload_routes(router: APIRouter, services: Any) -> None:
    blobs = services.runtime.blobs

    @router.post("/ui/upload", include_in_schema=False)
    async def upload(request: Request) -> JSONResponse:
        """A file for a File input, sent as the raw body; stored once by its content hash."""
        with _scratch() as folder:
            path = os.path.join(folder, "upload")
            if not await _save(request.stream(), path):
                return JSONResponse({"detail": "the upload was empty"}, 422)
            uri, _digest = await run_in_threadpool(blobs.put_file, path)
        return JSONResponse({"uri": uri}, 201)

"""Uploads from the launch form into the blob store; routes added by the UI's router.

A body is streamed to a private temporary file (the server's body limit, max_upload_bytes,
stops it with 413 as it passes the limit), then stored content-addressed; the answer is the
URI (and name) the launch then gives. A Directory comes as one archive (tar, tar.gz or zip;
the form packs chosen files or a folder into a tar): it is unpacked into a temporary folder
member by member, each name checked (no absolute path, '..', backslash or control character),
only plain files and folders, at most max_upload_bytes unpacked, then stored as a tree.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import AsyncIterator
from typing import IO, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from slipstream.server.identifiers import check_identifier, check_member

MAX_MEMBERS = 100_000
CHUNK = 1 << 20


class ArchiveError(ValueError):
    """An uploaded archive that cannot be unpacked safely (422, naming the member)."""


async def _save(chunks: AsyncIterator[bytes], path: str) -> int:
    size = 0
    with open(path, "wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            out.write(chunk)
    return size


class _Unpacker:
    """Writes an archive's members under `root`, within the limits."""

    def __init__(self, root: str, limit: int) -> None:
        self.root = root
        self.limit = limit
        self.size = 0
        self.count = 0

    def target(self, name: str, is_dir: bool) -> str | None:
        """The local path for a member (None for the archive's own "." entry)."""
        while name.startswith("./"):
            name = name[2:]
        name = name.rstrip("/") if is_dir else name
        if name in ("", "."):
            return None
        try:
            check_member(name)
        except ValueError as exc:
            raise ArchiveError(f"the archive's member {name!r} is refused: {exc}") from None
        self.count += 1
        if self.count > MAX_MEMBERS:
            raise ArchiveError(f"the archive holds more than {MAX_MEMBERS} members")
        return os.path.join(self.root, *name.split("/"))

    def folder(self, path: str, name: str) -> None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:  # a file of that name came first
            raise ArchiveError(
                f"the archive's member {name!r} is both a file and a folder"
            ) from None

    def write(self, source: IO[bytes], path: str, name: str) -> None:
        self.folder(os.path.dirname(path), name)
        if os.path.isdir(path):
            raise ArchiveError(f"the archive's member {name!r} is both a folder and a file")
        with open(path, "wb") as out:
            while chunk := source.read(CHUNK):
                self.size += len(chunk)
                if self.size > self.limit:
                    raise ArchiveError(
                        f"the archive unpacks to more than {self.limit} bytes "
                        "(setting max_upload_bytes)"
                    )
                out.write(chunk)

    def tar(self, archive: str) -> None:
        with tarfile.open(archive, mode="r:*") as packed:
            for member in packed:
                path = self.target(member.name, member.isdir())
                if path is None:
                    continue
                if member.isdir():
                    self.folder(path, member.name)
                elif member.isreg():
                    source = packed.extractfile(member)
                    assert source is not None
                    self.write(source, path, member.name)
                else:
                    raise ArchiveError(
                        f"the archive's member {member.name!r} is a link or a device; "
                        "only files and folders are taken"
                    )

    def zip(self, archive: str) -> None:
        with zipfile.ZipFile(archive) as packed:
            for info in packed.infolist():
                path = self.target(info.filename, info.is_dir())
                if path is None:
                    continue
                kind = stat.S_IFMT(info.external_attr >> 16)
                if info.is_dir():
                    self.folder(path, info.filename)
                elif kind in (0, stat.S_IFREG):
                    with packed.open(info) as source:
                        self.write(source, path, info.filename)
                else:
                    raise ArchiveError(
                        f"the archive's member {info.filename!r} is a link or a device; "
                        "only files and folders are taken"
                    )


def unpack(archive: str, root: str, limit: int) -> int:
    """Unpack a tar (any compression) or zip archive into root; the number of files."""
    unpacker = _Unpacker(root, limit)
    try:
        if zipfile.is_zipfile(archive):
            unpacker.zip(archive)
        else:
            unpacker.tar(archive)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise ArchiveError(f"the upload is not a tar or zip archive ({exc})") from None
    return sum(len(files) for _, _, files in os.walk(root))


class _Scratch:
    def __enter__(self) -> str:
        self.folder = tempfile.mkdtemp(prefix="slipstream-upload-")
        return self.folder

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _name(request: Request, default: str) -> str:
    return check_identifier("file name", request.query_params.get("name") or default)


def add_upload_routes(router: APIRouter, services: Any) -> None:
    blobs = services.runtime.blobs
    limit = int(services.settings.max_upload_bytes)

    @router.post("/ui/upload", include_in_schema=False)
    async def upload(request: Request) -> JSONResponse:
        """A file for a File input, sent as the raw body (?name= its file name)."""
        name = _name(request, "upload")
        with _Scratch() as folder:
            path = os.path.join(folder, "upload")
            if not await _save(request.stream(), path):
                return JSONResponse({"detail": "the upload was empty"}, 422)
            uri, _digest = await run_in_threadpool(blobs.put_file, path)
        return JSONResponse({"uri": uri, "name": name}, 201)

    @router.post("/ui/upload/directory", include_in_schema=False)
    async def upload_directory(request: Request) -> JSONResponse:
        """A folder for a Directory input, sent as one tar, tar.gz or zip archive."""
        name = _name(request, "directory")
        with _Scratch() as folder:
            archive = os.path.join(folder, "archive")
            if not await _save(request.stream(), archive):
                return JSONResponse({"detail": "the upload was empty"}, 422)
            tree = os.path.join(folder, "tree")
            os.mkdir(tree)
            try:
                files = await run_in_threadpool(unpack, archive, tree, limit)
            except ArchiveError as exc:
                return JSONResponse({"detail": str(exc)}, 422)
            if not files:
                return JSONResponse({"detail": "the archive holds no file"}, 422)
            uri, _digest = await run_in_threadpool(blobs.put_directory, tree)
        return JSONResponse({"uri": uri, "name": name, "files": files}, 201)

"""Directory uploads are unpacked safely: a member that would leave the folder (.., an absolute
path, a backslash), a link, a device or an archive that unpacks past max_upload_bytes is refused
(422 naming it) and nothing is written; a good tar, tar.gz or zip becomes one stored tree."""

from __future__ import annotations

import glob
import io
import os
import stat
import tarfile
import tempfile
import zipfile
from typing import Any
from urllib.parse import urlsplit

import pytest

LIMIT = 256 * 1024


def tar_of(*members: tuple[str, bytes | str | None], mode: str = "w") -> bytes:
    """A tar of (name, content) files; content "->x" a symlink to x, "=>x" a hard link, None a
    folder, "|" a FIFO."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as packed:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                packed.addfile(info)
            elif isinstance(content, str) and content.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, content[2:]
                packed.addfile(info)
            elif isinstance(content, str) and content.startswith("=>"):
                info.type, info.linkname = tarfile.LNKTYPE, content[2:]
                packed.addfile(info)
            elif content == "|":
                info.type = tarfile.FIFOTYPE
                packed.addfile(info)
            else:
                data = content.encode() if isinstance(content, str) else content
                info.size = len(data)
                packed.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zip_of(*members: tuple[str, bytes], link: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as packed:
        for name, data in members:
            packed.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            packed.writestr(info, "/etc/passwd")
    return out.getvalue()


@pytest.fixture
def live(start_server: Any) -> Any:
    return start_server(max_upload_bytes=LIMIT)


def post(live: Any, body: bytes, name: str = "upload") -> Any:
    return live.client.post(
        "/ui/upload/directory",
        params={"name": name},
        content=body,
        headers={"content-type": "application/octet-stream"},
    )


def test_unsafe_archives_are_refused_and_write_nothing(live: Any, tmp_path: Any) -> None:
    data_dir = urlsplit(live.services.runtime.blobs.root).path + "/data"
    stored = set(os.listdir(data_dir)) if os.path.isdir(data_dir) else set()
    scratch = set(glob.glob(os.path.join(tempfile.gettempdir(), "slipstream-upload-*")))
    escape = str(tmp_path / "escaped.txt")
    bad = {
        "../escaped.txt": tar_of(("ok.txt", "1"), ("../escaped.txt", "x")),
        escape: tar_of((escape, "x")),
        "a/../../escaped.txt": tar_of(("a/../../escaped.txt", "x")),
        "a\\..\\b": tar_of(("a\\..\\b", "x")),
        "link": tar_of(("link", "->/etc/passwd")),
        "hard": tar_of(("hard", "=>/etc/passwd")),
        "pipe": tar_of(("pipe", "|")),
        "a/b": tar_of(("a", "file"), ("a/b", "under a file")),
        "gz/../../x": tar_of(("gz/../../x", "x"), mode="w:gz"),
        "../zip.txt": zip_of(("../zip.txt", b"x")),
        "/abs.txt": zip_of(("/abs.txt", b"x")),
        "zlink": zip_of(("fine.txt", b"x"), link="zlink"),
        f"more than {LIMIT} bytes": zip_of(("zeros.bin", b"\0" * (LIMIT * 8))),  # 2 MB -> 2 KB
        "not a tar or zip": b"just some bytes that are not an archive" * 20,
    }
    for words, body in bad.items():
        response = post(live, body)
        assert response.status_code == 422, (words, response.text)
        detail = response.json()["detail"]
        assert words in detail or repr(words) in detail, (words, detail)
    for name in ("../x", "a/b", "nul\x00", ".."):
        assert post(live, tar_of(("ok.txt", "1")), name=name).status_code in (400, 422), name
    assert not os.path.exists(escape)
    assert (set(os.listdir(data_dir)) if os.path.isdir(data_dir) else set()) == stored
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "slipstream-upload-*"))) == scratch


def test_good_archives_become_one_stored_tree(live: Any, tmp_path: Any) -> None:
    blobs = live.services.runtime.blobs
    tree = [("./", None), ("./sub/", None), ("./sub/b.txt", "b"), ("./a.txt", "a")]
    results = [
        post(live, tar_of(*tree), name="plain").json(),
        post(live, tar_of(*tree, mode="w:gz"), name="packed").json(),
        post(live, zip_of(("sub/b.txt", b"b"), ("a.txt", b"a")), name="zipped").json(),
    ]
    assert {r["uri"] for r in results} == {results[0]["uri"]}  # the same tree, stored once
    assert [r["name"] for r in results] == ["plain", "packed", "zipped"]
    assert results[0]["files"] == 2
    out = tmp_path / "out"
    blobs.get_directory(results[0]["uri"], str(out))
    assert (out / "a.txt").read_text() == "a" and (out / "sub" / "b.txt").read_text() == "b"

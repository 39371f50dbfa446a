"""File and Directory inputs uploaded from the launch form in a real Chromium: a file, several
files, a folder and a zip archive go into the blob store and the task reads them."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(150)


def launch_and_read(page: Any, server: Any) -> str:
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))
    outputs = page.locator("pre.outputs")
    outputs.wait_for(timeout=60000)
    return str(outputs.inner_text())


def uploaded(page: Any, field: str, server: Any) -> None:
    box = page.locator(f'.field[data-input="{field}"] .reference')
    page.wait_for_function("(box) => box.dataset.uploaded !== undefined", arg=box.element_handle())
    value = box.locator('input[type="text"]').input_value()
    assert value.startswith(server.services.runtime.blobs.root + "/data/"), value


def test_a_file_input_is_uploaded_under_its_name(page: Any, ui_server: Any) -> None:
    page.goto(f"{ui_server.url}/workflows/ui_flows.read_file/launch")
    page.locator('.field[data-input="f"] input.upload-file').set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello from the form"}
    )
    uploaded(page, "f", ui_server)
    assert "notes.txt: hello from the form" in launch_and_read(page, ui_server)


def test_a_directory_input_from_files_a_folder_or_an_archive(
    page: Any, ui_server: Any, tmp_path: Path
) -> None:
    url = f"{ui_server.url}/workflows/ui_flows.list_folder/launch"
    # several files
    page.goto(url)
    page.locator('.field[data-input="d"] input.upload-files').set_input_files(
        [
            {"name": "a.txt", "mimeType": "text/plain", "buffer": b"1"},
            {"name": "b c.txt", "mimeType": "text/plain", "buffer": b"2"},
        ]
    )
    uploaded(page, "d", ui_server)
    assert '"a.txt=1",\n    "b c.txt=2"' in launch_and_read(page, ui_server)

    # a folder, with a sub-folder and a name longer than a tar header's 100 bytes
    folder = tmp_path / "picked"
    deep = folder / "sub" / ("long-" * 22)
    deep.mkdir(parents=True)
    (folder / "top.txt").write_text("t")
    (deep / "leaf.txt").write_text("l")
    page.goto(url)
    page.locator('.field[data-input="d"] input.upload-folder').set_input_files(folder)
    uploaded(page, "d", ui_server)
    shown = launch_and_read(page, ui_server)
    assert f'"sub/{"long-" * 22}/leaf.txt=l"' in shown and '"top.txt=t"' in shown

    # one zip archive, unpacked by the server
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("inside/z.txt", "zipped")
    page.goto(url)
    page.locator('.field[data-input="d"] input.upload-files').set_input_files(
        {"name": "data.zip", "mimeType": "application/zip", "buffer": packed.getvalue()}
    )
    uploaded(page, "d", ui_server)
    assert '"inside/z.txt=zipped"' in launch_and_read(page, ui_server)


def test_an_unsafe_archive_is_refused_beside_its_field(page: Any, ui_server: Any) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("../escape.txt", "no")
    before = ui_server.count_executions()
    page.goto(f"{ui_server.url}/workflows/ui_flows.list_folder/launch")
    page.locator('.field[data-input="d"] input.upload-files').set_input_files(
        {"name": "bad.zip", "mimeType": "application/zip", "buffer": packed.getvalue()}
    )
    error = page.locator('.field[data-input="d"] .field-error').first
    page.wait_for_function(
        "(e) => e.textContent.includes('../escape.txt')", arg=error.element_handle()
    )
    assert ui_server.count_executions() == before

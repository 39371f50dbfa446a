"""Ships the user's code bundle to a DaskJob's scheduler and workers; called by local.py.

Functions sent to Dask are pickled by reference to their module, and the scheduler unpickles
task graphs too; the operator's scheduler and workers run the task's image, not its code, so
they import it from this upload. The archive holds the bundle under a folder no importer
lists, and one small loader module at its top: Dask's UploadFile imports (and reloads) every
top-level module of an archive, so only the loader runs then; it puts the bundle on
`sys.path`, and the user's modules are imported once, when a task first needs them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from typing import Any

log = logging.getLogger("slipstream.dask")

PLUGIN_NAME = "slipstream-bundle"
TREE = "_slipstream_bundle/tree"  # three levels deep: pkgutil lists no package from it
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # bundles are unpacked with mtime 0, which zip cannot store
_LOADER = '''"""Puts the slipstream code bundle of this archive on sys.path (Dask UploadFile)."""
import os
import sys

_tree = os.path.join(os.path.dirname(__file__), *{parts!r})
if _tree not in sys.path:
    sys.path.insert(0, _tree)
'''


def loader_name(folder: str) -> str:
    """The loader module's name: one per bundle, so two bundles never shadow each other."""
    digest = hashlib.sha256(os.path.abspath(folder).encode()).hexdigest()[:12]
    return f"slipstream_bundle_{digest}"


def write_archive(folder: str, archive: str) -> str:
    """Zip `folder` under TREE with its loader module; returns the loader's module name."""
    name = loader_name(folder)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        loader = _LOADER.format(parts=tuple(TREE.split("/")))
        bundle.writestr(zipfile.ZipInfo(f"{name}.py", ZIP_EPOCH), loader, zipfile.ZIP_DEFLATED)
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            for file_name in sorted(names):
                path = os.path.join(root, file_name)
                entry = zipfile.ZipInfo(f"{TREE}/{os.path.relpath(path, folder)}", ZIP_EPOCH)
                with open(path, "rb") as source:
                    bundle.writestr(entry, source.read(), zipfile.ZIP_DEFLATED)
    return name


def ship_code(client: Any, folder: str) -> None:
    """Give the scheduler and every worker (also later ones) the user's code bundle in `folder`."""
    import shutil
    import tempfile

    staging = tempfile.mkdtemp(prefix="slipstream-ship-")
    try:
        # The file name is the loader's: Dask keeps uploads by file name in its work folder.
        archive = os.path.join(staging, f"{loader_name(folder)}.zip")
        write_archive(folder, archive)
        try:
            from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

            # The scheduler unpickles task graphs; a worker plugin also reaches later workers.
            client.register_plugin(SchedulerUploadFile(archive, load=True), name=PLUGIN_NAME)
            client.register_plugin(UploadFile(archive, load=True), name=PLUGIN_NAME)
        except Exception as exc:  # the image may hold the code; if not, Dask says so next
            log.warning(
                "could not ship the code bundle to the Dask cluster: %s: %s",
                type(exc).__name__,
                exc,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)

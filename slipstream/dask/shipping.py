"""Ships the user's code bundle to a DaskJob's Dask cluster; called by local.py's runner side.

Functions sent to Dask are pickled by reference to their module; the operator's scheduler
and workers run the task's image, not its code, so they import it from this upload.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("slipstream.dask")


def ship_code(client: Any, folder: str) -> None:
    """Give the scheduler and every worker (also later ones) the user's code bundle in `folder`."""
    import shutil
    import tempfile
    import zipfile

    staging = tempfile.mkdtemp(prefix="slipstream-ship-")
    archive = os.path.join(staging, f"slipstream-{os.path.basename(folder.rstrip('/'))}.zip")
    try:
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for root, _, names in os.walk(folder):
                for name in sorted(names):
                    path = os.path.join(root, name)
                    # Bundles are unpacked with mtime 0, which zip cannot store: use its epoch.
                    entry = zipfile.ZipInfo(os.path.relpath(path, folder), (1980, 1, 1, 0, 0, 0))
                    with open(path, "rb") as source:
                        bundle.writestr(entry, source.read(), zipfile.ZIP_DEFLATED)
        try:
            from distributed.diagnostics.plugin import UploadFile

            # A worker plugin: every worker, also those that join later, imports it from there.
            # The scheduler never unpickles task code, so it is not sent there.
            client.register_plugin(UploadFile(archive, load=True), name="slipstream-bundle")
        except Exception as exc:  # the image may hold the code; if not, Dask says so next
            log.warning(
                "could not ship the code bundle to the Dask cluster: %s: %s",
                type(exc).__name__,
                exc,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)

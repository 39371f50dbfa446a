"""An attempt's saved Dask report: where it is in the blob store, and its page made offline.

Used by the node panel. Dask writes its performance report as a Bokeh page whose scripts come
from Bokeh's CDN; the UI works without the internet, so those scripts are put inline from the
installed bokeh package (the same version that wrote the page) before the page is served.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

REPORT_NAME = "dask-report.html"  # written beside the attempt's logs by the Dask plugin
SUMMARY_NAME = "dask-summary.json"
_CDN_SCRIPT = re.compile(
    r'<script[^>]*\ssrc="https://cdn\.bokeh\.org/bokeh/[a-z]+/'
    r'(?P<name>bokeh(?:-[a-z]+)?)-\d[^"/]*?\.js"[^>]*>\s*</script>'
)


def attempt_file(blobs: Any, attempt: Any, name: str) -> str:
    """The URI of a file the attempt kept beside its logs, or "" if there is none."""
    if not attempt.output_prefix:
        return ""
    uri = f"{attempt.output_prefix}/{name}"
    return uri if blobs.exists(uri) else ""


def dask_report_uri(blobs: Any, attempt: Any) -> str:
    """The report's URI, or "" when the attempt kept none (not a Dask task, or report=False)."""
    return attempt_file(blobs, attempt, REPORT_NAME)


def report_being_written(blobs: Any, attempt: Any, now: float) -> bool:
    """True while the Dask plugin's writer still builds the attempt's report: its summary says
    "being written" until `report_by` (the report appears a second or so after the attempt)."""
    uri = attempt_file(blobs, attempt, SUMMARY_NAME)
    if not uri:
        return False
    try:
        summary = json.loads(blobs.read_bytes(uri))
    except ValueError:
        return False
    return bool(summary.get("report") == "being written" and now <= summary.get("report_by", 0))


@cache
def _bokeh_js() -> Path | None:
    spec = importlib.util.find_spec("bokeh")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "server" / "static" / "js"
    return folder if folder.is_dir() else None


def offline(html: str) -> str:
    """The report with Bokeh's CDN scripts replaced by the installed package's own."""
    folder = _bokeh_js()
    if folder is None:
        return html

    def inline(match: re.Match[str]) -> str:
        path = folder / f"{match['name']}.min.js"
        if not path.is_file():
            return match[0]
        code = path.read_text(encoding="utf-8").replace("</script", "<\\/script")
        return f'<script type="text/javascript">{code}</script>'

    return _CDN_SCRIPT.sub(inline, html)

"""A Dask task in the UI: its saved Dask performance report opens in the node's panel."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(180)


def test_a_dask_tasks_report_opens_in_its_panel(page: Any, ui_server: Any) -> None:
    page.goto(f"{ui_server.url}/workflows/ui_flows.dasky/launch")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))
    page.wait_for_selector('#graph g.node.phase-SUCCEEDED[data-node="dask-sum"]', timeout=90000)
    page.locator('#graph g.node[data-node="dask-sum"]').click()
    frame = page.locator("#panel iframe.report")
    frame.wait_for()
    report = page.frame_locator("#panel iframe.report")
    report.locator("text=Dask Performance Report").first.wait_for(timeout=30000)
    # the report is Dask's own page: served sandboxed, away from this site's cookies
    src = frame.get_attribute("src")
    assert src is not None
    response = httpx.get(ui_server.url + src)
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("sandbox allow-scripts;")
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
    assert frame.get_attribute("sandbox") == "allow-scripts"
    # its scripts run in an origin of their own: the UI's cookies are out of their reach
    inner = next(f for f in page.frames if f.url.endswith(src))
    cookie = inner.evaluate(
        "() => { try { return 'read: ' + document.cookie } catch (e) { return e.name } }"
    )
    assert cookie == "SecurityError"
    assert "cdn.bokeh.org" not in response.text  # its scripts come inline from the package

"""The graph in a real Chromium: groups collapse, maps show counts, big graphs open collapsed,
DataFrames show their schema and first rows."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


def launch_defaults(page: Any, url: str, workflow: str) -> None:
    page.goto(f"{url}/workflows/{workflow}/launch")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))


def test_sub_workflow_is_a_group_that_collapses_by_keyboard(page: Any, ui_server: Any) -> None:
    launch_defaults(page, ui_server.url, "ui_flows.nested")
    page.wait_for_selector('#graph g.node.phase-SUCCEEDED[data-node="square"]')
    drawn = page.locator("#graph g.node")
    assert drawn.count() == 4  # the group's head, its two nodes, and the last square
    toggle = page.locator('#graph g.node[data-node="inner"] g.toggle')
    assert toggle.get_attribute("aria-expanded") == "true"
    toggle.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('#graph g.node').length === 2")
    status = page.locator('#graph g.node[data-node="inner"] text.status').text_content()
    assert status is not None and "2 ✓" in status  # a closed group counts its nodes' phases
    page.locator('#graph g.node[data-node="inner"] g.toggle').click()
    page.wait_for_function("document.querySelectorAll('#graph g.node').length === 4")


def test_a_map_is_one_node_with_item_counts(page: Any, ui_server: Any) -> None:
    launch_defaults(page, ui_server.url, "ui_flows.squares")
    node = page.locator('#graph g.node.phase-SUCCEEDED[data-node="map-square"]')
    node.wait_for()
    assert node.locator("text.status").text_content() == "3 items: 3 ✓ 0 ✗ 0 ▶"
    node.click()
    page.locator("#panel").get_by_text("3 in all: 3 ✓ succeeded").wait_for()


def test_a_big_graph_opens_collapsed_and_says_so(page: Any, ui_server: Any) -> None:
    page.goto(f"{ui_server.url}/workflows/ui_flows.chain")
    notice = page.locator("#graph .graph-notice")
    notice.wait_for()
    assert "600 visible nodes" in notice.inner_text()
    assert "opens collapsed" in notice.inner_text()
    assert page.locator("#graph g.node").count() == 0
    page.get_by_role("button", name="Draw all 600 nodes").click()
    page.wait_for_function("document.querySelectorAll('#graph g.node').length === 600")


def test_a_dataframe_output_shows_schema_first_rows_and_a_download(
    page: Any, ui_server: Any
) -> None:
    launch_defaults(page, ui_server.url, "ui_flows.framed")
    page.locator('#graph g.node.phase-SUCCEEDED[data-node="table"]').click()
    panel = page.locator("#panel")
    panel.get_by_text("DataFrame: 25 rows").wait_for()
    header = panel.locator("table.frame thead").inner_text()
    assert "name" in header and "string" in header
    assert panel.locator("table.frame tbody tr").count() == 10
    assert panel.locator("table.frame tbody tr").first.inner_text().split() == ["0", "row", "0"]
    link = panel.get_by_role("link", name="download")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".parquet")


def test_a_dynamic_body_appears_as_a_group(page: Any, ui_server: Any) -> None:
    launch_defaults(page, ui_server.url, "ui_flows.climbing")
    page.wait_for_selector('#graph g.node.phase-SUCCEEDED[data-node="ladder"]')
    # its three run-time nodes are drawn inside it, with the edges between them
    page.wait_for_function(
        "document.querySelectorAll('#graph g.node[data-node^=\"ladder/\"]').length === 3"
    )
    assert page.locator("#graph rect.cluster").count() == 1
    toggle = page.locator('#graph g.node[data-node="ladder"] g.toggle')
    toggle.click()
    page.wait_for_function("document.querySelectorAll('#graph g.node').length === 1")


def test_the_timeline_marks_retries_and_cache_hits(page: Any, ui_server: Any) -> None:
    for _ in range(2):  # the second run hits the cache of `remembered`
        launch_defaults(page, ui_server.url, "ui_flows.retried")
        page.wait_for_selector('#graph g.node.phase-SUCCEEDED[data-node="flaky"]')
    timeline = page.locator("#timeline svg")
    page.wait_for_selector('#timeline g.row[data-node="flaky"] text.retry-mark')
    assert timeline.locator('g.row[data-node="flaky"] text.retry-mark').text_content() == "↻ 2"
    assert timeline.locator('g.row[data-node="remembered"] path.cache-hit').count() == 1
    status = page.locator('#graph g.node[data-node="remembered"] text.status').text_content()
    assert status is not None and "cached" in status
    page.locator('#graph g.node[data-node="flaky"]').click()
    attempts = page.locator("#panel table.attempts")
    attempts.wait_for()
    assert "user error: RuntimeError" in attempts.inner_text()

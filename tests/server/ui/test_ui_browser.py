"""The web UI in a real Chromium against a real server: launch, watch, read, abort, relaunch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

TYPED = "ui_flows.typed"


def fill_typed(page: Any, xs: list[int], factor: str, color: str) -> None:
    field = page.locator('.field[data-input="xs"]')
    for value in xs:
        field.locator("button.add").first.click()
        field.locator("ol.rows > li input").last.fill(str(value))
    page.locator('.field[data-input="scaling"] .field[data-input="factor"] input').fill(factor)
    page.locator('.field[data-input="color"] select').select_option(label=color)


def execution_id(page: Any) -> str:
    match = re.search(r"/executions/([^/?#]+)", page.url)
    assert match, page.url
    return match.group(1)


def test_launch_typed_inputs_graph_turns_green_and_outputs_show(
    page: Any, ui_server: Any, tmp_path: Path
) -> None:
    page.goto(f"{ui_server.url}/workflows")
    page.get_by_role("link", name=TYPED).click()
    # the graph is drawn before any run
    page.wait_for_selector('#graph g.node[data-node="total"]')
    page.wait_for_selector('#graph g.node[data-node="shout"]')
    page.screenshot(path=str(tmp_path / "workflow.png"), full_page=True)
    page.get_by_role("link", name="Launch…").click()
    fill_typed(page, [1, 2, 3], "10", "blue")
    page.screenshot(path=str(tmp_path / "launch-form.png"), full_page=True)
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))
    page.wait_for_selector('#graph g.node.phase-SUCCEEDED[data-node="shout"]')
    page.wait_for_selector('#graph g.node.phase-SUCCEEDED[data-node="total"]')
    outputs = page.locator("pre.outputs")
    outputs.wait_for()
    assert "TOTAL=60 IN BLUE" in outputs.inner_text()
    # the phase is also a word and an icon, not only a colour
    assert (
        "✓ succeeded" in page.locator('#graph g.node[data-node="shout"] text.status').text_content()
    )
    # a node's panel, by keyboard: focus the node and press Enter
    page.locator('#graph g.node[data-node="total"]').focus()
    page.keyboard.press("Enter")
    panel = page.locator("#panel")
    panel.get_by_text("total=60 in blue").wait_for()
    assert "succeeded" in panel.locator("table.attempts").inner_text()
    page.screenshot(path=str(tmp_path / "execution.png"), full_page=True)
    ui_server.screenshots = tmp_path / "execution.png"


def test_bad_input_is_refused_beside_its_field(page: Any, ui_server: Any) -> None:
    before = ui_server.count_executions()
    page.goto(f"{ui_server.url}/workflows/{TYPED}/launch")
    fill_typed(page, [1], "ten", "red")
    page.get_by_role("button", name="Launch").click()
    error = page.locator('.field[data-input="factor"] .field-error')
    assert error.inner_text() == 'expected an integer (int), got "ten"'
    assert "Not launched" in page.locator(".form-status").inner_text()
    # the server's check too: raw JSON of the wrong shape is refused beside the field
    page.locator('.field[data-input="scaling"] .field[data-input="factor"] input').fill("2")
    scaling = page.locator('.field[data-input="scaling"]')
    scaling.locator("button.raw-switch").first.click()
    scaling.locator("textarea.json").first.fill('{"factor": "two"}')
    page.get_by_role("button", name="Launch").click()
    server_error = scaling.locator(".field-error").last
    server_error.wait_for()
    assert "scaling" in server_error.inner_text()
    assert "int" in server_error.inner_text()
    assert "/launch" in page.url
    assert ui_server.count_executions() == before


def test_failing_workflow_shows_error_and_traceback(page: Any, ui_server: Any) -> None:
    page.goto(f"{ui_server.url}/workflows/ui_flows.failing/launch")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))
    page.wait_for_selector('#graph g.node.phase-FAILED[data-node="boom"]')
    summary = page.locator("#summary")
    summary.get_by_text("n=7 is not allowed here").first.wait_for()
    traceback = summary.locator("pre.traceback")
    assert "_explode" in traceback.inner_text()  # the user's own frames
    page.locator('#graph g.node[data-node="boom"]').click()
    page.locator("#panel pre.traceback").wait_for()
    assert "ValueError" in page.locator("#panel").inner_text()
    assert "user error" in page.locator("#panel table.attempts").inner_text()
    # recover: a new execution of the failed one, which names it
    failed = execution_id(page)
    page.get_by_role("button", name="⤴ Recover").click()
    page.wait_for_url(lambda url: "/executions/" in url and failed not in url)
    page.locator("#summary").get_by_text(failed).wait_for()
    assert "recover of" in page.locator("#summary").inner_text()


def test_abort_a_running_execution(page: Any, ui_server: Any) -> None:
    page.goto(f"{ui_server.url}/workflows/ui_flows.sleepy/launch")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))
    page.wait_for_selector('#graph g.node.phase-RUNNING[data-node="nap"]')
    # its log, followed live in the node's panel
    page.locator('#graph g.node[data-node="nap"]').click()
    page.locator("#panel #node-log").get_by_text("napping for 60.0 s").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="■ Abort").click()
    page.wait_for_selector("h1 .execution-phase.phase-ABORTED")
    assert ui_server.wait_phase(execution_id(page), {"ABORTED"}) == "ABORTED"
    page.wait_for_selector('#graph g.node.phase-ABORTED[data-node="nap"]')


def test_relaunch_with_a_changed_input(page: Any, ui_server: Any) -> None:
    page.goto(f"{ui_server.url}/workflows/{TYPED}/launch")
    fill_typed(page, [5], "1", "red")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))
    first = execution_id(page)
    page.locator("pre.outputs").wait_for()
    page.get_by_role("link", name="↻ Relaunch…").click()
    # the form comes prefilled with the parent's inputs, editable
    rows = page.locator('.field[data-input="xs"] ol.rows > li input')
    assert rows.count() == 1 and rows.first.input_value() == "5"
    rows.first.fill("7")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(lambda url: "/executions/" in url and first not in url)
    assert "TOTAL=7 IN RED" in page.locator("pre.outputs").inner_text()
    assert first in page.locator("#summary").inner_text()  # it names its parent


def test_phone_width_and_escaped_values(browser: Any, ui_server: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    tab = context.new_page()
    try:
        tab.goto(f"{ui_server.url}/workflows/{TYPED}/launch")
        tab.locator('.field[data-input="scaling"] .field[data-input="label"] input').fill(
            "<img src=x onerror=window.pwned=1>"
        )
        fill_typed(tab, [1], "1", "red")
        tab.get_by_role("button", name="Launch").click()
        tab.wait_for_url(re.compile(r"/executions/[^/]+$"))
        tab.locator("pre.outputs").wait_for()
        assert "<IMG SRC=X ONERROR=WINDOW.PWNED=1>" in tab.locator("pre.outputs").inner_text()
        assert tab.evaluate("window.pwned") is None
        overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the page is {overflow}px wider than a phone"
    finally:
        context.close()


def test_executions_list_filters_and_counts(page: Any, ui_server: Any) -> None:
    page.goto(f"{ui_server.url}/workflows/ui_flows.failing/launch")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))
    failed = execution_id(page)
    ui_server.wait_phase(failed, {"FAILED"})
    page.get_by_role("link", name="Executions", exact=True).click()
    counts = page.locator('.counts[aria-label="executions per phase"]')
    assert "failed" in counts.inner_text()
    page.locator('select[name="phase"]').select_option("FAILED")
    page.locator('input[name="name"]').fill("ui_flows.failing")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#executions-live tbody tr")
    rows.first.wait_for()
    texts = rows.all_inner_texts()
    assert any(failed in t for t in texts)
    assert all("failed" in t and "ui_flows.failing" in t for t in texts)


def test_a_launch_plan_shows_its_defaults_and_fixes_its_fixed_inputs(
    page: Any, ui_server: Any
) -> None:
    page.goto(f"{ui_server.url}/workflows")
    page.get_by_role("link", name="blue_plan").click()
    page.wait_for_selector('#graph g.node[data-node="shout"]')  # its workflow's graph
    assert "fixed" in page.locator("table").first.inner_text()
    page.get_by_role("link", name="Launch…").click()
    color = page.locator('.field[data-input="color"]')
    assert color.locator("select").is_disabled()
    assert "fixed by the launch plan" in color.inner_text()
    rows = page.locator('.field[data-input="xs"] ol.rows > li input')
    assert [rows.nth(i).input_value() for i in range(rows.count())] == ["2", "3"]
    page.locator('.field[data-input="scaling"] .field[data-input="factor"] input').fill("1")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/executions/[^/]+$"))
    page.locator("pre.outputs").wait_for()
    assert "TOTAL=5 IN BLUE" in page.locator("pre.outputs").inner_text()

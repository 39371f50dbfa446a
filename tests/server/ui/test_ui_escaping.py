"""Markup a user controls (output, label, error message, log line, who launched) is shown as text
on every page and runs nothing, in a real Chromium; pages send the security headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(120)

PAYLOAD = (
    "<script>window.pwned='script';document.title='pwned'</script>"
    "<img src=x onerror=window.pwned='img';document.title='pwned';alert(1)>"
    "<svg onload=window.pwned='svg'></svg>"
)
CHECK = """() => ({
  pwned: window.pwned === undefined ? null : String(window.pwned),
  title: document.title,
  injected: document.querySelectorAll(
    'img[src="x"], svg[onload], main script:not([src]):not([type="application/json"])'
  ).length,
})"""


def launch(server: Any, workflow: str) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/executions",
        json={"workflow": workflow, "inputs": {"text": PAYLOAD}, "labels": {"note": PAYLOAD}},
        headers={"x-slipstream-user": "<b>mallory</b>"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["execution"])


class Watch:
    """Dialogs, console lines and CSP violations a page produced."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.console: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: self.console.append(m.text))

    def violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]


def assert_inert(page: Any, watch: Watch, where: str) -> None:
    found = page.evaluate(CHECK)
    assert found["pwned"] is None, f"{where}: a payload ran ({found['pwned']})"
    assert "pwned" not in found["title"], where
    assert found["injected"] == 0, f"{where}: the payload became elements"
    assert watch.dialogs == [], where
    # our own pages need nothing the policy forbids: a violation means markup got through
    assert watch.violations() == [], f"{where}: {watch.violations()}"


def test_markup_in_values_is_text_everywhere(page: Any, ui_server: Any) -> None:
    good = launch(ui_server, "ui_flows.hostile")
    bad = launch(ui_server, "ui_flows.hostile_failing")
    assert ui_server.wait_phase(good, {"SUCCEEDED", "FAILED"}) == "SUCCEEDED"
    assert ui_server.wait_phase(bad, {"SUCCEEDED", "FAILED"}) == "FAILED"
    watch = Watch(page)

    page.goto(f"{ui_server.url}/executions")
    page.locator(f'a[href="/executions/{good}"]').wait_for()
    assert "<b>mallory</b>" in page.locator("#executions-live").inner_text()
    assert_inert(page, watch, "executions list")

    page.goto(f"{ui_server.url}/executions/{good}")
    page.wait_for_selector('#graph g.node.phase-SUCCEEDED[data-node="echo-hostile"]')
    summary = page.locator("#summary").inner_text()
    assert f"out: {PAYLOAD}" in page.locator("pre.outputs").inner_text()
    assert f"note={PAYLOAD}" in summary
    page.locator('#graph g.node[data-node="echo-hostile"]').click()
    log = page.locator("#panel #node-log")
    log.get_by_text("log line: <script>").wait_for()
    assert PAYLOAD in log.inner_text()
    assert f"out: {PAYLOAD}" in page.locator("#panel").inner_text()
    assert_inert(page, watch, "execution page, node panel and log")

    page.goto(f"{ui_server.url}/executions/{bad}")
    page.wait_for_selector('#graph g.node.phase-FAILED[data-node="fail-hostile"]')
    assert f"bad value: out: {PAYLOAD}" in page.locator("#summary .error").inner_text()
    page.locator('#graph g.node[data-node="fail-hostile"]').click()
    page.locator("#panel pre.traceback").wait_for()
    assert f"bad value: out: {PAYLOAD}" in page.locator("#panel .error").inner_text()
    assert_inert(page, watch, "failed execution and its node panel")

    # the log's own page (the API's JSON, rendered by the browser as text, never as HTML)
    logs = page.goto(f"{ui_server.url}/api/v1/executions/{good}/nodes/echo-hostile/logs")
    assert logs is not None and logs.headers["content-type"].startswith("application/json")
    assert_inert(page, watch, "log document")


def test_every_page_sends_the_security_headers(ui_server: Any) -> None:
    pages = ["/workflows", "/executions", "/workflows/ui_flows.hostile", "/api/v1/executions"]
    with httpx.Client(base_url=ui_server.url) as client:
        for path in pages:
            response = client.get(path, headers={"origin": "https://evil.example"})
            assert response.status_code == 200, path
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
            assert "frame-ancestors 'none'" in policy, path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-frame-options"] == "DENY"
            assert "access-control-allow-origin" not in response.headers, path
        # CORS is closed: a preflight from another origin is not allowed
        preflight = client.options(
            "/api/v1/executions",
            headers={
                "origin": "https://evil.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        assert preflight.status_code >= 400
        assert "access-control-allow-origin" not in preflight.headers


def test_no_template_or_script_bypasses_escaping_or_the_policy() -> None:
    import re

    from slipstream.server.ui.render import STATIC, TEMPLATES, environment

    assert environment().autoescape is True
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, template
        inline = re.findall(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", text)
        assert inline == [], f"{template.name}: an inline script"
        assert re.findall(r"\son[a-z]+=", text) == [], f"{template.name}: an inline handler"
    # scripts set text, never markup (htmx swaps only the server's own escaped fragments)
    sinks = re.compile(r"\.(?:inner|outer)HTML\s*\+?=|insertAdjacentHTML|document\.write|\beval\(")
    for script in STATIC.glob("*.js"):
        text = script.read_text()
        assert sinks.findall(text) == [], f"{script.name} writes markup"
        assert "new Function" not in text, script.name

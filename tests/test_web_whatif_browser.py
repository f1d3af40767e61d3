"""The "What if?" button of the planning form in a real headless Chromium, on 127.0.0.1 only.

A planner fills in a few keys, asks "What if?" and reads the figures on the same page (the
same as the JSON API answers), with no request off the service; a bad value shows the
server's one-line message as text.
"""

# ruff: noqa: F811 - the fixtures of test_web_browser are imported by name

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_browser import DESKTOP, _context, browser, serving, shots  # noqa: F401
from test_web_whatif import PASSWORD, make_app


@pytest.fixture(scope="module")
def whatif_server(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = make_app(tmp_path_factory.mktemp("whatif-browser"), shared_data)
    with serving(app) as base:
        yield base


def _log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "plan1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_a_planner_asks_what_if_on_the_planning_form(browser: Any, whatif_server: str, shots: Path) -> None:
    base = whatif_server
    context, page, outside = _context(browser, base, DESKTOP)
    _log_in(page, base)
    page.goto(f"{base}/plan")
    button = page.locator("#whatif-button")
    assert button.is_visible()
    page.select_option("select[name=area]", "downtown")
    page.fill("input[name=risk_lambda]", "3")
    page.fill("input[name=windows]", "07:00-09:00, 14:00-16:00")
    page.fill("input[name=officers]", "3")
    button.click()
    page.wait_for_selector("#whatif-result table", timeout=120_000)
    shown = page.locator("#whatif-result").inner_text()
    answer = page.request.post(f"{base}/api/plan/whatif", headers={
        "X-CSRF-Token": page.locator('meta[name="csrf-token"]').get_attribute("content") or ""},
        data={"area": "downtown", "parameters": {"risk_lambda": 3, "windows": ["07:00-09:00", "14:00-16:00"],
                                                 "officers": 3}}).json()
    figures = answer["figures"]
    assert "km of passage" in shown and str(figures["passage_km"]) in shown
    assert f"{round(figures['exposure_reduction'] * 100)} %" in shown
    assert answer["coverage"]["posts"][0]["corner"] in shown and "Officers: 3 (posts)" in shown
    page.locator("#whatif-result").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "planner-whatif-1366x768.png"))
    # a bad value: the server's message, shown as text; the form is still there to correct it
    page.fill("input[name=risk_lambda]", "<b>500</b>")
    button.click()
    page.wait_for_selector("#whatif-result .error")
    error = page.locator("#whatif-result .error").inner_text()
    assert "risk_lambda" in error and "<b>500</b>" in error
    assert page.locator("#whatif-result b").count() == 0
    page.fill("input[name=risk_lambda]", "500")
    button.click()
    for _ in range(200):  # the page's CSP allows no evaluated script: polled from here
        if "from 0 to 100" in page.locator("#whatif-result").inner_text():
            break
        page.wait_for_timeout(100)
    assert "from 0 to 100" in page.locator("#whatif-result .error").inner_text()
    assert page.url.endswith("/plan")  # nothing was submitted
    context.close()
    assert outside == []

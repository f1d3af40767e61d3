"""The community form in a real headless Chromium (Debian's, through playwright), on 127.0.0.1.

A resident on a phone (390 x 844) marks a place on the form's map, chooses a category and
sends it; a planner on a laptop (1366 x 768) logs in, sees the pending report and accepts
it. Nothing is asked of another site. Screenshots go to ``PASSAGES_SCREENSHOTS`` (a
temporary folder by default).
"""

# ruff: noqa: F811 - the fixtures of the other browser tests are imported by name

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_browser import PHONE
from test_web_browser import DESKTOP, _context, _log_in, browser, server, shots  # noqa: F401 - fixtures
from test_web_pages import Service, web_root  # noqa: F401 - fixtures


def test_a_resident_marks_a_place_and_a_planner_accepts_it(browser: Any, server: tuple[str, Service],
                                                           shots: Path) -> None:
    from sqlalchemy import select

    from passages.web.models import ConcernReport

    base, service = server
    context, page, outside = _context(browser, base, PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{base}/community/south-la")
    page.locator("#report").scroll_into_view_if_needed()
    page.wait_for_selector("#pick-map .leaflet-interactive", timeout=15000)  # the passages are drawn
    box = page.locator("#pick-map").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 250
    page.locator("#pick-map").tap(position={"x": box["width"] * 0.5, "y": box["height"] * 0.5})
    assert page.input_value("input[name=lat]") and page.input_value("input[name=lon]")
    assert "Place marked" in page.inner_text("#pick-status")
    page.check("input[name=category][value='no safe crossing']")
    page.fill("textarea[name=note]", "kids cross between parked cars")
    page.locator("#report").screenshot(path=str(shots / "community-report-390x844.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    page.click("form.report-form button[type=submit]")
    page.wait_for_load_state()
    assert page.url.split("#")[0].endswith("/community/south-la/thanks")
    assert "Thank you" in page.inner_text("#thanks")
    page.screenshot(path=str(shots / "community-report-thanks-390x844.png"))
    assert outside == []
    context.close()
    with service.store.session() as session:
        [row] = session.scalars(select(ConcernReport)).all()
    assert row.state == "pending" and row.category == "no safe crossing"

    context, page, outside = _context(browser, base, DESKTOP)
    _log_in(page, base, "planner1")
    page.goto(f"{base}/concerns")
    rows = page.locator("#pending tbody tr").all_inner_texts()
    assert len(rows) == 1 and "kids cross between parked cars" in rows[0] and "south-la" in rows[0]
    page.screenshot(path=str(shots / "planner-reports-1366x768.png"))
    page.click("#pending button:has-text('Accept')")
    page.wait_for_load_state()
    assert "No report is waiting" in page.inner_text("#pending")
    assert "kids cross between parked cars" in page.inner_text("#accepted")
    page.screenshot(path=str(shots / "planner-reports-accepted-1366x768.png"))
    assert outside == []
    context.close()
    with service.store.session() as session:
        [row] = session.scalars(select(ConcernReport)).all()
    assert row.state == "accepted" and row.decided_by == "planner1"

"""The service in a real headless Chromium (Debian's, driven by playwright), on 127.0.0.1 only.

An officer on a phone logs in, sees only their area, opens the map and keeps it with the
network cut; a commander compares two scenarios and reads the history; an anonymous
visitor sees the community page and nothing else. Screenshots at 390 x 844 and 1366 x 768
go to ``PASSAGES_SCREENSHOTS`` (a temporary folder by default).
"""

# ruff: noqa: F811 - the fixtures of test_web_pages are imported by name

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser import CHROMIUM, FLAGS, PHONE, colour_pixels
from test_web_pages import PASSWORD, Service, seeded_service, web_root  # noqa: F401

from passages.maps import PASSAGE_COLOR

DESKTOP = {"width": 1366, "height": 768}

#: test_browser's flags, with the service's own address still resolving (only it).
SERVICE_FLAGS = [*(f for f in FLAGS if not f.startswith("--host-resolver-rules")),
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (dev extra)")
    if not Path(CHROMIUM).exists():
        pytest.skip("browser tests need Debian's chromium (apt-get install chromium)")
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=SERVICE_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(shared_data: Path, web_root: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service]]:
    service = seeded_service(tmp_path_factory.mktemp("browser-service"), shared_data, web_root)
    with serving(service.app) as base:
        yield base, service


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free port of 127.0.0.1; yield its base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(100):
        if running.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("PASSAGES_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _context(browser: Any, base: str, viewport: dict[str, int], **options: Any) -> tuple[Any, Any, list[str]]:
    """A page whose every request off the service (and off the page itself) is refused and logged."""
    context = browser.new_context(viewport=viewport, accept_downloads=True, **options)
    page = context.new_page()
    outside: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith((base, "data:", "blob:", "about:", "file:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", guard)
    return context, page, outside


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_officer_on_a_phone_opens_their_pack_and_keeps_the_map_offline(browser: Any, server: tuple[str, Service],
                                                                       shots: Path, tmp_path: Path) -> None:
    base, _service = server
    context, page, outside = _context(browser, base, PHONE, is_mobile=True, has_touch=True)
    _log_in(page, base, "officer1")
    page.goto(f"{base}/officer")
    cards = page.locator("a.card").all_inner_texts()
    assert len(cards) == 1 and "South LA" in cards[0] and "Version 2" in cards[0]
    page.locator("a.card").click()
    page.wait_for_load_state()
    assert page.url.endswith("/officer/south-la")
    page.wait_for_timeout(1500)
    png = page.screenshot(path=str(shots / "officer-pack-390x844.png"))
    assert colour_pixels(png, PASSAGE_COLOR) > 300  # the passages are drawn in the pack's map
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    page.screenshot(path=str(shots / "officer-pack-390x844-full.png"), full_page=True)
    with page.expect_download() as waiting:
        page.get_by_text("Save map for offline").click()
    saved = tmp_path / "officers.html"
    waiting.value.save_as(saved)
    context.close()
    assert outside == []
    # the saved map, opened with no server and no network at all, still draws the passages
    offline, map_page, asked = _context(browser, "file:", PHONE, is_mobile=True, has_touch=True)
    map_page.goto(saved.as_uri())
    map_page.wait_for_timeout(1000)
    drawn = map_page.screenshot(path=str(shots / "officer-offline-map-390x844.png"))
    leaflet = map_page.evaluate("typeof L")
    offline.close()
    assert asked == [] and leaflet == "object"
    assert colour_pixels(drawn, PASSAGE_COLOR) > 1000
    wide, desk, _ = _context(browser, base, DESKTOP)
    _log_in(desk, base, "officer1")
    desk.goto(f"{base}/officer/south-la")
    desk.wait_for_timeout(1500)
    desk.screenshot(path=str(shots / "officer-pack-1366x768.png"))
    assert desk.goto(f"{base}/officer/downtown").status == 404
    wide.close()


def test_commander_compares_two_scenarios_and_reads_the_history(browser: Any, server: tuple[str, Service],
                                                               shots: Path) -> None:
    base, service = server
    run_id = service.runs["south-la"]
    for name, viewport in (("1366x768", DESKTOP), ("390x844", PHONE)):
        context, page, outside = _context(browser, base, viewport)
        _log_in(page, base, "command1")
        page.goto(f"{base}/runs/{run_id}/compare")
        assert page.locator("table.compare tbody tr").count() == 2
        assert page.locator("img.chart").evaluate("img => img.naturalWidth") > 100
        page.locator("iframe.map").scroll_into_view_if_needed()
        page.wait_for_timeout(2000)
        page.screenshot(path=str(shots / f"compare-{name}.png"))
        page.screenshot(path=str(shots / f"compare-{name}-full.png"), full_page=True)
        frame = page.frame_locator("iframe.map").frame_locator("iframe").first
        assert frame.locator(".leaflet-container").count() == 1  # the side-by-side maps run
        page.goto(f"{base}/history")
        assert page.locator("tbody tr").count() == 2 and "planner1" in page.inner_text("main")
        page.screenshot(path=str(shots / f"history-{name}.png"))
        context.close()
        assert outside == []


def test_anonymous_visitor_sees_the_community_page_and_nothing_else(browser: Any, server: tuple[str, Service],
                                                                    shots: Path) -> None:
    base, _service = server
    for name, viewport in (("390x844", PHONE), ("1366x768", DESKTOP)):
        context, page, outside = _context(browser, base, viewport)
        page.goto(f"{base}/")
        assert page.url.endswith("/community")
        page.locator("a.card").first.click()
        page.wait_for_load_state()
        page.wait_for_timeout(1500)
        png = page.screenshot(path=str(shots / f"community-{name}.png"))
        page.screenshot(path=str(shots / f"community-{name}-full.png"), full_page=True)
        assert colour_pixels(png, PASSAGE_COLOR) > 300
        page.goto(f"{base}/community/south-la?lang=es")
        assert "Pasajes Seguros" in page.inner_text("h1")
        page.screenshot(path=str(shots / f"community-es-{name}.png"))
        for path in ("/officer", "/officer/south-la", "/runs/1/compare", "/history", "/admin/users"):
            page.goto(f"{base}{path}")
            assert "/login" in page.url, path
        assert page.goto(f"{base}/api/officer/south-la").status == 401
        assert page.goto(f"{base}/officer/south-la/files/officers.html").url.startswith(f"{base}/login")
        context.close()
        assert outside == []


@pytest.fixture(scope="module")
def planning_server(shared_data: Path, web_root: Path, network_cache: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service]]:
    """The seeded service with a real job queue: worker processes that plan what is asked."""
    from passages.web.jobs import JobQueue

    service = seeded_service(tmp_path_factory.mktemp("planning-service"), shared_data, web_root, workers=1)
    queue = JobQueue(service.config, cache_dir=network_cache)
    queue.start(service.store)
    service.app.state.jobs = queue
    try:
        with serving(service.app) as base:
            yield base, service
    finally:
        queue.stop()


def test_planner_runs_a_plan_watches_its_progress_and_publishes(browser: Any, planning_server: tuple[str, Service],
                                                                shots: Path) -> None:
    base, _service = planning_server
    context, page, outside = _context(browser, base, DESKTOP)
    _log_in(page, base, "planner1")
    page.goto(f"{base}/plan")
    page.select_option("select[name=area]", "south-la")
    page.fill("input[name=scenario_name]", "browser-walks")
    page.fill("input[name=officers]", "2")
    page.click("form.plan-form button[type=submit]")
    page.wait_for_load_state()
    assert "/runs/" in page.url
    run_page = page.url
    states: list[str] = []
    steps_done: list[str] = []
    for _ in range(240):  # at most 2 minutes; the page updates itself (no reload)
        states.append(page.locator("#run-state").inner_text())
        if page.locator("#run-progress").count():
            steps_done.append(page.locator("#run-progress").get_attribute("value") or "")
        if states[-1] in ("done", "failed"):
            break
        page.wait_for_timeout(500)
    assert page.url == run_page
    assert states[-1] == "done", states[-5:]
    assert len(set(states)) >= 2  # seen to move (queued or running, then done) without a reload
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shots / "planner-run-1366x768.png"))
    map_frame = page.frame_locator("iframe.map")
    assert map_frame.locator(".leaflet-container").count() == 1
    page.goto(run_page.rstrip("/") + "/compare")
    page.screenshot(path=str(shots / "planner-compare-1366x768.png"))
    page.locator("form[action$='/publish'] button[type=submit]").click()
    page.wait_for_load_state()
    answer = page.request.get(f"{base}/api/history/south-la")
    assert answer.ok
    body = answer.json()
    versions = body["versions"] if isinstance(body, dict) else body
    newest = max(versions, key=lambda v: v["version"])
    assert newest["version"] == 3 and newest["published_by"] == "planner1" and newest["scenario"] == "browser-walks"
    page.goto(f"{base}/history/south-la")
    assert "planner1" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "planner-history-1366x768.png"))
    context.close()
    assert outside == []

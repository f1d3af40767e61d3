"""Officer maps in a real headless Chromium with the network unreachable.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the Python package ``playwright``
(the dev extra), which drives that browser without downloading one of its own.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from passages.areas import load_areas
from passages.maps import PASSAGE_COLOR
from passages.plan import make_plan, write_plan

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         # no name resolves: the machine is as good as offline for the page
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (dev extra)")
    if not Path(CHROMIUM).exists():
        pytest.skip("browser tests need Debian's chromium (apt-get install chromium)")
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def maps(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("maps")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("passages.settings.processed_dir", out / "processed")
        return {
            slug: write_plan(make_plan(load_areas()[slug], data_dir=shared_data), out_dir=out / slug)["map"]
            for slug in ("south-la", "downtown")
        }


def open_offline(browser: Any, path: Path, **context: Any) -> tuple[Any, Any, list[str]]:
    """Open a map with every request outside the file itself logged and refused."""
    page_context = browser.new_context(**context)
    page = page_context.new_page()
    outside: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", guard)
    page.goto(path.as_uri())
    page.wait_for_timeout(800)
    return page_context, page, outside


def colour_pixels(png: bytes, hex_colour: str, tolerance: int = 12) -> int:
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - target).max(axis=2) <= tolerance).sum())


@pytest.mark.parametrize("slug", ["south-la", "downtown"])
def test_map_renders_with_no_connection_and_asks_for_nothing(browser: Any, maps: dict[str, Path], slug: str) -> None:
    context, page, outside = open_offline(browser, maps[slug], viewport={"width": 1200, "height": 900})
    png = page.screenshot()
    errors = page.evaluate("typeof L === 'undefined' ? 'no Leaflet' : ''")
    context.close()
    assert errors == ""
    assert outside == []
    assert colour_pixels(png, PASSAGE_COLOR) > 2000  # the passages are drawn


def test_web_tiles_are_requested_only_when_switched_on(browser: Any, maps: dict[str, Path]) -> None:
    context, page, outside = open_offline(browser, maps["south-la"], viewport={"width": 1200, "height": 900})
    assert outside == []
    page.hover(".leaflet-control-layers")
    page.get_by_text("Web map tiles (needs a connection)").click()
    page.wait_for_timeout(500)
    context.close()
    assert outside and all("tile.openstreetmap.org" in url for url in outside)


def test_phone_screen_fits_the_legend_and_controls(browser: Any, maps: dict[str, Path]) -> None:
    context, page, outside = open_offline(browser, maps["south-la"], viewport=PHONE, is_mobile=True, has_touch=True)
    assert outside == []
    assert page.evaluate("document.getElementById('pp-legend').open") is False  # collapsed on a phone
    boxes = {selector: page.locator(selector).first.bounding_box()
             for selector in (".pp-title", ".pp-legend", ".leaflet-control-zoom", ".pp-locate",
                              ".leaflet-control-layers", ".leaflet-control-attribution")}
    for selector, box in boxes.items():
        assert box is not None, selector
        assert box["x"] >= 0 and box["y"] >= 0, selector
        assert box["x"] + box["width"] <= PHONE["width"] + 0.5, selector
        assert box["y"] + box["height"] <= PHONE["height"] + 0.5, selector
    for button in page.locator(".leaflet-control-zoom a, .pp-locate a").all():
        size = button.bounding_box()
        assert size["width"] >= 44 and size["height"] >= 44  # a thumb's tap target
    page.locator(".pp-legend summary").click()
    assert page.evaluate("document.getElementById('pp-legend').open") is True
    legend = page.locator(".pp-legend").bounding_box()
    assert legend["y"] >= 0 and legend["y"] + legend["height"] <= PHONE["height"] + 0.5
    context.close()


def test_the_sources_take_one_line_until_tapped(browser: Any, maps: dict[str, Path]) -> None:
    context, page, outside = open_offline(browser, maps["downtown"], viewport=PHONE, is_mobile=True, has_touch=True)
    assert outside == []
    credits = page.locator(".leaflet-control-attribution")
    one_line = credits.bounding_box()["height"]
    assert one_line < 20  # one line of 9 px text
    assert "OpenStreetMap" in credits.inner_text()  # the ODbL credit comes first, always shown
    box = credits.bounding_box()
    credits.click(position={"x": box["width"] - 8, "y": box["height"] / 2})  # on the text, not on a link
    assert credits.bounding_box()["height"] > 2 * one_line  # every source, wrapped
    context.close()


def test_where_am_i_centres_the_map_on_the_phones_position(browser: Any, maps: dict[str, Path]) -> None:
    area = load_areas()["south-la"]
    here = {"latitude": area.lat + 0.005, "longitude": area.lon + 0.004}  # a corner of the area, not its centre
    context, page, outside = open_offline(browser, maps["south-la"], viewport=PHONE, geolocation=here,
                                          permissions=["geolocation"])
    view = "(() => { const m = Object.values(window).find(v => v && v._leaflet_id && v.getCenter);" \
           " const c = m.getCenter(); return [c.lat, c.lng, m.getZoom()]; })()"
    before = page.evaluate(view)
    page.locator(".pp-locate a").click()
    page.wait_for_timeout(800)
    after = page.evaluate(view)
    context.close()
    assert outside == []
    assert before[:2] != pytest.approx([here["latitude"], here["longitude"]], abs=1e-3)
    assert after[:2] == pytest.approx([here["latitude"], here["longitude"]], abs=1e-4)
    assert after[2] == 17


def test_officer_maps_weigh_under_2_mb(maps: dict[str, Path]) -> None:
    for path in maps.values():
        assert path.stat().st_size < 2_000_000


def test_officer_map_shows_numbered_posts_and_loops(browser: Any, shared_data: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from passages.compare import run_scenarios, scenario_map_html
    from passages.maps import officer_color
    from passages.scenarios import read_scenarios

    monkeypatch.setattr("passages.settings.processed_dir", tmp_path / "processed")
    (tmp_path / "s.toml").write_text('[scenarios.mixed]\nofficers = 3\nmode = "both"\nwindows = ["07:00-08:30"]\n')
    (run,) = run_scenarios(load_areas()["south-la"], read_scenarios(tmp_path / "s.toml"), data_dir=shared_data,
                           check_exact=False)
    path = tmp_path / "officers.html"
    path.write_text(scenario_map_html(run), encoding="utf-8")
    context, page, outside = open_offline(browser, path, viewport=PHONE, is_mobile=True, has_touch=True)
    labels = page.locator(".pp-officer").all_inner_texts()
    png = page.screenshot()
    context.close()
    assert outside == []
    posts = {str(int(r)) for r in run.coverage.posts["rank"]}
    assert posts <= set(labels)  # every post's number is on the map
    assert any("." in label for label in labels)  # and the loops' numbered stops
    beat = run.coverage.loops[0]
    assert colour_pixels(png, officer_color(beat.officer), tolerance=20) > 100  # the loop is drawn


# --------------------------------------------------------------------------- officer-grade (downtown)

DESKTOP = {"width": 1366, "height": 768}
LEAFLET_MAP = "Object.values(window).find(v => v && v._leaflet_id && v.getCenter)"
MARKERS_IN_VIEW = """(() => [...document.querySelectorAll('.leaflet-marker-icon')].filter(e => {
  const b = e.getBoundingClientRect();
  return b.right > 0 && b.bottom > 0 && b.left < innerWidth && b.top < innerHeight; }).length)()"""
CONTROL_BOXES = """(() => [...document.querySelectorAll('.leaflet-control, .pp-box')]
  .map(e => { const b = e.getBoundingClientRect();
              return [e.className, b.left, b.top, b.right, b.bottom]; })
  .filter(b => b[3] > b[1] && b[4] > b[2]))()"""


@pytest.fixture(scope="module")
def downtown_officer_maps(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The downtown officer map (posts and loops) and a side-by-side page of two scenarios."""
    from passages.compare import run_scenarios, scenario_map_html, side_by_side_html
    from passages.scenarios import read_scenarios

    out = tmp_path_factory.mktemp("officers")
    (out / "s.toml").write_text('[scenarios.both-4]\nofficers = 4\nmode = "both"\nwindows = ["07:00-08:30"]\n'
                                '[scenarios.posts-4]\nofficers = 4\nmode = "posts"\nwindows = ["07:00-08:30"]\n')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("passages.settings.processed_dir", out / "processed")
        first, second = run_scenarios(load_areas()["downtown"], read_scenarios(out / "s.toml"),
                                      data_dir=shared_data, check_exact=False)
    (out / "officers.html").write_text(scenario_map_html(first), encoding="utf-8")
    (out / "side.html").write_text(side_by_side_html(first, second), encoding="utf-8")
    return {"officers": out / "officers.html", "side": out / "side.html"}


def overlapping(boxes: list[list[Any]]) -> list[tuple[str, str]]:
    """Return the pairs of boxes (class, left, top, right, bottom) that overlap by more than a pixel."""
    pairs = []
    for i, first in enumerate(boxes):
        for second in boxes[i + 1:]:
            wide = min(first[3], second[3]) - max(first[1], second[1])
            tall = min(first[4], second[4]) - max(first[2], second[2])
            if wide > 1 and tall > 1:
                pairs.append((first[0], second[0]))
    return pairs


@pytest.mark.parametrize("which", ["plan", "officers"])
def test_downtown_phone_view_opens_with_at_most_30_markers(browser: Any, maps: dict[str, Path],
                                                          downtown_officer_maps: dict[str, Path], which: str) -> None:
    path = maps["downtown"] if which == "plan" else downtown_officer_maps[which]
    context, page, outside = open_offline(browser, path, viewport=PHONE, is_mobile=True, has_touch=True)
    shown = page.evaluate(MARKERS_IN_VIEW)
    names_at_first = page.locator(".pp-street-label").count()
    page.evaluate(f"void {LEAFLET_MAP}.setZoom(17, {{animate: false}})")
    page.wait_for_timeout(300)
    names_at_17 = page.locator(".pp-street-label").count()
    context.close()
    assert outside == []
    assert 5 <= shown <= 30, shown  # the passages' places, not 125 transit stops
    assert names_at_first == 0 and names_at_17 > 0  # street names from street zoom only


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("which", ["plan", "officers", "side"])
def test_no_control_overlaps_another(browser: Any, maps: dict[str, Path], downtown_officer_maps: dict[str, Path],
                                     which: str, viewport: dict[str, int]) -> None:
    path = maps["downtown"] if which == "plan" else downtown_officer_maps[which]
    phone = viewport == PHONE
    context, page, outside = open_offline(browser, path, viewport=viewport, is_mobile=phone, has_touch=phone)
    frames = [f for f in page.frames if f != page.main_frame] if which == "side" else [page.main_frame]
    assert len(frames) == (2 if which == "side" else 1)
    boxes = [frame.evaluate(CONTROL_BOXES) for frame in frames]
    context.close()
    assert outside == []
    for frame_boxes in boxes:
        assert len(frame_boxes) >= 6  # title, legend, zoom, locate, layers, attribution (and scale)
        assert overlapping(frame_boxes) == []

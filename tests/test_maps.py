"""Tests of passages.maps: what the plan map shows, what it leaves out, how it is written."""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point

import passages._io
from passages import maps
from passages._errors import InputError
from passages.areas import Area
from passages.maps import (
    HOT_COLOR,
    PASSAGE_COLOR,
    RISK_COLORS,
    ZERO_RISK_COLOR,
    plan_map,
    save_map,
)

LAT, LON = 34.0, -118.25
AREA = Area(slug="test", name="Test Gardens", kind="custom", lat=LAT, lon=LON, radius_m=800.0)
CREDIT = "Incidents: LAPD open data, aggregated to streets"
#: An incident location handed to no function: it must never reach the map.
DECOY = (-118.2471234, 34.0012345)

SEGMENT_PROPS = {"name", "risk_per_100m"}
PASSAGE_PROPS = {"name", "length_m", "demand"}
PLACE_PROPS = {"name", "note"}


def grid(n: int, *, seed: int = 7, step_deg: float = 0.0005) -> gpd.GeoDataFrame:
    """Street segments on an n x n grid around the area centre (3 vertices each)."""
    rng = np.random.default_rng(seed)
    xs = LON - n * step_deg / 2 + np.arange(n) * step_deg * 1.2
    ys = LAT - n * step_deg / 2 + np.arange(n) * step_deg
    geoms, names = [], []
    for i in range(n):
        for j in range(n - 1):
            mid_x = (xs[j] + xs[j + 1]) / 2
            geoms.append(LineString([(xs[j], ys[i]), (mid_x, ys[i] + 1e-6), (xs[j + 1], ys[i])]))
            names.append(f"E {i + 1}th St" if i % 3 else None)
            mid_y = (ys[j] + ys[j + 1]) / 2
            geoms.append(LineString([(xs[i], ys[j]), (xs[i] + 1e-6, mid_y), (xs[i], ys[j + 1])]))
            names.append(f"Avenue {i + 1}")
    risk = np.where(rng.random(len(geoms)) < 0.3, 0.0, rng.gamma(1.2, 0.8, len(geoms)))
    frame = gpd.GeoDataFrame(
        {"name": names, "length_m": 55.0, "risk_per_100m": risk}, geometry=geoms, crs=4326
    )
    frame["hot"] = frame["risk_per_100m"] >= np.quantile(risk, 0.95)
    # Columns the map must not copy into its HTML.
    frame["incidents"] = 3
    frame["osmid"] = np.arange(len(frame)) + 990_000_000
    return frame


def passages_of(segments: gpd.GeoDataFrame, *, seed: int = 7) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    chosen = segments.iloc[:: max(1, len(segments) // 40)]
    frame = chosen[["name", "length_m", "risk_per_100m", "geometry"]].copy()
    frame["demand"] = rng.gamma(2.0, 60.0, len(frame))
    return frame.reset_index(drop=True)


def make_places() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "kind": ["school", "school", "transit", "park", "library"],
            "name": [
                "Jordan High School", "Far Away Academy", "103rd St / Grape",
                "Jordan Downs Rec Center", "Watts Library",
            ],
            "snap_m": [12.0, 410.0, 5.0, 30.0, 15.0],
            "usable": [True, False, True, True, True],
        },
        geometry=[
            Point(LON + 0.002, LAT + 0.001), Point(LON + 0.009, LAT + 0.008),
            Point(LON - 0.001, LAT - 0.002), Point(LON + 0.003, LAT - 0.003),
            Point(LON - 0.003, LAT + 0.002),
        ],
        crs=4326,
    )


@pytest.fixture(scope="module")
def inputs() -> dict[str, Any]:
    segments = grid(12)
    return {
        "area": AREA,
        "segments": segments,
        "passages": passages_of(segments),
        "places": make_places(),
    }


@pytest.fixture(scope="module")
def page(inputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    path = save_map(plan_map(**inputs, credits=[CREDIT]), tmp_path_factory.mktemp("m") / "map.html")
    return path.read_text(encoding="utf-8")


def layers(page: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The (style, FeatureCollection) of every GeoJSON layer drawn, in order."""
    styles = [json.loads(m) for m in re.findall(r"^\s*style: (\{.*\}),$", page, re.MULTILINE)]
    datas = [json.loads(m) for m in re.findall(r"geo_json_\d+\.addData\((\{.*\})\);$", page, re.MULTILINE)]
    assert len(styles) == len(datas) > 0
    return list(zip(styles, datas, strict=True))


def prop_keys(collection: dict[str, Any]) -> set[str]:
    return {key for feature in collection["features"] for key in feature["properties"]}


# --------------------------------------------------------------------------- content


def test_page_shows_layers_legend_attribution_and_places(page: str) -> None:
    assert PASSAGE_COLOR in page
    for layer in ("Study area", "Streets by risk", "Hot segments", "Safe Passages",
                  "Schools", "Transit stops", "Parks", "Libraries"):
        assert f'"{layer}"' in page
    assert 'id="pp-legend"' in page
    assert "Street risk per 100 m" in page and "no risk recorded" in page
    assert "Hot segment (highest risk)" in page
    assert "© OpenStreetMap contributors (ODbL)" in page
    assert CREDIT in page
    assert "<title>Safe Passages: Test Gardens</title>" in page
    for name in ("Jordan High School", "103rd St / Grape", "Jordan Downs Rec Center",
                 "Watts Library", "Far Away Academy"):
        assert name in page
    assert "L.control.layers(" in page


def test_only_documented_properties_reach_the_html(page: str, inputs: dict[str, Any]) -> None:
    kinds = {"segments": 0, "passages": 0, "places": 0}
    for style, data in layers(page):
        keys = prop_keys(data)
        geom_types = {f["geometry"]["type"] for f in data["features"]}
        if style.get("color") == PASSAGE_COLOR:
            assert keys == PASSAGE_PROPS
            kinds["passages"] += 1
        elif geom_types == {"Point"}:
            assert keys <= PLACE_PROPS
            kinds["places"] += 1
        elif keys:
            assert keys == SEGMENT_PROPS
            kinds["segments"] += 1
    assert all(kinds.values()), kinds
    assert "osmid" not in page and "990000" not in page and "incidents" not in page
    lon, lat = DECOY
    assert f"{lon:.6f}" not in page and f"{lat:.6f}" not in page


def test_coordinates_are_rounded(page: str) -> None:
    for _, data in layers(page):
        for feature in data["features"]:
            text = json.dumps(feature["geometry"]["coordinates"])
            decimals = [len(m) for m in re.findall(r"\.(\d+)", text)]
            assert max(decimals) <= maps.COORD_DECIMALS


def test_passage_colour_is_the_passages_own(page: str) -> None:
    others = (*RISK_COLORS, ZERO_RISK_COLOR, HOT_COLOR, maps.OUTLINE_COLOR, maps.UNUSABLE_COLOR)
    assert PASSAGE_COLOR not in others
    assert PASSAGE_COLOR not in {style[3] for style in maps.PLACE_STYLES.values()}
    for style, data in layers(page):
        if style.get("color") == PASSAGE_COLOR:
            assert prop_keys(data) == PASSAGE_PROPS


def test_passages_widen_with_demand(page: str) -> None:
    drawn = [(style["weight"], [f["properties"]["demand"] for f in data["features"]])
             for style, data in layers(page) if style.get("color") == PASSAGE_COLOR]
    assert len(drawn) == 3
    drawn.sort()
    for (_, lower), (_, higher) in itertools.pairwise(drawn):
        assert max(lower) <= min(higher)


def test_risk_classes_and_hot_layer(page: str, inputs: dict[str, Any]) -> None:
    segments = inputs["segments"]
    by_color: dict[str, int] = {}
    for style, data in layers(page):
        color = style.get("color")
        if color in (*RISK_COLORS, ZERO_RISK_COLOR):
            by_color[color] = by_color.get(color, 0) + len(data["features"])
            if color == ZERO_RISK_COLOR:
                assert {f["properties"]["risk_per_100m"] for f in data["features"]} == {0}
        if color == HOT_COLOR:
            assert len(data["features"]) == int(segments["hot"].sum())
            assert style["weight"] > maps.STREET_WEIGHT
    assert set(by_color) == {*RISK_COLORS, ZERO_RISK_COLOR}
    assert sum(by_color.values()) == len(segments)
    positive = [by_color[c] for c in RISK_COLORS]
    assert max(positive) - min(positive) <= 0.05 * sum(positive) + 2  # quantile classes


def test_unusable_place_is_greyed_with_a_note(page: str) -> None:
    assert "not routed: 410 m from the nearest street" in page
    assert "pp-unusable" in page


def test_tiles_are_optional_but_attribution_is_not(inputs: dict[str, Any]) -> None:
    with_tiles = plan_map(**inputs).get_root().render()
    without = plan_map(**inputs, tiles=False).get_root().render()
    assert "tile.openstreetmap.org" in with_tiles
    assert "L.tileLayer(" not in without and "tile.openstreetmap.org" not in without
    for page in (with_tiles, without):
        assert "© OpenStreetMap contributors (ODbL)" in page
        assert "attributionControl.addAttribution" in page
    # Only Leaflet is loaded: no jQuery, Bootstrap or Font Awesome from CDNs.
    assert "jquery" not in without.lower() and "bootstrap" not in without.lower()


def test_names_are_escaped(inputs: dict[str, Any]) -> None:
    places = make_places()
    places.loc[0, "name"] = "<script>alert(1)</script> & Co"
    page = plan_map(**{**inputs, "places": places}).get_root().render()
    assert "<script>alert(1)" not in page
    assert "alert(1)" in page


def test_degenerate_inputs_still_draw(inputs: dict[str, Any]) -> None:
    flat = inputs["segments"].assign(risk_per_100m=0.0, hot=False)
    page = plan_map(
        **{**inputs, "segments": flat, "passages": inputs["passages"].iloc[:0],
           "places": inputs["places"].iloc[:0]},
    ).get_root().render()
    colors = {style.get("color") for style, _ in layers(page)}
    assert ZERO_RISK_COLOR in colors
    assert not colors & {*RISK_COLORS, HOT_COLOR, PASSAGE_COLOR}
    tied = inputs["segments"].assign(risk_per_100m=1.5)
    page = plan_map(**{**inputs, "segments": tied}).get_root().render()
    risk_colors = {style.get("color") for style, _ in layers(page)} & set(RISK_COLORS)
    assert len(risk_colors) == 1


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("frame", ["segments", "passages", "places"])
def test_wrong_crs_is_refused(inputs: dict[str, Any], frame: str) -> None:
    with pytest.raises(InputError, match="EPSG:4326") as info:
        plan_map(**{**inputs, frame: inputs[frame].to_crs(32611)})
    assert info.value.field == "crs"
    assert frame in str(info.value)


@pytest.mark.parametrize(
    ("frame", "column"),
    [("segments", "risk_per_100m"), ("segments", "hot"), ("passages", "demand"),
     ("places", "usable"), ("places", "kind")],
)
def test_missing_column_is_named(inputs: dict[str, Any], frame: str, column: str) -> None:
    with pytest.raises(InputError, match=column) as info:
        plan_map(**{**inputs, frame: inputs[frame].drop(columns=column)})
    assert info.value.field == column


def test_bad_values_are_refused(inputs: dict[str, Any]) -> None:
    negative = inputs["segments"].copy()
    negative.loc[3, "risk_per_100m"] = -1.0
    with pytest.raises(InputError) as info:
        plan_map(**{**inputs, "segments": negative})
    assert info.value.field == "risk_per_100m"
    odd = make_places()
    odd.loc[2, "kind"] = "bus"
    with pytest.raises(InputError, match="bus") as info:
        plan_map(**{**inputs, "places": odd})
    assert info.value.field == "kind"
    points = inputs["segments"].copy()
    points["geometry"] = [Point(line.coords[0]) for line in points.geometry]
    with pytest.raises(InputError, match="LineString"):
        plan_map(**{**inputs, "segments": points})


# --------------------------------------------------------------------------- output


def test_same_plan_gives_identical_html(inputs: dict[str, Any], tmp_path: Path) -> None:
    first = save_map(plan_map(**inputs, credits=[CREDIT]), tmp_path / "a.html").read_bytes()
    second = save_map(plan_map(**inputs, credits=[CREDIT]), tmp_path / "b.html").read_bytes()
    assert first == second
    assert not re.search(rb"_[0-9a-f]{32}\b", first), "a random folium id is left"


def test_save_map_creates_folders_and_leaves_no_temp_file(
    inputs: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "maps" / "test" / "plan.html"
    assert save_map(plan_map(**inputs), target) == target
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in target.parent.iterdir()) == ["plan.html"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_save_keeps_the_old_map(
    inputs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "plan.html"
    target.write_text("old map", encoding="utf-8")

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(passages._io.os, failing, boom)
    with pytest.raises(OSError, match="disk full"):
        save_map(plan_map(**inputs), target)
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "old map"
    assert os.listdir(tmp_path) == ["plan.html"]


def test_a_5000_segment_map_stays_small(tmp_path: Path) -> None:
    segments = grid(51)  # 5,100 segments
    assert len(segments) >= 5000
    fmap = plan_map(area=AREA, segments=segments, passages=passages_of(segments),
                    places=make_places(), credits=[CREDIT])
    size = save_map(fmap, tmp_path / "big.html").stat().st_size
    assert size < 2_000_000, f"{size:,} bytes"


def test_maps_carry_leaflet_inline_unless_asked_not_to(inputs: dict[str, Any]) -> None:
    inline = plan_map(**inputs, tiles=False).get_root().render()
    assert "<script src=" not in inline and '<link rel="stylesheet" href=' not in inline
    assert "Leaflet 1.9.4" in inline  # the library's own banner
    assert "url(images/" not in inline  # its control images are data URIs
    linked = plan_map(**inputs, tiles=False, self_contained=False).get_root().render()
    assert "leaflet@1.9.4/dist/leaflet.js" in linked
    assert len(linked) < len(inline)


# --------------------------------------------------------------------------- officer-grade


def officer_frames() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Posts numbered by rank (officer 1 holds posts 3 and 7) and one loop of officer 2."""
    posts = gpd.GeoDataFrame(
        {"number": ["3", "7", "2.1"], "officer": [1, 1, 2],
         "label": ["Post 3: Avenue 2 & E 2nd St", "Post 7", "Officer 2, stop 1"]},
        geometry=[Point(LON, LAT), Point(LON + 0.001, LAT), Point(LON - 0.001, LAT)], crs=4326,
    )
    ring = LineString([(LON - 0.002, LAT - 0.001), (LON + 0.002, LAT - 0.001), (LON + 0.002, LAT + 0.001),
                       (LON - 0.002, LAT + 0.001), (LON - 0.002, LAT - 0.001)])
    loops = gpd.GeoDataFrame({"officer": [2], "label": ["Officer 2: loop"], "length_m": [900.0], "minutes": [12.0]},
                             geometry=[ring], crs=4326)
    return posts, loops


def label_data(page: str) -> dict[str, Any]:
    found = re.findall(r"^\s*labels\.addData\((\{.*\})\);$", page, re.MULTILINE)
    assert len(found) == 1, "one street-name layer"
    return dict(json.loads(found[0]))


def test_street_names_are_drawn_offline_from_street_zoom(inputs: dict[str, Any]) -> None:
    page = plan_map(**inputs, tiles=False).get_root().render()
    data = label_data(page)
    names = {f["properties"]["name"] for f in data["features"]}
    assert names and names <= {str(n) for n in inputs["segments"]["name"].dropna()}
    # one label per run of a name, not one per segment
    assert len(data["features"]) < len(inputs["passages"])
    assert all(-90 < f["properties"]["angle"] <= 90 for f in data["features"])
    assert "pp-street-label" in page and "textContent = feature.properties.name" in page
    assert "map.getZoom() >= 16" in page
    # nothing from the network: no script, style sheet or tile from a URL
    assert not re.search(r"""(src|href)=["']https?://[^"']*\.(js|css)""", page)
    assert "L.tileLayer(" not in page and "{s}.tile" not in page


def test_a_street_run_gets_one_label_and_blank_names_none() -> None:
    from passages._map_labels import label_points

    run = [LineString([(LON + i * 0.0005, LAT), (LON + (i + 1) * 0.0005, LAT)]) for i in range(4)]  # ~185 m
    blank = [LineString([(LON, LAT + 0.001), (LON + 0.001, LAT + 0.001)])]
    segments = gpd.GeoDataFrame({"name": ["<b>Main</b> St"] * 4 + ["  "]}, geometry=run + blank, crs=4326)
    data = label_points(segments, segments)
    assert [f["properties"]["name"] for f in data["features"]] == ["<b>Main</b> St"]
    assert abs(data["features"][0]["properties"]["angle"]) <= 2  # east-west (UTM grid convergence aside)
    x, y = data["features"][0]["geometry"]["coordinates"]
    assert x == pytest.approx(LON + 0.001, abs=1e-5) and y == pytest.approx(LAT, abs=1e-6)
    page = plan_map(area=AREA, segments=segments.assign(length_m=46.0, risk_per_100m=0.0, hot=False),
                    passages=segments.assign(length_m=46.0, demand=1.0, risk_per_100m=0.0),
                    places=make_places()).get_root().render()
    assert "<b>Main" not in page and "\\u003cb\\u003eMain" in page  # text, never markup


def test_officer_legend_carries_the_markers_numbers_and_dashes(inputs: dict[str, Any]) -> None:
    posts, loops = officer_frames()
    page = plan_map(**inputs, posts=posts, loops=loops).get_root().render()
    legend = page[page.index('id="pp-legend"'):]
    legend = legend[: legend.index("</details>")]
    assert "Officer 1: posts 3, 7" in legend and "Officer 2: stop 2.1" in legend
    assert re.findall(r'class="pp-officer"[^>]*>([^<]*)<', legend) == ["3", "7", "2.1"]
    assert f'stroke-dasharray="{maps.officer_dash(2)}"' in legend
    assert len({maps.officer_dash(o) for o in range(1, 7)}) == 6
    # loops and posts are drawn in panes above the passages (overlay pane, z-index 400)
    assert '.createPane("pp-loops").style.zIndex = 450' in page
    assert 'pane: "pp-loops"' in page and 'pane: "pp-posts"' in page


def test_places_no_route_uses_wait_for_street_zoom(inputs: dict[str, Any]) -> None:
    places = make_places()
    places["routed"] = [True, False, False, True, True]
    page = plan_map(**{**inputs, "places": places}).get_root().render()
    gates = re.findall(r"^\s*\}\)\((map_\d+), \[(.*)\]\);$", page, re.MULTILINE)
    assert len(gates) == 2  # the near layers from zoom 16, the merged far ones below it
    assert "Places no route uses show from zoom 16" in page
    near_layers = re.findall(r"\[(geo_json_\d+), feature_group_\d+\]", gates[0][1])
    data = dict(re.findall(r"^\s*(geo_json_\d+)\.addData\((\{.*\})\);$", page, re.MULTILINE))
    assert any("103rd St / Grape" in data[name] for name in near_layers)
    assert not any("103rd St / Grape" in data[name] for name in re.findall(r"geo_json_\d+", gates[1][1]))


def test_labels_come_from_the_label_column_when_there_is_one() -> None:
    from geopandas import GeoDataFrame
    from shapely.geometry import LineString

    from passages._map_labels import label_points

    lines = [LineString([(-118.250, 34.040), (-118.245, 34.040)]), LineString([(-118.250, 34.041), (-118.249, 34.041)])]
    segments = GeoDataFrame({"name": ["East 5th Street", "alley off E 5th St"], "label": ["East 5th Street", ""]},
                            geometry=lines, crs=4326)
    names = {f["properties"]["name"] for f in label_points(segments, segments)["features"]}
    assert names == {"East 5th Street"}

"""Community concerns: read, put on streets, shown on the map, and avoided when weighted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point
from street_graphs import ladder

from passages._errors import InputError
from passages.areas import load_areas
from passages.concerns import read_concerns, segment_concerns
from passages.maps import map_html, plan_map
from passages.plan import PlanInputs, load_plan_inputs, map_layers, plan_documents
from passages.routes import plan_routes
from passages.scenarios import PlanParameters
from passages.streetindex import StreetIndex

CRS = "EPSG:32611"


def walk(origin: int, dest: int) -> pd.DataFrame:
    return pd.DataFrame([{"pair_id": "P001", "purpose": "home-school", "origin_id": "site", "origin_name": "site",
                          "origin_node": origin, "dest_id": "school:1", "dest_name": "school", "dest_kind": "school",
                          "dest_node": dest, "demand": 100.0}])


def concerns_at(geometries: list[object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"concern_id": [str(i) for i in range(len(geometries))], "category": "dark at night",
                             "date": "2026-10-01", "note": ""}, geometry=geometries, crs=CRS)


def test_a_point_lies_on_its_nearest_street_and_a_stretch_on_the_streets_it_follows() -> None:
    index = StreetIndex(ladder())
    found = segment_concerns(concerns_at([Point(150.0, 8.0), Point(150.0, 500.0),
                                          LineString([(100.0, 3.0), (300.0, 3.0)])]), index, snap_m=30.0)
    bottom = {s for s in range(index.n_segments) if index.node_xy[index.segment_u[s], 1] == 0
              and index.node_xy[index.segment_v[s], 1] == 0}
    point_on, far_on, stretch_on = found.concerns["segments"]
    assert len(point_on) == 1 and int(point_on[0]) in bottom
    assert index.segment_geometry[point_on[0]].distance(Point(150.0, 8.0)) == pytest.approx(8.0)
    assert len(far_on) == 0  # 400 m from every street
    # the stretch along y = 3 from x = 100 to 300 follows two bottom blocks, not the rungs it crosses
    assert set(stretch_on.tolist()) <= bottom and len(stretch_on) == 2
    assert found.count.sum() == 3 and found.count.max() == 2


def test_a_weighted_concern_moves_the_safer_path_and_an_unweighted_one_does_not() -> None:
    index = StreetIndex(ladder())
    risk = np.zeros(index.n_segments)
    # "dark at night" on the middle of the bottom street, the shortest way from node 0 to node 5
    found = segment_concerns(concerns_at([LineString([(150.0, 2.0), (350.0, 2.0)])]), index, snap_m=30.0)
    shown = plan_routes(index, walk(0, 5), risk, risk_lambda=2.0, max_detour=0.5, concerns=found.count,
                        concern_weight=0.0)
    avoided = plan_routes(index, walk(0, 5), risk, risk_lambda=2.0, max_detour=0.5, concerns=found.count,
                          concern_weight=2.0)
    assert shown.routes["safer_m"].iloc[0] == pytest.approx(500.0)
    assert shown.safer_segments[0].tolist() == shown.shortest_segments[0].tolist()
    # the top street is 700 m: within the 50 % detour, and it meets no concern
    assert avoided.routes["safer_m"].iloc[0] == pytest.approx(700.0)
    assert found.count[avoided.safer_segments[0]].sum() == 0
    # the detour bound still holds: with a 25 % bound the concern cannot be avoided
    tight = plan_routes(index, walk(0, 5), risk, risk_lambda=2.0, max_detour=0.25, concerns=found.count,
                        concern_weight=2.0)
    assert tight.routes["safer_m"].iloc[0] == pytest.approx(500.0)
    with pytest.raises(InputError, match="concern weight"):
        plan_routes(index, walk(0, 5), risk, concerns=found.count, concern_weight=-1.0)


def test_concerns_files_are_read_and_bad_ones_named(tmp_path: Path) -> None:
    good = tmp_path / "meeting.csv"
    good.write_text("lat,lon,category,date,who\n34.05,-118.25,Dark at night,2026-10-01,Jane\n"
                    "34.06,-118.24,no safe crossing,,\n", encoding="utf-8")
    frame = read_concerns(good)
    assert frame["category"].tolist() == ["dark at night", "no safe crossing"]
    assert frame["date"].tolist() == ["2026-10-01", ""]
    assert "who" not in frame.columns  # nothing about who said it is kept
    lines = tmp_path / "walk.geojson"
    lines.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"category": "fast traffic", "date": "2026-09-02"},
         "geometry": {"type": "LineString", "coordinates": [[-118.25, 34.05], [-118.249, 34.05]]}}]}),
        encoding="utf-8")
    assert read_concerns(lines).geometry.iloc[0].geom_type == "LineString"
    cases = {
        "lat,lon,date\n34.05,-118.25,2026-01-01\n": ("category", None),
        "lat,lon,category\n34.05,-118.25,\n": ("category", 2),
        "lat,lon,category,date\n34.05,-118.25,dark,not a date\n": ("date", 2),
        "lat,lon,category\n1839421.5,6481234.2,dark\n": ("lat", 2),
        "x,y,category\n34.05,-118.25,dark\n": ("lat", None),
    }
    for i, (text, (field, row)) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.csv"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InputError) as caught:
            read_concerns(bad)
        assert caught.value.field == field and caught.value.row == row and caught.value.path == bad, text
    zipped = tmp_path / "zipped.csv"
    zipped.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with pytest.raises(InputError, match="ZIP archive"):
        read_concerns(zipped)
    polygon = tmp_path / "polygon.geojson"
    polygon.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"category": "x"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [0, 0]]]}}]}), encoding="utf-8")
    with pytest.raises(InputError, match="not a point or a line"):
        read_concerns(polygon)


@pytest.fixture(scope="module")
def downtown(shared_data: Path, network_cache: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[PlanInputs, Path]]:
    """Downtown's inputs with a concerns file naming the middle of three passage segments."""
    area = load_areas()["downtown"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("passages.settings.processed_dir", network_cache.parent / "processed")
        plain = load_plan_inputs(area, data_dir=shared_data, offline=True)
        passages = plain.plan().passages().sort_values("demand", ascending=False).head(3)
        middles = shapely.line_interpolate_point(passages.geometry.array, 0.5, normalized=True)
        lon, lat = shapely.get_coordinates(gpd.GeoSeries(middles, crs=passages.crs).to_crs("EPSG:4326").array).T
        path = tmp_path_factory.mktemp("concerns") / "meeting.csv"
        pd.DataFrame({"lat": lat, "lon": lon, "category": "dark at night", "date": "2026-10-01"}).to_csv(
            path, index=False)
        inputs = load_plan_inputs(area, data_dir=shared_data, offline=True,
                                  place_sources={"concerns": [path]})
        yield inputs, path


def test_a_concerns_file_changes_the_map_and_with_a_weight_the_passages(downtown: tuple[PlanInputs, Path]) -> None:
    inputs, _ = downtown
    shown = inputs.plan(PlanParameters())
    figures = shown.summary()["concerns"]
    assert figures["read"] == 3 and figures["on_streets"] == 3 and figures["on_passages"] == 3
    html = plan_documents(shown, tiles=False)[0].decode("utf-8")
    assert "Community concerns" in html and "dark at night" in html
    avoided = inputs.plan(PlanParameters(concern_weight=10.0))
    assert avoided.summary()["concerns"]["on_passages"] < 3
    counted = shown.concerns
    assert counted is not None
    walked_before = float((shown.route_set.segment_demand * counted.count).sum())
    walked_after = float((avoided.route_set.segment_demand * counted.count).sum())
    assert walked_after < walked_before
    # risk is untouched: only the paths change
    np.testing.assert_array_equal(shown.risk.risk_per_100m, avoided.risk.risk_per_100m)
    # the public map never shows them, even when handed them
    segments, passages, places = map_layers(shown)
    public = map_html(plan_map(area=shown.area, segments=segments, passages=passages, places=places,
                               community=True, tiles=False,
                               concerns=counted.concerns[["category", "date", "geometry"]].to_crs("EPSG:4326")))
    assert "Community concerns" not in public.decode("utf-8") and "dark at night" not in public.decode("utf-8")

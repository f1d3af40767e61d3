"""Tests of passages.places: readers, merging, clipping, de-duplication and snapping."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box
from shapely.geometry.base import BaseGeometry

from passages import places as pl
from passages._errors import EmptyResultError, InputError
from passages.areas import Area, load_areas
from passages.streetindex import StreetIndex

LAT0, LON0 = 34.0, -118.25
M_PER_DEG_LAT = 111_000.0
M_PER_DEG_LON = 111_000.0 * math.cos(math.radians(LAT0))


def north(metres: float) -> float:
    return LAT0 + metres / M_PER_DEG_LAT


def east(metres: float) -> float:
    return LON0 + metres / M_PER_DEG_LON


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_geojson(path: Path, records: list[dict[str, object]], geoms: list[BaseGeometry],
                  crs: str = "EPSG:4326") -> Path:
    gpd.GeoDataFrame(records, geometry=geoms, crs=crs).to_file(path, driver="GeoJSON")
    return path


def gtfs_row(stop_id: str, name: str, lat: float, lon: float, **extra: object
             ) -> dict[str, object]:
    return {"stop_id": stop_id, "stop_name": name, "stop_lat": lat, "stop_lon": lon, **extra}


def area_here(radius_m: float = 1200.0) -> Area:
    return Area("test", "Test", "custom", LAT0, LON0, radius_m)


# ----------------------------------------------------------------- bad inputs

READERS = [pl.read_schools, pl.read_transit_stops, pl.read_parks, pl.read_libraries,
           pl.read_osm_places]


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.__name__)
def test_missing_file_names_the_file(reader, tmp_path):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(InputError, match=r"nowhere\.csv: file not found"):
        reader(path)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.__name__)
def test_empty_file_names_the_file(reader, tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("")
    with pytest.raises(InputError, match=r"blank\.csv: file is empty"):
        reader(path)


@pytest.mark.parametrize("reader", READERS[:4], ids=lambda r: r.__name__)
def test_header_only_or_garbage_is_an_input_error(reader, tmp_path):
    header = tmp_path / "header.csv"
    header.write_text("stop_id,stop_name,stop_lat,stop_lon,name,lat,lon\n")
    with pytest.raises(InputError, match=r"header\.csv: has no rows"):
        reader(header)
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("{not json")
    with pytest.raises(InputError, match=r"garbage\.geojson: cannot be read"):
        reader(garbage)


def test_overpass_reader_rejects_json_without_elements(tmp_path):
    path = tmp_path / "features.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match=r"features\.json.*'elements'"):
        pl.read_osm_places(path)


@pytest.mark.parametrize("missing", ["stop_id", "stop_name", "stop_lat", "stop_lon"])
def test_gtfs_missing_column_names_file_and_column(tmp_path, missing):
    row = gtfs_row("1", "Main / 1st", LAT0, LON0)
    del row[missing]
    path = write_csv(tmp_path / "stops.txt", [row])
    with pytest.raises(InputError) as caught:
        pl.read_transit_stops(path)
    assert caught.value.field == missing
    assert "stops.txt" in str(caught.value) and repr(missing) in str(caught.value)


def test_schools_missing_columns_name_file_and_column(tmp_path):
    no_name = write_csv(tmp_path / "schools.csv",
                        [{"source_id": "1", "latitude": LAT0, "longitude": LON0}])
    with pytest.raises(InputError, match=r"schools.csv, field 'name': required column missing"):
        pl.read_schools(no_name)
    no_lat = write_csv(tmp_path / "schools2.csv", [{"name": "A", "longitude": LON0}])
    with pytest.raises(InputError, match=r"schools2.csv, field 'latitude'.*columns=\{'lat'"):
        pl.read_schools(no_lat)
    wrong_map = write_csv(tmp_path / "schools3.csv",
                          [{"School": "A", "latitude": LAT0, "longitude": LON0}])
    with pytest.raises(InputError, match=r"schools3.csv, field 'SchoolName'"):
        pl.read_schools(wrong_map, columns={"name": "SchoolName"})
    assert pl.read_schools(wrong_map, columns={"name": "School"})["name"].tolist() == ["A"]


def test_parks_and_libraries_missing_name_column(tmp_path):
    parks = write_geojson(tmp_path / "parks.geojson", [{"acres": 2.0}],
                          [box(LON0, LAT0, east(50), north(50))])
    with pytest.raises(InputError, match=r"parks.geojson, field 'Name': required column"):
        pl.read_parks(parks)
    libraries = write_csv(tmp_path / "libs.csv", [{"lat": LAT0, "lon": LON0}])
    with pytest.raises(InputError, match=r"libs.csv, field 'name': required column"):
        pl.read_libraries(libraries)


def test_rows_without_location_are_counted_and_skipped(tmp_path):
    path = write_csv(tmp_path / "stops.txt", [
        gtfs_row("1", "A / B", LAT0, LON0),
        gtfs_row("2", "C / D", 0.0, 0.0),
        gtfs_row("3", "E / F", "", LON0),
    ])
    with pytest.warns(UserWarning, match="2 of 3 stop rows have no usable location"):
        stops = pl.read_transit_stops(path)
    assert stops["place_id"].tolist() == ["transit:1"]


# ----------------------------------------------------------------- transit


def test_bus_stops_of_one_name_merge_within_100_m(tmp_path):
    path = tmp_path / "stops.txt"
    # GTFS as LA Metro writes it: leading spaces in stop_lat, empty location_type.
    path.write_text(
        "stop_id,stop_code,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
        f"10,10,Vermont / Manchester,  {LAT0:.6f},{LON0:.6f},,\n"
        f"11,11,Vermont / Manchester,  {north(30):.6f},{LON0:.6f},,\n"
        f"20,20,Broadway / 5th,  {LAT0:.6f},{east(2000):.6f},,\n"
        f"21,21,Broadway / 5th,  {north(500):.6f},{east(2000):.6f},,\n"
        f"30,30,Other Name,  {north(10):.6f},{LON0:.6f},,\n"
    )
    stops = pl.read_transit_stops(path)
    by_id = stops.set_index("place_id")
    assert sorted(by_id.index) == ["transit:10", "transit:20", "transit:21", "transit:30"]
    merged = by_id.loc["transit:10", "geometry"]
    assert merged.y == pytest.approx(north(15), abs=1e-6)  # the centre of the two
    assert (by_id["kind"] == "transit").all() and by_id["enrollment"].isna().all()


def test_rail_keeps_stations_and_drops_entrances(tmp_path):
    rows = [
        gtfs_row("801", "Union Station", LAT0, LON0, location_type=0, parent_station="801S"),
        gtfs_row("801S", "Union Station", LAT0, LON0, location_type=1, parent_station=""),
        gtfs_row("801A", "Union Station", LAT0, LON0, location_type=2, parent_station="801S"),
        gtfs_row("802", "7th St / Metro Center", north(2000), LON0, location_type=0,
                 parent_station="802S"),
        gtfs_row("802S", "7th St / Metro Center", north(2000), LON0, location_type=1,
                 parent_station=""),
    ]
    stations = pl.read_transit_stops(write_csv(tmp_path / "rail.txt", rows))
    assert sorted(stations["place_id"]) == ["transit:801S", "transit:802S"]
    platforms_only = [r for r in rows if r["location_type"] in (0, 2)]
    stops = pl.read_transit_stops(write_csv(tmp_path / "plat.txt", platforms_only))
    assert sorted(stops["place_id"]) == ["transit:801", "transit:802"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A / B", "C / D", "E / F"]),
                          st.floats(0, 400), st.floats(0, 400)), min_size=1, max_size=25))
def test_merge_stops_matches_brute_force(stops_spec):
    names = [name for name, _, _ in stops_spec]
    stops = pl._places_frame(
        pd.DataFrame(index=range(len(stops_spec))), kind="transit",
        ids=pd.Series([str(i) for i in range(len(stops_spec))]), names=pd.Series(names),
        source="t", geometry=[Point(east(x), north(y)) for _, x, y in stops_spec])
    merged = pl.merge_stops(stops)
    # Oracle: union-find over every same-name pair at most 100 m apart (in UTM metres).
    utm = np.asarray(stops.to_crs("EPSG:32611").geometry, dtype=object)
    parent = list(range(len(stops)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(stops)):
        for j in range(i + 1, len(stops)):
            if names[i] == names[j] and utm[i].distance(utm[j]) <= 100.0:
                parent[max(root(i), root(j))] = min(root(i), root(j))
    groups: dict[int, list[int]] = {}
    for i in range(len(stops)):
        groups.setdefault(root(i), []).append(i)
    assert sorted(merged["place_id"]) == sorted(f"transit:{min(g)}" for g in groups.values())
    for _, row in merged.iterrows():
        members = groups[root(int(row["place_id"].split(":")[1]))]
        assert row.geometry.x == pytest.approx(np.mean([stops.geometry[m].x for m in members]))
        assert row.geometry.y == pytest.approx(np.mean([stops.geometry[m].y for m in members]))


# ----------------------------------------------------------------- schools, parks, libraries


def test_k12_filter_drops_colleges_and_keeps_enrollment(tmp_path):
    records = [
        {"OBJECTID": 1, "cat2": "Elementary Schools", "name": "Main Street Elementary",
         "source_id": "19647330000001", "enrollment": 420.0},
        {"OBJECTID": 2, "cat2": "Colleges, Universities, and Professional Schools",
         "name": "City College", "source_id": "C1", "enrollment": 9000.0},
        {"OBJECTID": 3, "cat2": "Adult Education Schools", "name": "Adult School",
         "source_id": "A1", "enrollment": 50.0},
        {"OBJECTID": 4, "cat2": "High Schools", "name": "Jordan High", "source_id": None,
         "enrollment": -999.0},
    ]
    geoms = [Point(east(100 * i), LAT0) for i in range(4)]
    schools = pl.read_schools(write_geojson(tmp_path / "schools.geojson", records, geoms))
    assert schools["name"].tolist() == ["Main Street Elementary", "Jordan High"]
    assert schools["place_id"].tolist() == ["school:19647330000001", "school:4"]
    assert schools["enrollment"].iloc[0] == 420.0 and np.isnan(schools["enrollment"].iloc[1])
    assert schools.crs.to_epsg() == 4326


def test_parks_reprojected_and_repaired(tmp_path):
    # A bow-tie polygon (invalid) in California State Plane zone V, US feet, like DPR.
    bowtie = shapely.Polygon([(0, 0), (300, 300), (300, 0), (0, 300), (0, 0)])
    square = box(6_480_000, 1_830_000, 6_480_500, 1_830_500)
    path = tmp_path / "dpr.gpkg"
    gpd.GeoDataFrame({"PARK_NAME": ["Square Park", "Bowtie Park"], "UNIT_ID": [7, 8]},
                     geometry=[square, shapely.affinity.translate(bowtie, 6_480_000, 1_831_000)],
                     crs="EPSG:2229").to_file(path)
    parks = pl.read_parks(path)
    assert parks["place_id"].tolist() == ["park:DPR:7", "park:DPR:8"]
    assert parks.crs.to_epsg() == 4326 and parks.is_valid.all()
    assert set(parks.geom_type) <= {"Polygon", "MultiPolygon"}
    assert -119 < parks.total_bounds[0] < -117


def test_library_rows_of_trojanmap_csv(tmp_path):
    path = write_csv(tmp_path / "data.csv", [
        {"id": 368169838, "lat": LAT0, "lon": LON0, "name": "Vernon Branch",
         "attributes": "{'library'}", "neighbors": "{'1'}"},
        {"id": 5, "lat": LAT0, "lon": LON0, "name": "", "attributes": "", "neighbors": ""},
        {"id": 6, "lat": LAT0, "lon": LON0, "name": "St Agnes", "attributes": "{'school'}",
         "neighbors": ""},
    ])
    libraries = pl.read_libraries(path)
    assert libraries["place_id"].tolist() == ["library:osm:node/368169838"]
    assert libraries["name"].tolist() == ["Vernon Branch"]


# ----------------------------------------------------------------- OpenStreetMap


def overpass_response() -> dict[str, object]:
    def node(ident: int, x_m: float, y_m: float, **tags: str) -> dict[str, object]:
        element: dict[str, object] = {"type": "node", "id": ident, "lat": north(y_m),
                                      "lon": east(x_m)}
        if tags:
            element["tags"] = tags
        return element

    square = [node(1, 0, 0), node(2, 80, 0), node(3, 80, 80), node(4, 0, 80)]
    yard = [node(11, 300, 0), node(12, 340, 0), node(13, 340, 40), node(14, 300, 40)]
    return {
        "version": 0.6,
        "elements": [
            *square, *yard,
            node(5, 500, 500, amenity="school", name="Vernon Elementary"),
            node(6, 40, 40, leisure="park", name="Little Park"),  # a node inside its way
            node(7, 900, 0, amenity="library", name="Vernon Branch"),
            node(8, 600, 600, amenity="restaurant", name="Tacos"),
            {"type": "way", "id": 100, "nodes": [1, 2, 3, 4, 1],
             "tags": {"leisure": "park", "name": "Little Park"}},
            {"type": "way", "id": 101, "nodes": [11, 12, 13, 14, 11],
             "tags": {"amenity": "community_centre", "name": "Rec Center"}},
            {"type": "way", "id": 102, "nodes": [1, 2], "tags": {"highway": "residential"}},
            {"type": "way", "id": 103, "nodes": [1, 2, 3],  # not closed: not a place
             "tags": {"leisure": "playground"}},
            {"type": "way", "id": 104, "nodes": [11, 12, 13, 14, 11]},
            {"type": "relation", "id": 200,
             "tags": {"type": "multipolygon", "amenity": "school", "name": "Campus High"},
             "members": [{"type": "way", "ref": 104, "role": "outer"}]},
        ],
    }


def test_read_osm_places_from_overpass_dict():
    places = pl.read_osm_places(overpass_response()).set_index("place_id")
    assert sorted(places.index) == [
        "library:osm:node/7", "park:osm:node/6", "park:osm:way/100", "park:osm:way/101",
        "school:osm:node/5", "school:osm:relation/200",
    ]
    assert places.loc["park:osm:way/100", "geometry"].geom_type == "Polygon"
    assert places.loc["park:osm:way/101", "name"] == "Rec Center"
    assert places.loc["school:osm:relation/200", "geometry"].area > 0
    assert (places["source"] == "OpenStreetMap").all()
    assert pl.read_osm_places({"elements": []}).empty


def test_load_places_osm_file_drops_the_node_of_a_mapped_park(tmp_path):
    path = tmp_path / "overpass.json"
    path.write_text(json.dumps(overpass_response()))
    places = pl.load_places(area_here(), sources={"osm": [path]})
    assert places.crs.to_epsg() == 32611
    assert places["place_id"].tolist() == [
        "library:osm:node/7", "park:osm:way/100", "park:osm:way/101",
        "school:osm:relation/200", "school:osm:node/5"]
    assert list(places.columns) == list(pl.COLUMNS)
    assert places.index.equals(pd.RangeIndex(len(places)))


def test_osm_places_online_converts_osmnx_features(monkeypatch, tmp_path):
    import osmnx as ox

    seen = {}

    def fake_features(polygon, tags):
        seen["tags"], seen["cache"] = tags, ox.settings.cache_folder
        frame = gpd.GeoDataFrame(
            {"element": ["node", "way", "way"], "id": [5, 100, 102],
             "amenity": ["school", None, None], "leisure": [None, "playground", None],
             "name": ["Vernon Elementary", "Tot Lot", None]},
            geometry=[Point(LON0, LAT0), box(LON0, LAT0, east(40), north(40)),
                      shapely.LineString([(LON0, LAT0), (east(9), LAT0)])],
            crs="EPSG:4326")
        return frame.set_index(["element", "id"])

    before = ox.settings.cache_folder
    monkeypatch.setattr(ox, "features_from_polygon", fake_features)
    places = pl.osm_places_online(area_here(), cache_dir=tmp_path)
    assert seen["cache"] == str(tmp_path) and ox.settings.cache_folder == before
    assert set(seen["tags"]["leisure"]) == {"park", "playground", "recreation_ground"}
    assert places["place_id"].tolist() == ["school:osm:node/5", "park:osm:way/100"]


@pytest.mark.network
@pytest.mark.skipif(not os.environ.get("PASSAGES_NETWORK_TESTS"),
                    reason="live Overpass query; set PASSAGES_NETWORK_TESTS=1 to run")
def test_osm_places_online_live(tmp_path):  # pragma: no cover - never in CI
    places = pl.osm_places_online(load_areas()["south-central"], cache_dir=tmp_path)
    assert (places["kind"] == "school").any()


# ----------------------------------------------------------------- load_places


def test_load_places_clips_dedupes_and_sorts(tmp_path):
    park = box(east(100), north(100), east(300), north(300))
    rap = write_geojson(tmp_path / "rap.geojson",
                        [{"Name": "Jazz Park", "Park_ID": "209"},
                         {"Name": "Far Park", "Park_ID": "1"}],
                        [park, box(east(9000), LAT0, east(9100), north(100))])
    dpr = write_geojson(tmp_path / "dpr.geojson", [{"PARK_NAME": "JAZZ PARK", "UNIT_ID": 5}],
                        [shapely.affinity.translate(park, 0.0002, 0)])
    stops = write_csv(tmp_path / "stops.txt", [
        gtfs_row("1", "A / B", LAT0, LON0), gtfs_row("2", "A / B", north(20), LON0),
        gtfs_row("3", "Edge / Far", north(1190), LON0),
        gtfs_row("4", "Outside", north(1300), LON0)])
    schools = write_csv(tmp_path / "schools.csv", [
        {"name": "Zeta School", "latitude": north(-200), "longitude": LON0},
        {"name": "Alpha School", "latitude": north(-300), "longitude": LON0}])
    sources = {"parks": [rap, dpr], "transit": [stops], "schools": [schools],
               "network": ["ignored.json"], "incidents": ["ignored.csv"]}
    with pytest.warns(UserWarning, match="no library"):
        places = pl.load_places(area_here(), sources={**sources, "libraries": []})
    assert places[["kind", "name"]].to_numpy().tolist() == [
        ["park", "Jazz Park"], ["school", "Alpha School"], ["school", "Zeta School"],
        ["transit", "A / B"], ["transit", "Edge / Far"]]
    assert places.loc[0, "place_id"] == "park:RAP:209"
    assert places["place_id"].is_unique
    assert places.intersects(area_here().study_polygon_utm).all()


def test_load_places_rejects_unknown_kind_and_nothing_found(tmp_path):
    with pytest.raises(InputError, match="unknown kind of place 'shops'"):
        pl.load_places(area_here(), sources={"shops": []})
    far = write_csv(tmp_path / "stops.txt", [gtfs_row("1", "A / B", 35.0, LON0)])
    with pytest.raises(EmptyResultError):
        pl.load_places(area_here(), sources={"transit": [far]})


def test_same_school_id_in_two_files_stays_unique(tmp_path):
    one = write_csv(tmp_path / "a.csv", [{"source_id": "9", "name": "North School",
                                          "latitude": north(400), "longitude": LON0}])
    two = write_csv(tmp_path / "b.csv", [{"source_id": "9", "name": "South School",
                                          "latitude": north(-400), "longitude": LON0}])
    places = pl.load_places(area_here(), sources={"schools": [one, two]})
    assert sorted(places["place_id"]) == ["school:9", "school:9~2"]


# ----------------------------------------------------------------- snapping


class FakeIndex:
    """Stands for passages.network.StreetIndex: nodes at known UTM points."""

    def __init__(self, nodes: dict[int, tuple[float, float]], crs: str | None = None) -> None:
        self.ids = np.array(list(nodes), dtype=np.int64)
        self.points = shapely.points(np.array(list(nodes.values())))
        if crs is not None:
            self.crs = crs

    def street_access(self, geoms: Sequence[BaseGeometry] | np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
        gaps = shapely.distance(np.asarray(geoms, dtype=object)[:, None], self.points[None, :])
        best = gaps.argmin(axis=1)
        return self.ids[best], gaps[np.arange(len(best)), best]


def test_snap_places_flags_far_places_and_reports_them():
    places = gpd.GeoDataFrame(
        {"place_id": ["school:1", "transit:2", "park:RAP:3", "school:4"],
         "kind": ["school", "transit", "park", "school"], "name": ["a", "b", "c", "d"],
         "source": "t", "enrollment": [300.0, np.nan, np.nan, np.nan]},
        geometry=[Point(10, 0), Point(1000, 40), box(480, -20, 560, 20), Point(5000, 0)],
        crs="EPSG:32611")
    index = FakeIndex({101: (0.0, 0.0), 102: (1000.0, 0.0), 103: (500.0, 0.0)})
    with pytest.warns(UserWarning, match=r"1 of 4 places lie more than 150 m.*1 school"):
        snapped = pl.snap_places(places, index)
    assert snapped["node"].tolist() == [101, 102, 103, 102]
    assert snapped["node"].dtype == np.int64
    assert snapped["snap_m"].tolist() == pytest.approx([10.0, 40.0, 0.0, 4000.0])
    assert snapped["usable"].tolist() == [True, True, True, False]
    assert pl.snap_report(snapped) == {
        "school": {"usable": 1, "too_far": 1}, "transit": {"usable": 1, "too_far": 0},
        "park": {"usable": 1, "too_far": 0}, "library": {"usable": 0, "too_far": 0},
        "business": {"usable": 0, "too_far": 0}}
    with pytest.warns(UserWarning, match=r"more than 20 m.*1 transit"):
        strict = pl.snap_places(places.iloc[:3], index, max_snap_m=20)
    assert strict["usable"].tolist() == [True, False, True]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all usable: no warning
        pl.snap_places(places.iloc[:3], index)
    assert pl.snap_places(places.iloc[:0], index)["node"].dtype == np.int64


def test_snap_places_checks_units():
    places = gpd.GeoDataFrame({"place_id": ["school:1"], "kind": ["school"], "name": ["a"],
                               "source": "t", "enrollment": [1.0]},
                              geometry=[Point(LON0, LAT0)], crs="EPSG:4326")
    with pytest.raises(InputError, match="degrees"):
        pl.snap_places(places, FakeIndex({1: (0.0, 0.0)}))
    utm_point = gpd.GeoSeries([Point(LON0, LAT0)], crs="EPSG:4326").to_crs("EPSG:32611")[0]
    index = FakeIndex({1: (utm_point.x + 30, utm_point.y)}, crs="EPSG:32611")
    assert pl.snap_places(places, index)["snap_m"].iloc[0] == pytest.approx(30, abs=0.01)
    with pytest.raises(InputError, match="max_snap_m"):
        pl.snap_places(places, index, max_snap_m=-1)
    with pytest.raises(InputError, match="snap_places"):
        pl.snap_report(places)


# ----------------------------------------------------------------- real data


PLACE_SOURCES = ("schools", "transit", "parks", "libraries")


@pytest.fixture(scope="module")
def sample_places(request) -> dict[str, gpd.GeoDataFrame]:
    shared_data = request.getfixturevalue("shared_data")
    areas = load_areas()
    out = {}
    for slug in ("south-la", "south-central", "downtown"):
        area = areas[slug]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no library within the study area"
            out[slug] = pl.load_places(
                area, sources={k: area.source_paths(k, shared_data) for k in PLACE_SOURCES})
    return out


@pytest.mark.parametrize("slug", ["south-la", "south-central", "downtown"])
def test_sample_areas_have_places(sample_places, slug):
    places = sample_places[slug]
    area = load_areas()[slug]
    counts = places["kind"].value_counts()
    assert counts.get("school", 0) > 0
    assert counts.get("transit", 0) > 0
    assert counts.get("park", 0) > 0
    assert places.crs.to_string() == area.crs == "EPSG:32611"
    assert places.intersects(area.study_polygon_utm).all()
    assert places["place_id"].is_unique
    assert list(places.columns) == list(pl.COLUMNS)
    assert places.index.equals(pd.RangeIndex(len(places)))
    ordered = places.sort_values(["kind", "name", "place_id"]).index
    assert ordered.equals(places.index)


def test_south_central_reaches_vernon_branch_library(shared_data):
    # Vernon Branch (34.0025 N, -118.2562 E) is 1.58 km from the sample centre, beyond
    # the default 1,200 m walking radius; a 1,700 m study area takes it in.
    area = load_areas()["south-central"].with_radius(1700)
    places = pl.load_places(area, sources={"libraries": area.source_paths("libraries",
                                                                          shared_data)})
    assert "Vernon Branch Los Angeles Public Library" in set(places["name"])


def test_real_transit_files(shared_data):
    rail = pl.read_transit_stops(shared_data / "transit/lacmta_gtfs_rail/stops.txt")
    assert len(rail) == 102 and rail["place_id"].str.endswith("S").all()  # stations only
    gis = pl.read_transit_stops(shared_data / "transit/lacmta_gis/230711_All_MetroRail_Stations.zip")
    assert len(gis) == 107 and gis.crs.to_epsg() == 4326
    bus = pl.read_transit_stops(shared_data / "transit/lacmta_gtfs_bus/stops.txt")
    assert 5000 < len(bus) < 12100  # corner stops merged into junctions
    schools = pl.read_schools(
        shared_data / "poi/Schools_Colleges_and_Universities_2522050561787199890.geojson")
    assert len(schools) == 3179 - 173 - 54  # colleges and adult schools dropped


def test_snap_real_places_on_real_graph(shared_data, sample_places, tmp_path):
    from passages.network import load_network

    area = load_areas()["south-central"]
    graph = load_network(area, area.source_paths("network", shared_data)[0],
                         cache_dir=tmp_path, use_cache=False)
    snapped = pl.snap_places(sample_places["south-central"], StreetIndex(graph))
    assert set(snapped["node"]) <= set(graph.nodes)
    report = pl.snap_report(snapped)
    for kind in ("school", "transit", "park"):
        assert report[kind]["usable"] > 0
    # Stops stand at the kerb: every one is within a street's width of a street.
    assert snapped.loc[snapped["kind"] == "transit", "snap_m"].max() < 40
    # A school mid-block is near its street even when far from the next corner.
    schools = snapped[snapped["kind"] == "school"]
    assert schools["usable"].all()

"""Hostile and broken place files: each ends in one InputError naming the file and the field.

Wrong CRS (projected feet read as degrees, a .prj that does not fit the numbers), swapped
latitude and longitude, broken GTFS zips, GDAL-sniffed content, control characters in
names; and property tests that fuzz every reader: a result or an InputError, nothing else.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from passages import places as pl
from passages._errors import InputError
from passages.areas import Area

LAT0, LON0 = 34.0, -118.25
# The same point in EPSG:2229 (California zone V, US survey feet).
FEET_X, FEET_Y = 6485891.4, 1822476.4


def area_here() -> Area:
    return Area("test", "Test", "custom", LAT0, LON0, 1200.0)


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def refused(call: Callable[[], object], path: Path, *fields: str) -> InputError:
    """Run ``call``; assert it raises one InputError naming ``path`` and each field."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError) as caught:
            call()
    message = str(caught.value)
    assert str(path) in message, message
    for field in fields:
        assert field in message, message
    assert "\n" not in message
    return caught.value


# ----------------------------------------------------------------- wrong CRS, swapped coordinates


def test_projected_feet_given_as_lat_lon_name_the_file_and_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "schools.csv", [
        {"name": "A", "latitude": FEET_Y, "longitude": FEET_X},
        {"name": "B", "latitude": FEET_Y + 500, "longitude": FEET_X + 300}])
    error = refused(lambda: pl.read_schools(path), path, "'latitude, longitude'", "not longitude/latitude")
    assert "EPSG:4326" in (error.fix or "")


def test_swapped_lat_lon_in_los_angeles_is_named_a_swap(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "stops.txt", [
        {"stop_id": "1", "stop_name": "A", "stop_lat": LON0, "stop_lon": LAT0},
        {"stop_id": "2", "stop_name": "B", "stop_lat": LON0 + 0.01, "stop_lon": LAT0}])
    error = refused(lambda: pl.read_transit_stops(path), path, "'stop_lat, stop_lon'", "swapped")
    assert "stop_lat" in (error.fix or "")


def test_swapped_lat_lon_that_stay_in_range_are_caught_against_the_area(tmp_path: Path) -> None:
    # lat 40 / lon 10 swapped is lat 10 / lon 40: both are valid degrees; only the area tells
    area = Area("east-africa", "Somewhere", "custom", 10.0, 40.0, 1200.0)
    path = write_csv(tmp_path / "schools.csv", [{"name": "A", "latitude": 40.0, "longitude": 10.0}])
    assert len(pl.read_schools(path)) == 1  # without an area nothing is wrong
    refused(lambda: pl.load_places(area, sources={"schools": [path]}), path,
            "'latitude, longitude'", "swapped")


def test_a_few_bad_rows_are_skipped_but_most_bad_rows_refuse_the_file(tmp_path: Path) -> None:
    rows = [{"name": f"S{i}", "latitude": LAT0, "longitude": LON0 + i * 1e-4} for i in range(5)]
    few = write_csv(tmp_path / "few.csv", [*rows, {"name": "X", "latitude": FEET_Y, "longitude": FEET_X}])
    with pytest.warns(UserWarning, match="1 of 6 school rows have no usable location"):
        assert len(pl.read_schools(few)) == 5
    most = write_csv(tmp_path / "most.csv", [rows[0], *[{"name": "X", "latitude": FEET_Y, "longitude": FEET_X}] * 2])
    refused(lambda: pl.read_schools(most), most, "latitude")


def test_geojson_with_feet_coordinates_and_no_crs(tmp_path: Path) -> None:
    path = tmp_path / "schools.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "A"},
         "geometry": {"type": "Point", "coordinates": [FEET_X, FEET_Y]}}]}))
    refused(lambda: pl.read_schools(path), path, "'geometry'", "not longitude/latitude")


def test_geojson_with_swapped_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "parks.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"Name": "A"},
         "geometry": {"type": "Point", "coordinates": [LAT0, LON0]}}]}))
    refused(lambda: pl.read_parks(path), path, "'geometry'", "swapped")


def test_declared_projected_crs_holding_degrees(tmp_path: Path) -> None:
    path = tmp_path / "parks.gpkg"
    gpd.GeoDataFrame({"Name": ["A"]}, geometry=[Point(LON0, LAT0)], crs="EPSG:2229").to_file(path)
    refused(lambda: pl.read_parks(path), path, "'geometry'", "look like degrees", "US survey foot")


def test_declared_crs_that_does_not_fit_lands_far_away(tmp_path: Path) -> None:
    # feet of EPSG:2229 declared as EPSG:3857 metres: valid degrees, in the Arabian Sea
    path = tmp_path / "parks.gpkg"
    gpd.GeoDataFrame({"Name": ["A"]}, geometry=[Point(FEET_X, FEET_Y)], crs="EPSG:3857").to_file(path)
    assert len(pl.read_parks(path)) == 1
    refused(lambda: pl.load_places(area_here(), sources={"parks": [path]}), path,
            "'geometry'", "within 500 km", "'test'")


def test_declared_crs_that_puts_points_off_the_earth(tmp_path: Path) -> None:
    path = tmp_path / "parks.gpkg"
    gpd.GeoDataFrame({"Name": ["A"]}, geometry=[Point(1e9, 1e9)], crs="EPSG:32611").to_file(path)
    refused(lambda: pl.read_parks(path), path, "'geometry'", "cannot be placed on Earth")


def test_real_layers_still_pass_the_area_check(shared_data: Path) -> None:
    area = area_here()
    parks = pl.read_parks(shared_data / "poi/la_county_dpr_parks/DPR_Park_Facilities_View_(Accessible_Parks).shp",
                          area=area)
    stops = pl.read_transit_stops(shared_data / "transit/lacmta_gis/230711_All_MetroRail_Stations.zip", area=area)
    assert len(parks) > 100 and len(stops) > 50


# ----------------------------------------------------------------- GTFS zips


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("members", "expected"),
    [({"stops.txt": b"stop_id,stop_name,stop_lat,stop_lon\n"}, "stops.txt has no rows"),
     ({"gtfs/stops.txt": b"stop_id,stop_name,stop_lat,stop_lon\n"}, "stops.txt has no rows"),
     ({"stops.txt": b""}, "stops.txt in the zip is empty"),
     ({"stops.txt": b"\x00\x01\x02binary"}, "binary data"),
     ({"stops.txt": "stop_id,stop_name\n1,\u00e9\n".encode("latin-1")}, "cannot be read"),
     ({"agency.txt": b"agency_id\n1\n"}, "no shapefile (.shp) and no GTFS stops.txt"),
     ({"x.shp": b"<OGRVRTDataSource/>"}, "inside is not a shapefile")],
    ids=["header-only", "nested-header-only", "empty", "binary", "latin-1", "no-stops", "fake-shp"],
)
def test_broken_gtfs_zips_are_one_input_error(tmp_path: Path, members: dict[str, bytes], expected: str) -> None:
    path = write_zip(tmp_path / "gtfs.zip", members)
    refused(lambda: pl.read_transit_stops(path), path, expected)


def test_corrupt_zip_and_a_zip_that_is_not_one(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 50)
    refused(lambda: pl.read_transit_stops(corrupt), corrupt, "zip")
    text = tmp_path / "text.zip"
    text.write_text("stop_id,stop_name\n")
    refused(lambda: pl.read_transit_stops(text), text, "is not a .zip file")


def test_header_only_stops_txt(tmp_path: Path) -> None:
    path = tmp_path / "stops.txt"
    path.write_text("stop_id,stop_name,stop_lat,stop_lon\n")
    refused(lambda: pl.read_transit_stops(path), path, "has no rows")


# ----------------------------------------------------------------- files that are not what they say


def test_gdal_never_sniffs_a_vrt_in_a_geojson(tmp_path: Path) -> None:
    path = tmp_path / "schools.geojson"
    path.write_text('<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd'
                    "</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>")
    refused(lambda: pl.read_schools(path), path, "is not a .geojson file")


@pytest.mark.parametrize("reader", [pl.read_schools, pl.read_parks, pl.read_libraries, pl.read_transit_stops],
                         ids=lambda r: r.__name__)
def test_folders_devices_binary_and_unknown_types(reader: Callable[[Path], object], tmp_path: Path) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    refused(lambda: reader(folder), folder, "is a folder")
    refused(lambda: reader(Path("/dev/zero")), Path("/dev/zero"), "not a regular file")
    binary = tmp_path / "layer.csv"
    binary.write_bytes(b"%PDF-1.7\x00\x01")
    refused(lambda: reader(binary), binary, "a PDF document")
    unknown = tmp_path / "layer.kml"
    unknown.write_text("<kml/>")
    refused(lambda: reader(unknown), unknown, "unknown file type '.kml'")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,latitude,longitude\nEcole \u00e9,34,-118\n".encode("latin-1"))
    refused(lambda: reader(latin), latin, "cannot be read")


def test_names_lose_control_and_bidi_characters(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "schools.csv", [
        {"source_id": "1\x1b[2J", "name": "Evil\u202eloohcS \x1b[31mHigh\n", "latitude": LAT0, "longitude": LON0},
        {"source_id": "2", "name": "\u200b\x07", "latitude": LAT0, "longitude": LON0 + 0.001}])
    schools = pl.read_schools(path)
    assert schools["name"].tolist() == ["EvilloohcS [31mHigh", "unnamed school"]
    assert schools["place_id"].tolist() == ["school:1 [2J", "school:2"]


def test_enrollment_that_is_infinite_or_absurd_is_unknown(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "schools.csv", [
        {"name": "A", "enrollment": "inf", "latitude": LAT0, "longitude": LON0},
        {"name": "B", "enrollment": "1e308", "latitude": LAT0, "longitude": LON0 + 0.001},
        {"name": "C", "enrollment": "450", "latitude": LAT0, "longitude": LON0 + 0.002}])
    enrollment = pl.read_schools(path)["enrollment"].tolist()
    assert pd.isna(enrollment[0]) and pd.isna(enrollment[1]) and enrollment[2] == 450


def test_overpass_json_with_odd_elements(tmp_path: Path) -> None:
    path = tmp_path / "osm.json"
    path.write_text(json.dumps({"elements": [1, "x", {"type": "node", "tags": {"amenity": "school"}}]}))
    refused(lambda: pl.read_osm_places(path), path, "cannot be read")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    refused(lambda: pl.read_osm_places(deep), deep, "not valid JSON")


# ----------------------------------------------------------------- property tests

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

cells = st.one_of(
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["", "nan", "inf", "-inf", "1e308", "34.0", "-118.25", "0", "\u202e", "=cmd"]),
)
headers = st.lists(st.sampled_from(["name", "latitude", "longitude", "lat", "lon", "stop_id", "stop_name",
                                    "stop_lat", "stop_lon", "location_type", "enrollment", "cat2", "id",
                                    "attributes", "Name", "geometry", "x", "y"]),
                   min_size=1, max_size=8)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    header = draw(headers)
    rows = draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header)), max_size=6))
    frame = pd.DataFrame(rows, columns=header)
    return frame.to_csv(index=False)


def outcome(reader: Callable[..., gpd.GeoDataFrame], path: Path, **kwargs: object) -> None:
    """The only outcomes of a reader: a places frame, or an InputError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = reader(path, **kwargs)
        except InputError as error:
            assert "\n" not in str(error)
            return
    assert isinstance(result, gpd.GeoDataFrame)
    assert list(result.columns) == list(pl.COLUMNS)


@FUZZ
@given(text=csv_texts(), raw=st.binary(max_size=200), kind=st.sampled_from(["structured", "raw", "text"]),
       free=st.text(max_size=200))
def test_fuzzed_csv_files_give_places_or_one_input_error(tmp_path: Path, text: str, raw: bytes, kind: str,
                                                         free: str) -> None:
    path = tmp_path / "layer.csv"
    if kind == "raw":
        path.write_bytes(raw)
    else:
        path.write_text(text if kind == "structured" else free, encoding="utf-8")
    for reader in (pl.read_schools, pl.read_libraries, pl.read_parks, pl.read_transit_stops):
        outcome(reader, path)
    outcome(pl.read_schools, path, area=area_here())


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
coordinates = st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=0, max_size=3)
geometries = st.one_of(
    json_values,
    st.builds(lambda c: {"type": "Point", "coordinates": c}, coordinates),
    st.builds(lambda c: {"type": "Polygon", "coordinates": [[c, c, c, c]]}, coordinates),
)
features = st.builds(
    lambda props, geom: {"type": "Feature", "properties": props, "geometry": geom},
    st.one_of(st.dictionaries(st.sampled_from(["name", "Name", "cat2", "enrollment", "id"]), json_values,
                              max_size=4), json_values),
    geometries,
)
geojsons = st.one_of(
    json_values,
    st.builds(lambda fs: {"type": "FeatureCollection", "features": fs}, st.lists(features, max_size=4)),
)


@FUZZ
@given(data=geojsons)
def test_fuzzed_geojson_files_give_places_or_one_input_error(tmp_path: Path, data: object) -> None:
    path = tmp_path / "layer.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    for reader in (pl.read_schools, pl.read_parks, pl.read_libraries):
        outcome(reader, path)
    outcome(pl.read_parks, path, area=area_here())
    overpass = tmp_path / "overpass.json"
    overpass.write_text(json.dumps({"elements": data if isinstance(data, list) else [data]}), encoding="utf-8")
    outcome(pl.read_osm_places, overpass)


@FUZZ
@given(text=csv_texts(), raw=st.binary(max_size=120), use_raw=st.booleans(),
       name=st.sampled_from(["stops.txt", "feed/stops.txt", "agency.txt", "x.shp"]))
def test_fuzzed_gtfs_zips_give_stops_or_one_input_error(tmp_path: Path, text: str, raw: bytes, use_raw: bool,
                                                        name: str) -> None:
    path = write_zip(tmp_path / "gtfs.zip", {name: raw if use_raw else text.encode("utf-8")})
    outcome(pl.read_transit_stops, path)
    outcome(pl.read_transit_stops, path, area=area_here())
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(path.read_bytes()[: max(4, len(path.read_bytes()) // 2)])
    outcome(pl.read_transit_stops, truncated)

"""A planner's areas file: every bad feature is one InputError naming the file, the feature and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passages._errors import InputError
from passages.areas import RADIUS_RANGE_M, Area, _area_from_record, areas_from_geojson, builtin_areas

POINT = {"type": "Point", "coordinates": [-118.25, 34.0]}


def feature(properties: Any = None, geometry: Any = POINT) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"slug": "site"} if properties is None else properties,
            "geometry": geometry}


def write(tmp_path: Path, *features: Any, name: str = "areas.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}), encoding="utf-8")
    return path


def refused(path: Path, row: int | None, field: str | None, text: str = "") -> InputError:
    with pytest.raises(InputError) as caught:
        areas_from_geojson(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message, message
    if row is not None:
        assert f"row {row}" in message, message
    if field is not None:
        assert f"field {field!r}" in message, message
    assert text in message, message
    return caught.value


def test_a_good_file_gives_its_areas(tmp_path: Path) -> None:
    polygon = {"type": "Polygon", "coordinates": [[[-118.25, 34.0], [-118.24, 34.0], [-118.24, 34.01],
                                                   [-118.25, 34.0]]]}
    path = write(tmp_path, feature({"slug": "a", "name": "A\u202e Gardens\x1b", "radius_m": "800"}),
                 feature({"slug": "b_2"}, polygon))
    areas = areas_from_geojson(path)
    assert list(areas) == ["a", "b_2"]
    assert areas["a"].radius_m == 800.0 and areas["a"].name == "A Gardens"
    assert areas["b_2"].site is not None and areas["b_2"].name == "b_2"


@pytest.mark.parametrize(
    ("radius", "text"),
    [("abc", "expected a number"), (float("nan"), "finite"), (float("inf"), "finite"), (True, "expected a number"),
     (1e308, "out of range"), (5001, "out of range"), (99, "out of range"), (-5, "out of range"),
     ([800], "expected a number"), ("1" * 1000, "expected a number")],
)
def test_bad_radius(tmp_path: Path, radius: Any, text: str) -> None:
    path = write(tmp_path, feature(), feature({"slug": "two", "radius_m": radius}))
    refused(path, 2, "radius_m", text)


def test_radius_range_is_documented() -> None:
    assert RADIUS_RANGE_M == (100.0, 5000.0)
    assert "100 to 5,000 m" in (areas_from_geojson.__doc__ or "").replace("\n    ", " ")


@pytest.mark.parametrize("slug", ["..", "/etc", "a/b", "x" * 1000, "-rf", ".hidden", "a b", 42, ["a"]])
def test_unsafe_slugs(tmp_path: Path, slug: Any) -> None:
    error = refused(write(tmp_path, feature({"slug": slug})), 1, "slug", "cannot be used in a file name")
    assert len(str(error)) < 700


def test_missing_and_duplicate_slugs(tmp_path: Path) -> None:
    refused(write(tmp_path, feature({"name": "no slug"})), 1, "slug", "no slug")
    refused(write(tmp_path, feature(), feature()), 2, "slug", "used twice")


@pytest.mark.parametrize("properties", [[1, 2], "slug=a", 3])
def test_properties_that_are_not_an_object(tmp_path: Path, properties: Any) -> None:
    refused(write(tmp_path, feature(properties)), 1, "properties", "must be an object")


@pytest.mark.parametrize(
    ("geometry", "text"),
    [(None, "no geometry"), ({"type": "Point"}, "bad geometry"), ({"type": "Blob", "coordinates": []}, "bad geometry"),
     ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "unsupported geometry"),
     ({"type": "Point", "coordinates": [6485891.4, 1822476.4]}, "not longitude/latitude"),
     ({"type": "Point", "coordinates": [float("nan"), 34.0]}, "not finite"),
     ({"type": "Point", "coordinates": ["x", "y"]}, "bad geometry"),
     ({"type": "Polygon", "coordinates": [[[-119, 33], [-117, 33], [-117, 35], [-119, 33]]]}, "km across")],
)
def test_bad_geometries(tmp_path: Path, geometry: Any, text: str) -> None:
    refused(write(tmp_path, feature(geometry=geometry)), 1, "geometry", text)


def test_missing_geometry_key(tmp_path: Path) -> None:
    refused(write(tmp_path, {"type": "Feature", "properties": {"slug": "a"}}), 1, "geometry", "no geometry")


@pytest.mark.parametrize("content", [b"", b"\x00\x01binary", b"PK\x03\x04zip", b"{not json", b"[]", b'{"features": 3}',
                                     b'{"features": [1]}', b"\xff\xfe latin"])
def test_files_that_are_not_areas(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "areas.geojson"
    path.write_bytes(content)
    refused(path, None, None)


def test_folder_and_missing_file(tmp_path: Path) -> None:
    refused(tmp_path, None, None, "is a folder")
    refused(tmp_path / "none.geojson", None, None, "not found")


def test_records_of_areas_json_are_checked() -> None:
    good = {"slug": "x", "lat": 34.0, "lon": -118.0}
    assert _area_from_record(good, "areas.json", 1) == Area("x", "x", "custom", 34.0, -118.0)
    for bad, field in [({**good, "slug": "../x"}, "slug"), ({**good, "lat": "north"}, "lat"),
                       ({**good, "lon": float("inf")}, "lon"), ({**good, "radius_m": 1e9}, "radius_m"),
                       ({"slug": "x", "lat": 34.0}, "lon"), ({**good, "sources": {"schools": "a.csv"}}, "sources")]:
        with pytest.raises(InputError) as caught:
            _area_from_record(bad, "areas.json", 3)
        assert "areas.json, row 3" in str(caught.value) and f"field {field!r}" in str(caught.value)
    with pytest.raises(InputError, match="must be an object"):
        _area_from_record(["x"], "areas.json", 1)


def test_shipped_areas_still_load() -> None:
    areas = builtin_areas()
    assert len(areas) == 11 and all(a.radius_m == 1200.0 for a in areas.values())


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-10**30, 10**30) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=15,
)
properties = st.dictionaries(st.sampled_from(["slug", "name", "radius_m", "division"]),
                             json_values | st.sampled_from(["site", "a-1", "..", 800, "800"]), max_size=4)
geometry = json_values | st.builds(
    lambda t, c: {"type": t, "coordinates": c}, st.sampled_from(["Point", "Polygon", "MultiPolygon", "LineString"]),
    json_values | st.lists(st.floats(-200, 200), max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=json_values | st.builds(
    lambda fs: {"type": "FeatureCollection", "features": fs},
    st.lists(st.builds(feature, properties | json_values, geometry) | json_values, max_size=4)))
def test_fuzzed_area_files_give_areas_or_one_input_error(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    try:
        areas = areas_from_geojson(path)
    except InputError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    for slug, area in areas.items():
        assert area.slug == slug and RADIUS_RANGE_M[0] <= area.radius_m <= RADIUS_RANGE_M[1]

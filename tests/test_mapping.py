"""Tests of passages.mapping: mapping files read and checked, and the readers reading through them."""

from __future__ import annotations

import csv
import datetime
import json
import math
import string
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

import passages.settings
from passages import places as pl
from passages._errors import InputError
from passages.areas import Area
from passages.incidents import CATEGORIES, IncidentReport, load_incidents
from passages.mapping import (
    COLUMN_KEYS,
    KINDS,
    SETTING_KEYS,
    InputMapping,
    as_mapping,
    mapping_from_dict,
    read_mapping,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "chicago" / "mapping.toml"

LAT0, LON0 = 41.7365, -87.6245  # Chatham, Chicago
AREA = Area("chatham-test", "Chatham", "custom", LAT0, LON0, 1200.0)
M_PER_DEG_LAT = 111_000.0
M_PER_DEG_LON = 111_000.0 * math.cos(math.radians(LAT0))
TODAY = datetime.date(2017, 1, 1)
CHICAGO_HEADER = ["ID", "Case Number", "Date", "Block", "Primary Type", "X Coordinate", "Y Coordinate",
                  "Latitude", "Longitude"]
TO_STATE_PLANE = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3435", always_xy=True)


def here(east_m: float = 0.0, north_m: float = 0.0) -> tuple[float, float]:
    """(lat, lon) this many metres east and north of the area's centre."""
    return LAT0 + north_m / M_PER_DEG_LAT, LON0 + east_m / M_PER_DEG_LON


def crime(ident: int, date: str, kind: str, where: tuple[float, float] = (LAT0, LON0)) -> dict[str, object]:
    x, y = TO_STATE_PLANE.transform(where[1], where[0])
    return {"ID": ident, "Case Number": f"HZ{ident}", "Date": date, "Block": "087XX S STATE ST",
            "Primary Type": kind, "X Coordinate": round(x, 2), "Y Coordinate": round(y, 2),
            "Latitude": where[0], "Longitude": where[1]}


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Mapping[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(header), restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


CRIME_MAPPING = """
[incidents]
lat = "Latitude"
lon = "Longitude"
id = "ID"
date = "Date"
date_format = "%m/%d/%Y %I:%M:%S %p"
crime_type = "Primary Type"

[incidents.categories]
"ROBBERY" = "violent"
"THEFT" = "property"
"WEAPONS VIOLATION" = "other"
"""


def load(paths: Path | list[Path], mapping: object, **options: object) -> tuple[pd.DataFrame, IncidentReport]:
    """Load with no time or weekday filter and no recency; return the points and the report."""
    result = load_incidents(paths, area=AREA, windows=[], weekdays=[], half_life_days=math.inf, today=TODAY,
                            mapping=mapping, **options)  # type: ignore[arg-type]
    report = result.report
    assert report.rows_read == report.used + sum(report.dropped.values())
    return result.points, report


def one_line(error: InputError) -> str:
    text = str(error)
    assert "\n" not in text
    return text


# ----------------------------------------------------------------------------- reading the file


def test_the_example_mapping_reads_and_maps_every_chicago_crime_type_to_a_category() -> None:
    mapping = read_mapping(EXAMPLE)
    spec = mapping.for_file("incidents", Path("gun_crimes_2016.csv"))
    assert spec is not None
    assert spec.columns == {"lat": "Latitude", "lon": "Longitude", "id": "ID", "date": "Date",
                            "crime_type": "Primary Type"}
    assert spec.date_format == "%m/%d/%Y %I:%M:%S %p" and spec.date_has_clock
    table = dict(spec.categories)
    # the five Primary Types of the shared 2016 extract are all listed, with the meaning of the LAPD classes
    assert {k: table[k] for k in ("ROBBERY", "ASSAULT", "BATTERY", "CRIM SEXUAL ASSAULT")} == dict.fromkeys(
        ("ROBBERY", "ASSAULT", "BATTERY", "CRIM SEXUAL ASSAULT"), "violent")
    assert table["WEAPONS VIOLATION"] == "other"
    assert set(table.values()) <= set(CATEGORIES)
    schools = mapping.for_file("schools", Path("any.geojson"))
    assert schools is not None and schools.columns["name"] == "short_name"
    assert mapping.for_file("parks", Path("parks.json")) is None  # no [parks] section: nothing applies


def test_a_file_section_overrides_its_kinds_keys_for_that_file_only(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "m.toml", CRIME_MAPPING + """
default = "other"

[files."old.csv"]
date_format = "%Y-%m-%d"
code = "IUCR"

[files."old.csv".categories]
"THEFT" = "other"
""")
    mapping = read_mapping(path)
    other = mapping.for_file("incidents", tmp_path / "new.csv")
    old = mapping.for_file("incidents", tmp_path / "sub" / "old.csv")
    assert other is not None and old is not None
    assert other.date_format == "%m/%d/%Y %I:%M:%S %p" and old.date_format == "%Y-%m-%d"
    # the file's own crime-type column replaces the kind's, the rest of the kind's columns stay
    assert old.columns["code"] == "IUCR" and "crime_type" not in old.columns
    assert old.columns["lat"] == "Latitude" and other.columns["crime_type"] == "Primary Type"
    assert dict(old.categories)["THEFT"] == "other" and dict(other.categories)["THEFT"] == "property"
    assert dict(old.categories)["ROBBERY"] == "violent"  # entries added over the kind's, not replacing it
    assert old.key_of("code") == '[files."old.csv"] code' and old.key_of("lat") == "[incidents] lat"


def test_as_mapping_takes_a_path_a_dict_or_a_mapping(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "m.toml", CRIME_MAPPING)
    from_file = as_mapping(path)
    import tomllib

    from_dict = as_mapping(tomllib.loads(CRIME_MAPPING))
    assert isinstance(from_file, InputMapping) and from_file == from_dict
    assert as_mapping(from_file) is from_file and as_mapping(None) is None
    assert from_file.digest() == from_dict.digest()
    changed = as_mapping({"incidents": {"lat": "Latitude", "lon": "Lon"}})
    assert changed is not None and changed.digest() != from_file.digest()
    with pytest.raises(InputError, match="mapping"):
        as_mapping(42)  # type: ignore[arg-type]


def test_malformed_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "broken.toml", '[incidents]\nlat = "Latitude"\nlon = Longitude\n')
    with pytest.raises(InputError) as caught:
        read_mapping(path)
    text = one_line(caught.value)
    assert "broken.toml" in text and "line 3" in text and 'key = "value"' in text


@pytest.mark.parametrize(("text", "field", "words"), [
    ('[incident]\nlat = "a"\n', "[incident]", ["did you mean 'incidents'", "[schools]", "[files]"]),
    ('[schools]\nlatitude = "a"\n', "[schools] latitude", ["did you mean 'lat'", "name", "enrolment", "crs"]),
    ('[transit]\ndate = "a"\n', "[transit] date", ["id, lat, lon, name, x, y, crs"]),
    ('[incidents]\nlat = 4\n', "[incidents] lat", ["double quotes"]),
    ('[incidents]\nlat = "a"\ny = "b"\n', "[incidents] y", ["lat column twice"]),
    ('[incidents]\ncode = "a"\ncrime_type = "b"\n', "[incidents] crime_type", ["one of them"]),
    ('[files."a.csv"]\nwhatever = "b"\n', '[files."a.csv"] whatever', ["Keys of a file section"]),
    ('[files."dir/a.csv"]\nlat = "b"\n', '[files."dir/a.csv"]', ["file name only"]),
])
def test_unknown_or_misplaced_keys_are_refused_with_the_known_ones(tmp_path: Path, text: str, field: str,
                                                                   words: list[str]) -> None:
    path = write_toml(tmp_path / "m.toml", text)
    with pytest.raises(InputError) as caught:
        read_mapping(path)
    message = one_line(caught.value)
    assert caught.value.path == path and caught.value.field == field
    for word in words:
        assert word in message


def test_a_category_table_naming_an_unknown_category_is_refused(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "m.toml", '[incidents]\nlat = "a"\n[incidents.categories]\n"ROBBERY" = "violnt"\n')
    with pytest.raises(InputError) as caught:
        read_mapping(path)
    message = one_line(caught.value)
    assert caught.value.field == "[incidents] categories.ROBBERY"
    assert "'violnt'" in message and "did you mean 'violent'" in message
    assert "violent, property, other, unknown" in message
    default = write_toml(tmp_path / "d.toml", '[incidents.categories]\ndefault = "scary"\n')
    with pytest.raises(InputError, match=r"categories\.default"):
        read_mapping(default)


@pytest.mark.parametrize(("key", "value", "words"), [
    ("date_format", "%H:%M", "reads no date"),
    ("date_format", "%m/%d", "day, month and year"),
    ("time_format", "%Y", "reads no time"),
    ("crs", "EPSG:999999", "not a coordinate reference system"),
])
def test_formats_and_crs_are_checked_when_read(tmp_path: Path, key: str, value: str, words: str) -> None:
    path = write_toml(tmp_path / "m.toml", f'[incidents]\nlat = "a"\n{key} = "{value}"\n')
    with pytest.raises(InputError, match=words) as caught:
        read_mapping(path)
    assert caught.value.field == f"[incidents] {key}"


def test_a_file_section_with_a_key_its_kind_does_not_take_is_refused_when_applied(tmp_path: Path) -> None:
    mapping = read_mapping(write_toml(tmp_path / "m.toml", '[files."s.csv"]\ndate_format = "%Y-%m-%d"\n'))
    with pytest.raises(InputError, match=r"unknown key 'date_format'.*Keys of schools files"):
        mapping.for_file("schools", tmp_path / "s.csv")


# ----------------------------------------------------------------------------- incidents through a mapping


def test_crime_types_map_to_categories_and_the_unlisted_are_reported(tmp_path: Path) -> None:
    rows = [crime(1, "01/04/2016 10:13:00 PM", "ROBBERY"), crime(2, "01/05/2016 08:00:00 AM", "theft "),
            crime(3, "01/06/2016 09:00:00 AM", "ARSON"), crime(4, "01/07/2016 09:00:00 AM", "ARSON"),
            crime(5, "01/08/2016 09:00:00 AM", "")]
    data = write_csv(tmp_path / "crimes.csv", CHICAGO_HEADER, rows)
    mapping = write_toml(tmp_path / "m.toml", CRIME_MAPPING)
    points, report = load(data, mapping)
    by_id = dict(zip(points["source_id"], points["category"], strict=True))
    # listed (case and blanks aside), not listed (the default "other"), blank (no type: unknown)
    assert by_id == {"1": "violent", "2": "property", "3": "other", "4": "other", "5": "unknown"}
    note = next(n for n in report.notes if "not in" in n)
    assert "2 rows" in note and "ARSON" in note and "m.toml" in note and "'other'" in note
    with_default = write_toml(tmp_path / "d.toml", CRIME_MAPPING + 'default = "property"\n')
    points, _ = load(data, with_default)
    assert dict(zip(points["source_id"], points["category"], strict=True))["3"] == "property"
    assert report.tables == ["crimes.csv"]  # read through the mapping: not LAPD data


def test_a_date_format_with_a_clock_gives_date_and_time(tmp_path: Path) -> None:
    rows = [crime(1, "01/04/2016 10:13:00 PM", "ROBBERY"), crime(2, "01/05/2016 12:00:00 AM", "ROBBERY"),
            crime(3, "01/06/2016 07:45:00 AM", "ROBBERY")]
    data = write_csv(tmp_path / "crimes.csv", CHICAGO_HEADER, rows)
    points, _ = load(data, write_toml(tmp_path / "m.toml", CRIME_MAPPING))
    occurred = dict(zip(points["source_id"], points["occurred"], strict=True))
    assert occurred["1"] == pd.Timestamp("2016-01-04 22:13") and occurred["2"] == pd.Timestamp("2016-01-05 00:00")
    hours = dict(zip(points["source_id"], points["hour"], strict=True))
    assert hours["3"] == pytest.approx(7.75)
    # the time read from the date applies the time windows: only the 07:45 walk to school is kept
    kept = load_incidents(data, area=AREA, windows=["07:00-08:30"], weekdays=[], today=TODAY,
                          mapping=write_toml(tmp_path / "m2.toml", CRIME_MAPPING))
    assert kept.points["source_id"].tolist() == ["3"]


def test_a_separate_time_column_with_its_own_format(tmp_path: Path) -> None:
    header = ["lat", "lon", "day", "clock"]
    rows = [{"lat": LAT0, "lon": LON0, "day": "2016-01-04", "clock": "730"},
            {"lat": LAT0, "lon": LON0, "day": "2016-01-04", "clock": "1415"},
            {"lat": LAT0, "lon": LON0, "day": "2016-01-04", "clock": "late"}]
    data = write_csv(tmp_path / "t.csv", header, rows)
    mapping = {"incidents": {"lat": "lat", "lon": "lon", "date": "day", "date_format": "%Y-%m-%d",
                             "time": "clock", "time_format": "%H%M"}}
    points, report = load(data, mapping)
    assert sorted(points["hour"].tolist()) == pytest.approx([7.5, 14.25])
    assert report.dropped == {"unparseable time": 1}


def test_a_date_that_does_not_parse_with_the_format_names_row_value_and_format(tmp_path: Path) -> None:
    rows = [crime(1, "2016-01-04 22:13", "ROBBERY"), crime(2, "2016-01-05 08:00", "ROBBERY")]
    data = write_csv(tmp_path / "crimes.csv", CHICAGO_HEADER, rows)
    mapping = write_toml(tmp_path / "m.toml", CRIME_MAPPING)
    with pytest.raises(InputError) as caught:
        load(data, mapping)
    message = one_line(caught.value)
    assert caught.value.path == data and caught.value.row == 1
    assert caught.value.field == "[incidents] date_format"
    assert "'2016-01-04 22:13'" in message and "'%m/%d/%Y %I:%M:%S %p'" in message and "m.toml" in message


def test_a_few_dates_off_the_format_are_dropped_and_noted(tmp_path: Path) -> None:
    rows = [crime(i, "01/04/2016 10:13:00 PM", "ROBBERY") for i in range(1, 5)]
    rows.append(crime(5, "sometime in May", "ROBBERY"))
    data = write_csv(tmp_path / "crimes.csv", CHICAGO_HEADER, rows)
    points, report = load(data, write_toml(tmp_path / "m.toml", CRIME_MAPPING))
    assert len(points) == 4 and report.dropped == {"unparseable date": 1}
    note = next(n for n in report.notes if "do not match" in n)
    assert "row 5" in note and "'sometime in May'" in note


def test_a_mapped_column_the_file_lacks_names_the_key_the_columns_and_the_closest(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "crimes.csv", CHICAGO_HEADER, [crime(1, "01/04/2016 10:13:00 PM", "ROBBERY")])
    mapping = write_toml(tmp_path / "m.toml", CRIME_MAPPING.replace('lat = "Latitude"', 'lat = "Lattitude"'))
    with pytest.raises(InputError) as caught:
        load(data, mapping)
    message = one_line(caught.value)
    assert caught.value.path == mapping and caught.value.field == "[incidents] lat"
    assert "crimes.csv" in message and "X Coordinate" in message and "closest: 'Latitude'" in message
    assert 'lat = "Latitude"' in message  # the fix, ready to paste
    nothing_close = write_toml(tmp_path / "n.toml", CRIME_MAPPING.replace('id = "ID"', 'id = "zzzz"'))
    with pytest.raises(InputError) as caught:
        load(data, nothing_close)
    assert "closest" not in str(caught.value) and caught.value.field == "[incidents] id"


def test_projected_coordinates_mapped_as_degrees_are_caught(tmp_path: Path) -> None:
    rows = [crime(i, "01/04/2016 10:13:00 PM", "ROBBERY", here(50.0 * i, 0.0)) for i in range(1, 6)]
    data = write_csv(tmp_path / "crimes.csv", CHICAGO_HEADER, rows)
    wrong = CRIME_MAPPING.replace('lat = "Latitude"', 'lat = "Y Coordinate"').replace(
        'lon = "Longitude"', 'lon = "X Coordinate"')
    with pytest.raises(InputError) as caught:
        load(data, write_toml(tmp_path / "m.toml", wrong))
    message = one_line(caught.value)
    assert "look projected" in message and caught.value.field == "[incidents] lat, [incidents] lon"
    assert "Latitude, Longitude" in message and "crs" in message


def test_projected_columns_with_their_crs_are_read_as_the_degrees_they_stand_for(tmp_path: Path) -> None:
    spots = [here(-400.0, 300.0), here(0.0, 0.0), here(650.0, -200.0), here(5000.0, 0.0)]  # the last outside
    rows = [crime(i, "01/04/2016 10:13:00 PM", "ROBBERY", spot) for i, spot in enumerate(spots, start=1)]
    data = write_csv(tmp_path / "crimes.csv", CHICAGO_HEADER, rows)
    in_degrees, _ = load(data, write_toml(tmp_path / "deg.toml", CRIME_MAPPING))
    projected = CRIME_MAPPING.replace('lat = "Latitude"', 'y = "Y Coordinate"').replace(
        'lon = "Longitude"', 'x = "X Coordinate"\ncrs = "EPSG:3435"')
    in_feet, report = load(data, write_toml(tmp_path / "feet.toml", projected))
    assert in_feet["source_id"].tolist() == in_degrees["source_id"].tolist() == ["1", "2", "3"]
    assert report.dropped == {"outside study area": 1}
    # the same points to within a few centimetres (the X/Y columns are rounded to 0.01 ft)
    assert np.allclose(in_feet.geometry.x, in_degrees.geometry.x, atol=0.05)
    assert np.allclose(in_feet.geometry.y, in_degrees.geometry.y, atol=0.05)


def test_a_crime_type_column_without_a_table_is_refused(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "crimes.csv", CHICAGO_HEADER, [crime(1, "01/04/2016 10:13:00 PM", "ROBBERY")])
    mapping = write_toml(tmp_path / "m.toml", CRIME_MAPPING.split("[incidents.categories]")[0])
    with pytest.raises(InputError, match=r"no table of crime type") as caught:
        load(data, mapping)
    assert caught.value.path == mapping and caught.value.field == "[incidents] crime_type"


def test_per_file_sections_read_two_exports_of_different_shapes(tmp_path: Path) -> None:
    new = write_csv(tmp_path / "new.csv", CHICAGO_HEADER, [crime(1, "01/04/2016 10:13:00 PM", "ROBBERY")])
    old = write_csv(tmp_path / "old.csv", ["case", "when", "type", "y", "x"],
                    [{"case": "A7", "when": "2015-12-30", "type": "THEFT", "y": LAT0, "x": LON0}])
    mapping = write_toml(tmp_path / "m.toml", CRIME_MAPPING + """
[files."old.csv"]
id = "case"
date = "when"
date_format = "%Y-%m-%d"
crime_type = "type"
lat = "y"
lon = "x"
""")
    points, report = load([new, old], mapping)
    assert dict(zip(points["source_id"], points["category"], strict=True)) == {"1": "violent", "A7": "property"}
    assert sorted(points["occurred"].dt.date.astype(str)) == ["2015-12-30", "2016-01-04"]
    assert report.tables == ["new.csv", "old.csv"]


_NAME = st.text(alphabet=string.ascii_letters + string.digits + " _-()", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s.strip() != "")


@settings(max_examples=25, deadline=None)
@given(names=st.lists(_NAME, min_size=5, max_size=5, unique_by=lambda s: " ".join(s.replace("_", " ").split()
                                                                                  ).upper()))
def test_any_renaming_of_the_columns_reads_the_same_incidents(names: list[str]) -> None:
    """Whatever the columns are called, a mapping naming them gives the points of the plain file."""
    rows = [(here(-300.0, 100.0), "01/04/2016 10:13:00 PM", "ROBBERY", "c1"),
            (here(200.0, -400.0), "02/29/2016 07:05:00 AM", "THEFT", "c2"),
            (here(0.0, 0.0), "03/01/2016 12:00:00 AM", "OTHER THING", "c3")]
    roles = ["lat", "lon", "date", "crime_type", "id"]
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        renamed = base / "renamed.csv"
        plain = base / "plain.csv"
        for path, header in ((renamed, names), (plain, roles)):
            write_csv(path, header, [dict(zip(header, (lat, lon, date, kind, ident), strict=True))
                                     for (lat, lon), date, kind, ident in rows])
        table = {"ROBBERY": "violent", "THEFT": "property"}
        extra = {"date_format": "%m/%d/%Y %I:%M:%S %p", "categories": table}
        got, _ = load(renamed, {"incidents": {**dict(zip(roles, names, strict=True)), **extra}})
        want, _ = load(plain, {"incidents": {**{r: r for r in roles}, **extra}})
    columns = ["source_id", "occurred", "hour", "category", "weight"]
    pd.testing.assert_frame_equal(got[columns].reset_index(drop=True), want[columns].reset_index(drop=True))
    assert np.allclose(got.geometry.x, want.geometry.x) and np.allclose(got.geometry.y, want.geometry.y)


# ----------------------------------------------------------------------------- places through a mapping


def write_schools(path: Path) -> Path:
    frame = gpd.GeoDataFrame(
        {"short_name": ["RYDER", "SIMEON"], "school_id": ["610163", "609726"], "lat": [str(LAT0), str(here(0, 500)[0])],
         "long": [str(LON0), str(LON0)], "students": [410, 1500]},
        geometry=[Point(LON0, LAT0), Point(LON0, here(0, 500)[0])], crs="EPSG:4326")
    frame.to_file(path, driver="GeoJSON")
    return path


def test_schools_read_with_the_mapped_name_id_and_enrolment(tmp_path: Path) -> None:
    schools = write_schools(tmp_path / "cps.geojson")
    mapping = read_mapping(write_toml(tmp_path / "m.toml", '[schools]\nname = "short_name"\nid = "school_id"\n'
                                                           'enrolment = "students"\n'))
    found = pl.read_schools(schools, mapping=mapping.for_file("schools", schools))
    assert sorted(found["name"]) == ["RYDER", "SIMEON"]
    assert sorted(found["place_id"]) == ["school:609726", "school:610163"]
    assert sorted(found["enrollment"]) == [410.0, 1500.0]
    with pytest.raises(InputError, match="required column missing"):
        pl.read_schools(schools)  # without the mapping, no name column


def test_a_place_column_the_file_lacks_names_the_mapping_key_and_the_closest(tmp_path: Path) -> None:
    schools = write_schools(tmp_path / "cps.geojson")
    mapping = write_toml(tmp_path / "m.toml", '[schools]\nname = "shortname"\n')
    with pytest.raises(InputError) as caught:
        pl.load_places(AREA, sources={"schools": [schools]}, mapping=mapping)
    message = one_line(caught.value)
    assert caught.value.path == mapping and caught.value.field == "[schools] name"
    assert "cps.geojson" in message and "closest: 'short_name'" in message and "school_id" in message


def test_projected_place_coordinates_are_caught_and_read_with_their_crs(tmp_path: Path) -> None:
    spots = [here(0, 0), here(300, 200)]
    xy = [TO_STATE_PLANE.transform(lon, lat) for lat, lon in spots]
    data = pd.DataFrame({"SCHOOL": ["A", "B"], "X": [x for x, _ in xy], "Y": [y for _, y in xy],
                         "LATITUDE": [lat for lat, _ in spots], "LONGITUDE": [lon for _, lon in spots]})
    path = tmp_path / "schools.csv"
    data.to_csv(path, index=False)
    wrong = read_mapping(write_toml(tmp_path / "w.toml", '[schools]\nname = "SCHOOL"\nlat = "Y"\nlon = "X"\n'))
    with pytest.raises(InputError) as caught:
        pl.read_schools(path, mapping=wrong.for_file("schools", path))
    message = one_line(caught.value)
    assert "look projected" in message and "LATITUDE, LONGITUDE" in message
    assert caught.value.field == "[schools] lat, [schools] lon"
    right = read_mapping(write_toml(tmp_path / "r.toml",
                                    '[schools]\nname = "SCHOOL"\ny = "Y"\nx = "X"\ncrs = "EPSG:3435"\n'))
    found = pl.read_schools(path, mapping=right.for_file("schools", path)).sort_values("name")
    assert np.allclose(found.geometry.y, [lat for lat, _ in spots], atol=1e-7)
    assert np.allclose(found.geometry.x, [lon for _, lon in spots], atol=1e-7)


def test_transit_stops_with_mapped_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "stops.csv", ["code", "label", "la", "lo"],
                     [{"code": "9", "label": "87th", "la": LAT0, "lo": LON0}])
    mapping = as_mapping({"transit": {"id": "code", "name": "label", "lat": "la", "lon": "lo"}})
    assert mapping is not None
    stops = pl.read_transit_stops(path, mapping=mapping.for_file("transit", path))
    assert stops["place_id"].tolist() == ["transit:9"] and stops["name"].tolist() == ["87th"]


def test_the_places_cache_keys_on_the_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passages.settings, "input_cache", True)
    monkeypatch.setattr(passages.settings, "processed_dir", tmp_path / "processed")
    schools = write_schools(tmp_path / "cps.geojson")
    by_name = {"schools": {"name": "short_name"}}
    by_id = {"schools": {"name": "school_id"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = pl.load_places(AREA, sources={"schools": [schools]}, mapping=by_name)
        second = pl.load_places(AREA, sources={"schools": [schools]}, mapping=by_id)
        again = pl.load_places(AREA, sources={"schools": [schools]}, mapping=by_name)
    assert sorted(first["name"]) == sorted(again["name"]) == ["RYDER", "SIMEON"]
    assert sorted(second["name"]) == ["609726", "610163"]  # a changed mapping is never served the old entry
    assert len(list((tmp_path / "processed" / "places").glob("*.json"))) == 2


def test_every_kind_has_keys_and_settings() -> None:
    assert set(COLUMN_KEYS) == set(SETTING_KEYS) == set(KINDS)
    for kind in KINDS:
        assert {"lat", "lon", "id"} <= set(COLUMN_KEYS[kind])
        assert "crs" in SETTING_KEYS[kind]
    assert set(COLUMN_KEYS["incidents"].values()) <= {*__import__("passages.incidents").incidents.ROLES}
    assert mapping_from_dict({}) == InputMapping()
    assert json.loads(json.dumps(read_mapping(EXAMPLE).as_dict()))["schools"]["name"] == "short_name"


def test_a_file_section_naming_no_input_file_is_noted(tmp_path: Path) -> None:
    from passages.plan import _unused_file_sections, input_files

    data = write_csv(tmp_path / "crimes.csv", CHICAGO_HEADER, [crime(1, "01/04/2016 10:13:00 PM", "ROBBERY")])
    mapping = write_toml(tmp_path / "m.toml", CRIME_MAPPING + '[files."crimes.csv"]\nid = "Case Number"\n'
                                                              '[files."crime.csv"]\nid = "Case Number"\n')
    files = input_files(AREA, network=data, incidents=[data], mapping=mapping)
    assert files.mapping == read_mapping(mapping)
    notes = _unused_file_sections(files)
    assert len(notes) == 1 and '[files."crime.csv"]' in notes[0] and "m.toml" in notes[0]


def test_the_cli_refuses_a_mapping_for_every_area_at_once(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from passages.cli import app

    mapping = write_toml(tmp_path / "m.toml", CRIME_MAPPING)
    result = CliRunner().invoke(app, ["plan", "--all-areas", "--offline", "--mapping", str(mapping)])
    assert result.exit_code == 2
    assert "--mapping" in result.stderr and "--area SLUG" in result.stderr

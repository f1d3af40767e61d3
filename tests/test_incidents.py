"""Tests of passages.incidents: formats, drop reasons, windows, weights, real LAPD data."""

from __future__ import annotations

import csv
import datetime
import json
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passages._errors import InputError
from passages.areas import load_areas
from passages.incidents import (
    CATEGORIES,
    DROP_REASONS,
    POINT_COLUMNS,
    IncidentReport,
    crime_code_table,
    load_incidents,
    parse_window,
)

AREAS = load_areas()
DOWNTOWN = AREAS["downtown"]
INSIDE = (DOWNTOWN.lat, DOWNTOWN.lon)  # site centre: inside the study polygon
OUTSIDE = (34.10, -118.30)  # about 8 km away
MONDAY = "01/06/2020 00:00"  # 2020-01-06 was a Monday
SATURDAY = "01/11/2020 00:00"

LAPD_HEADER = [
    "DR_NO", "Date Rptd", "DATE OCC", "TIME OCC", "AREA", "AREA NAME", "Rpt Dist No",
    "Part 1-2", "Crm Cd", "Crm Cd Desc", "Mocodes", "Vict Age", "Vict Sex", "Vict Descent",
    "Premis Cd", "Premis Desc", "Weapon Used Cd", "Weapon Desc", "Status", "Status Desc",
    "Crm Cd 1", "Crm Cd 2", "Crm Cd 3", "Crm Cd 4", "LOCATION", "Cross Street", "LAT", "LON",
]
WEIGHTED = "licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv"
IVANCO = "ivanco19_Project-1/Crime_Data_from_2020_to_Present.csv"
BIGDATA = "bigdataforsocialjustice_data/Crime_Data_from_2020_to_Present.csv"
LAPD_SAMPLES = (
    IVANCO,
    "pratiksha1821_DataDrivenCrimeAnalysis/Crime_Data_from_2020_to_Present.csv",
    "OwenGeeAndre_Data/Crime_Data_from_2020_to_Present.csv",
    BIGDATA,
)


def lapd_row(dr_no: str, date: str = MONDAY, time_occ: str = "0730", code: str = "624",
             where: tuple[object, object] = INSIDE) -> dict[str, object]:
    return {"DR_NO": dr_no, "DATE OCC": date, "TIME OCC": time_occ, "Crm Cd": code,
            "LAT": where[0], "LON": where[1]}


def write_csv(path: Path, header: list[str], rows: Sequence[Mapping[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_lapd(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    return write_csv(path, LAPD_HEADER, rows)


def assert_report_sums(report: IncidentReport, points: pd.DataFrame) -> None:
    assert report.rows_read == report.used + sum(report.dropped.values())
    assert report.used == len(points)
    assert report.used_weight == pytest.approx(float(points["weight"].sum()))
    assert set(report.dropped) <= set(DROP_REASONS)
    assert all(count > 0 for count in report.dropped.values())


def load_all_day(paths: Path | list[Path], **options: object) -> pd.DataFrame:
    """Load with no time or weekday filter; return points, checking the report sums."""
    result = load_incidents(paths, area=DOWNTOWN, windows=[], weekdays=[], **options)  # type: ignore[arg-type]
    assert_report_sums(result.report, result.points)
    return result.points


# ----------------------------------------------------------------------------- parse_window


def test_parse_window() -> None:
    assert parse_window("07:00-08:30") == (420, 510)
    assert parse_window(" 22:00 - 24:00 ") == (1320, 1440)
    for bad in ("7-8", "08:30-07:00", "07:00-07:00", "07:61-08:00", "07:00-24:30", ""):
        with pytest.raises(InputError) as info:
            parse_window(bad)
        assert info.value.field == "window"


# ----------------------------------------------------------------------------- LAPD format


def test_zero_and_outside_rows_are_counted_and_not_mapped(tmp_path: Path) -> None:
    path = write_lapd(tmp_path / "lapd.csv", [
        lapd_row("001"), lapd_row("002"),
        lapd_row("003", where=(0, 0)), lapd_row("004", where=("", "")),
        lapd_row("005", where=("n/a", "-118.2")), lapd_row("006", where=OUTSIDE),
    ])
    result = load_incidents(path, area=DOWNTOWN)
    assert result.report.dropped == {"missing coordinates (0,0)": 3, "outside study area": 1}
    assert list(result.points["source_id"]) == ["001", "002"]  # DR_NO keeps leading zeros
    assert list(result.points.columns) == list(POINT_COLUMNS)
    assert result.points.crs == DOWNTOWN.crs
    assert shapely.contains(DOWNTOWN.study_polygon_utm, result.points.geometry.to_numpy()).all()
    assert_report_sums(result.report, result.points)


def test_time_occ_hhmm(tmp_path: Path) -> None:
    path = write_lapd(tmp_path / "lapd.csv", [
        lapd_row("1", time_occ="1"), lapd_row("2", time_occ="0330"),
        lapd_row("3", time_occ="2230"), lapd_row("4", time_occ="2400"),
        lapd_row("5", time_occ=""), lapd_row("6", time_occ="12:75"),
    ])
    result = load_incidents(path, area=DOWNTOWN, windows=[], weekdays=[])
    points = result.points.set_index("source_id")
    assert points.loc["1", "hour"] == pytest.approx(1 / 60)  # 1 = 00:01
    assert points.loc["2", "hour"] == pytest.approx(3.5)
    assert points.loc["3", "hour"] == pytest.approx(22.5)
    assert points.loc["3", "occurred"] == pd.Timestamp("2020-01-06 22:30")
    assert result.report.dropped == {"unparseable time": 3}


def test_date_formats_and_unparseable_dates(tmp_path: Path) -> None:
    path = write_lapd(tmp_path / "lapd.csv", [
        lapd_row("1", date="01/08/2020 00:00"), lapd_row("2", date="2020-01-08"),
        lapd_row("3", date="2020-01-08T00:00:00.000"),
        lapd_row("4", date="01/08/2020 12:00:00 AM"), lapd_row("5", date="1/8/2020 0:00"),
        lapd_row("6", date="02/30/2020"), lapd_row("7", date=""), lapd_row("8", date="soon"),
    ])
    points = load_all_day(path)
    assert set(points["occurred"].dt.date) == {datetime.date(2020, 1, 8)}
    assert len(points) == 5
    result = load_incidents(path, area=DOWNTOWN, windows=[], weekdays=[])
    assert result.report.dropped == {"unparseable date": 3}


def test_windows_and_weekdays(tmp_path: Path) -> None:
    path = write_lapd(tmp_path / "lapd.csv", [
        lapd_row("in", time_occ="0730"), lapd_row("end", time_occ="0830"),
        lapd_row("noon", time_occ="1200"), lapd_row("pm", time_occ="1459"),
        lapd_row("sat", date=SATURDAY, time_occ="0730"),
    ])
    result = load_incidents(path, area=DOWNTOWN)  # settings: 07:00-08:30, 14:00-16:00, Mon-Fri
    assert sorted(result.points["source_id"]) == ["in", "pm"]
    assert result.report.dropped == {"outside weekdays": 1, "outside time window": 2}
    only_saturday = load_incidents(path, area=DOWNTOWN, weekdays=[5], windows=["07:00-09:00"])
    assert list(only_saturday.points["source_id"]) == ["sat"]


def test_duplicated_date_occ_header_loads(tmp_path: Path) -> None:
    header = ["DR_NO", "Date Rptd", "DATE OCC", "DATE OCC", "month", "TIME OCC", "Crm Cd",
              "LAT", "LON"]
    path = tmp_path / "dup.csv"
    path.write_text(",".join(header) + "\n"
                    f"200815333,10/15/2020 0:00,10/12/2020 0:00,44119,10,0745,624,{INSIDE[0]},"
                    f"{INSIDE[1]}\n", encoding="utf-8")
    result = load_incidents(path, area=DOWNTOWN)
    assert result.report.used == 1
    assert result.points["occurred"].iloc[0] == pd.Timestamp("2020-10-12 07:45")
    assert any("'DATE OCC' appears more than once" in note for note in result.report.notes)


def test_categories_severity_and_unknown_codes(tmp_path: Path) -> None:
    path = write_lapd(tmp_path / "lapd.csv", [
        lapd_row("v", code="624"), lapd_row("p", code="330"), lapd_row("o", code="888"),
        lapd_row("x", code="999"), lapd_row("blank", code=""),
    ])
    points = load_all_day(path, half_life_days=math.inf).set_index("source_id")
    assert points["category"].to_dict() == {
        "v": "violent", "p": "property", "o": "other", "x": "other", "blank": "unknown"}
    assert points["weight"].to_dict() == pytest.approx(
        {"v": 3.0, "p": 1.0, "o": 0.5, "x": 0.5, "blank": 1.0})
    assert str(points["crime_code"].dtype) == "Int64"
    assert points.loc["blank", "crime_code"] is pd.NA
    result = load_incidents(path, area=DOWNTOWN, windows=[], weekdays=[],
                            categories=["violent", "property"])
    assert result.report.dropped == {"category not selected": 3}
    assert any("missing from the LAPD code table (999)" in n for n in result.report.notes)


def test_recency_halves_at_half_life(tmp_path: Path) -> None:
    path = write_lapd(tmp_path / "lapd.csv", [
        lapd_row("new", date="2021-06-30"), lapd_row("year", date="2020-06-30"),
        lapd_row("old", date="2015-01-05"),
    ])
    points = load_all_day(path, half_life_days=365).set_index("source_id")
    assert points.loc["new", "weight"] == pytest.approx(3.0)  # reference: newest date
    assert points.loc["year", "weight"] == pytest.approx(3.0 * 0.5)
    later = load_all_day(path, half_life_days=365,
                         reference_date=datetime.date(2022, 6, 30)).set_index("source_id")
    assert later.loc["new", "weight"] == pytest.approx(1.5)
    result = load_incidents(path, area=DOWNTOWN, windows=[], weekdays=[], lookback_days=400)
    assert result.report.dropped == {"older than lookback": 1}


def test_duplicate_dr_no_across_files_counted_once(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_lapd(tmp_path / "a" / "crimes.csv", [lapd_row("1"), lapd_row("2")])
    second = write_lapd(tmp_path / "b" / "crimes.csv", [lapd_row("2"), lapd_row("3")])
    result = load_incidents([first, second], area=DOWNTOWN)
    assert sorted(result.points["source_id"]) == ["1", "2", "3"]
    assert result.report.dropped == {"duplicate id": 1}
    assert result.report.rows_read == 4
    assert set(result.points["source"]) == {"a/crimes.csv", "b/crimes.csv"}
    assert len(result.report.sources) == 2


# ----------------------------------------------------------------------------- weighted format


def test_weighted_hours_keep_their_share_of_the_window(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"LAT": INSIDE[0], "LON": INSIDE[1], "HOUR": hour, "WEIGHT": 2.0}
        for hour in (6, 7, 8, 9, 14)]
    rows.append({"LAT": 0, "LON": 0, "HOUR": 8, "WEIGHT": 2.0})
    rows.append({"LAT": INSIDE[0], "LON": INSIDE[1], "HOUR": 24, "WEIGHT": 2.0})
    path = write_csv(tmp_path / "hourly.csv", ["LAT", "LON", "HOUR", "WEIGHT"], rows)
    result = load_incidents(path, area=DOWNTOWN, windows=["07:00-08:30"], weekdays=[5, 6])
    by_hour = result.points.set_index("hour")["weight"]
    assert by_hour.to_dict() == pytest.approx({7.0: 2.0, 8.0: 1.0})  # hour 8: 30/60 of 2
    assert result.report.dropped == {
        "missing coordinates (0,0)": 1, "unparseable time": 1, "outside time window": 3}
    assert set(result.points["category"]) == {"unknown"}
    assert result.points["occurred"].isna().all()
    assert any("no dates" in note and "weekday" in note for note in result.report.notes)
    assert_report_sums(result.report, result.points)


def test_weighted_overlapping_windows_are_not_counted_twice(tmp_path: Path) -> None:
    row = {"LAT": INSIDE[0], "LON": INSIDE[1], "HOUR": 7, "WEIGHT": 1.0}
    path = write_csv(tmp_path / "hourly.csv", list(row), [row])
    result = load_incidents(path, area=DOWNTOWN, windows=["07:00-07:40", "07:20-08:00"])
    assert result.points["weight"].iloc[0] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- table format


def test_table_csv_with_mapping(tmp_path: Path) -> None:
    rows = [
        {"Latitude": INSIDE[0], "Longitude": INSIDE[1], "When": "2021-03-01 07:30",
         "Kind": "Violent", "Case": "A1"},
        {"Latitude": INSIDE[0], "Longitude": INSIDE[1], "When": "2021-03-01 21:00",
         "Kind": "property", "Case": "A2"},
        {"Latitude": INSIDE[0], "Longitude": INSIDE[1], "When": "2021-03-01 08:00",
         "Kind": "", "Case": ""},
    ]
    path = write_csv(tmp_path / "mine.csv", list(rows[0]), rows)
    columns = {"lat": "Latitude", "lon": "Longitude", "date": "When", "time": "When",
               "category": "Kind", "id": "Case"}
    result = load_incidents(path, area=DOWNTOWN, columns=columns)
    points = result.points.set_index("source_id")
    assert list(points.index) == ["A1", "mine.csv:3"]
    assert points["category"].to_dict() == {"A1": "violent", "mine.csv:3": "unknown"}
    assert result.report.dropped == {"outside time window": 1}


def test_table_geojson_points(tmp_path: Path) -> None:
    features = [
        {"type": "Feature", "properties": {"hr": 7},
         "geometry": {"type": "Point", "coordinates": [INSIDE[1], INSIDE[0]]}},
        {"type": "Feature", "properties": {"hr": 7},
         "geometry": {"type": "Point", "coordinates": [OUTSIDE[1], OUTSIDE[0]]}},
        {"type": "Feature", "properties": {"hr": 7}, "geometry": None},
    ]
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = load_incidents(path, area=DOWNTOWN, columns={"hour": "hr"})
    assert result.report.used == 1
    assert result.report.dropped == {"missing coordinates (0,0)": 1, "outside study area": 1}
    assert_report_sums(result.report, result.points)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("header", "fmt", "columns", "missing"),
    [
        ([c for c in LAPD_HEADER if c != "LAT"], None, None, "LAT"),
        ([c for c in LAPD_HEADER if c != "TIME OCC"], "lapd", None, "TIME OCC"),
        ([c for c in LAPD_HEADER if c != "Crm Cd"], None, None, "Crm Cd"),
        (["LAT", "LON", "WEIGHT"], None, None, "HOUR"),
        (["LAT", "LON", "HOUR"], "weighted", None, "WEIGHT"),
        (["y", "x", "day"], "table", {"lat": "y", "lon": "x", "date": "when"}, "when"),
    ],
)
def test_missing_required_column_names_file_and_column(
    tmp_path: Path, header: list[str], fmt: str | None, columns: dict[str, str] | None,
    missing: str,
) -> None:
    path = tmp_path / "incidents.csv"
    path.write_text(",".join(header) + "\n" + ",".join("1" for _ in header) + "\n")
    with pytest.raises(InputError) as info:
        load_incidents(path, area=DOWNTOWN, fmt=fmt, columns=columns)
    assert info.value.field == missing
    assert "incidents.csv" in str(info.value)
    assert repr(missing) in str(info.value)


def test_geojson_missing_mapped_column(tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"hr": 7},
         "geometry": {"type": "Point", "coordinates": [INSIDE[1], INSIDE[0]]}}]}))
    with pytest.raises(InputError, match=r"points\.geojson.*'hour_of_day'"):
        load_incidents(path, area=DOWNTOWN, columns={"hour": "hour_of_day"})


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = write_lapd(tmp_path / "header.csv", [])
    weighted_header = write_csv(tmp_path / "hourly.csv", ["LAT", "LON", "HOUR", "WEIGHT"], [])
    for path, words in [(empty, "empty"), (header_only, "no data rows"),
                        (weighted_header, "no data rows"),
                        (tmp_path / "absent.csv", "not found")]:
        with pytest.raises(InputError, match=words) as info:
            load_incidents(path, area=DOWNTOWN)
        assert path.name in str(info.value)


def test_unknown_header_and_bad_options(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "odd.csv", ["a", "b"], [{"a": 1, "b": 2}])
    with pytest.raises(InputError, match=r"odd\.csv.*fmt='table'"):
        load_incidents(path, area=DOWNTOWN)
    lapd = write_lapd(tmp_path / "lapd.csv", [lapd_row("1")])
    bad_options: list[tuple[dict[str, object], str]] = [
        ({"weekdays": [7]}, "weekdays"), ({"categories": ["scary"]}, "categories"),
        ({"fmt": "excel"}, "fmt"), ({"half_life_days": 0}, "half_life_days"),
        ({"windows": ["8-9"]}, "window"), ({"columns": {"latitude": "y"}}, "columns"),
    ]
    for options, field in bad_options:
        with pytest.raises(InputError) as info:
            load_incidents(lapd, area=DOWNTOWN, **options)  # type: ignore[arg-type]
        assert info.value.field == field


# ----------------------------------------------------------------------------- property test

_coordinates = st.sampled_from(
    [INSIDE, (INSIDE[0] + 0.004, INSIDE[1] - 0.004), OUTSIDE, (0, 0), ("", ""), ("x", "y")])
_dates = st.one_of(
    st.dates(datetime.date(2019, 1, 1), datetime.date(2023, 12, 31)).map(
        lambda day: day.strftime("%m/%d/%Y 00:00")),
    st.sampled_from(["", "13/45/2020", "yesterday"]),
)
_times = st.one_of(st.integers(0, 2459).map(str), st.sampled_from(["", "0330", "noon"]))
_codes = st.sampled_from(["624", "330", "888", "110", "999", "", "abc"])
_rows = st.lists(st.tuples(st.integers(1, 15), _coordinates, _dates, _times, _codes),
                 min_size=1, max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, categories=st.sampled_from([None, ["violent"], ["property", "other"]]),
       lookback=st.sampled_from([None, 365.0]))
def test_every_row_is_used_or_counted(
    rows: list[tuple[int, tuple[object, object], str, str, str]],
    categories: list[str] | None, lookback: float | None,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_lapd(Path(folder) / "gen.csv", [
            lapd_row(str(dr_no), date=date, time_occ=time_occ, code=code, where=where)
            for dr_no, where, date, time_occ, code in rows
        ])
        result = load_incidents(path, area=DOWNTOWN, categories=categories,
                                lookback_days=lookback)
    assert result.report.rows_read == len(rows)
    assert_report_sums(result.report, result.points)
    assert (result.points["weight"] > 0).all()
    assert result.points["source_id"].is_unique


# ----------------------------------------------------------------------------- code table


def test_crime_code_table_is_complete() -> None:
    table = crime_code_table()
    assert list(table.columns) == ["code", "description", "category"]
    assert table["code"].is_unique
    assert set(table["category"]) == {"violent", "property", "other"}
    by_code = table.set_index("code")["category"]
    assert by_code[110] == "violent" and by_code[210] == "violent"  # homicide, robbery
    assert by_code[510] == "property" and by_code[740] == "property"  # vehicle, vandalism
    assert by_code[888] == "other" and by_code[900] == "other"  # trespass, court order


def test_code_table_covers_the_real_lapd_files(shared_data: Path) -> None:
    known = set(crime_code_table()["code"])
    for relative in LAPD_SAMPLES:
        codes = pd.read_csv(shared_data / "incidents" / relative, usecols=["Crm Cd"])["Crm Cd"]
        assert set(codes.dropna().astype(int)) <= known, relative


# ----------------------------------------------------------------------------- real data


@pytest.mark.parametrize("slug", ["south-la", "south-central", "downtown"])
def test_real_weighted_points_for_sample_areas(shared_data: Path, slug: str) -> None:
    started = time.perf_counter()
    result = load_incidents(shared_data / "incidents" / WEIGHTED, area=AREAS[slug])
    elapsed = time.perf_counter() - started
    report = result.report
    assert report.rows_read == 120_000
    assert report.used > 0
    assert_report_sums(report, result.points)
    assert set(report.dropped) <= {"outside study area", "outside time window",
                                   "missing coordinates (0,0)"}
    assert elapsed < 2.0


def test_real_lapd_csv_downtown(shared_data: Path) -> None:
    result = load_incidents(shared_data / "incidents" / IVANCO, area=DOWNTOWN)
    report = result.report
    assert report.rows_read == 10_000
    assert report.used > 0
    assert report.dropped["missing coordinates (0,0)"] > 0
    assert_report_sums(report, result.points)
    assert {"violent", "property"} <= set(result.points["category"])
    assert set(result.points["category"]) <= set(CATEGORIES)
    assert result.points["crime_code"].notna().all()
    assert result.points["occurred"].dt.day_of_week.isin(range(5)).all()
    assert report.sources == ["Crime_Data_from_2020_to_Present.csv (2020-01-01 to 2020-12-31)"]


def test_real_lapd_extracts_together(shared_data: Path) -> None:
    paths = [shared_data / "incidents" / relative for relative in LAPD_SAMPLES]
    wide = DOWNTOWN.with_radius(40_000)
    result = load_incidents(paths, area=wide, windows=[], weekdays=[])
    report = result.report
    assert_report_sums(report, result.points)
    assert report.dropped["duplicate id"] > 0  # the extracts overlap
    assert result.points["source_id"].is_unique
    assert (result.points["source"].str.startswith("bigdataforsocialjustice_data/")).any()
    assert np.isfinite(result.points["hour"]).all()

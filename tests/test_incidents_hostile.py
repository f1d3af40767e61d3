"""Hostile input for passages.incidents: every defect of the issue-9 corpus, and fuzzing.

Each defect test asserts the behaviour and the message (file name and field). The
property tests feed arbitrary contents to every reader (LAPD CSV, weighted CSV, table CSV,
GeoJSON and JSON): the only outcomes allowed are a result or an InputError.
"""

from __future__ import annotations

import datetime
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passages import settings as passages_settings
from passages._errors import InputError
from passages.areas import load_areas
from passages.incidents import FUTURE_DATE, IncidentSet, load_incidents

DOWNTOWN = load_areas()["downtown"]
LAT, LON = DOWNTOWN.lat, DOWNTOWN.lon
TODAY = datetime.date(2024, 6, 1)
LAPD = "DR_NO,DATE OCC,TIME OCC,Crm Cd,LAT,LON\n"
WEIGHTED = "LAT,LON,HOUR,WEIGHT\n"
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_all_day(path: Path, **options: object) -> IncidentSet:
    result = load_incidents(path, area=DOWNTOWN, windows=[], weekdays=[], today=TODAY,  # type: ignore[arg-type]
                            **options)
    report = result.report
    assert report.rows_read == report.used + sum(report.dropped.values())
    assert math.isfinite(report.used_weight)
    return result


# ----------------------------------------------------------------------------- silent wrong plans


def test_future_date_is_dropped_and_does_not_become_the_reference(tmp_path: Path) -> None:
    path = write(tmp_path, "future.csv", LAPD
                 + f"1,2020-01-06,0730,624,{LAT},{LON}\n2,2020-01-07,0730,624,{LAT},{LON}\n"
                 + f"3,01/01/2099,0730,624,{LAT},{LON}\n")
    result = load_all_day(path, half_life_days=365)
    assert result.report.dropped == {FUTURE_DATE: 1}
    assert result.report.used == 2
    weights = result.points.set_index("source_id")["weight"]
    assert weights["2"] == pytest.approx(3.0)  # the reference is 2020-01-07, not 2099
    assert weights["1"] == pytest.approx(3.0 * 0.5 ** (1 / 365))
    assert any("future.csv: 1 rows are dated after today (2024-06-01)" in n for n in result.report.notes)
    assert "future.csv (2020-01-06 to 2020-01-07)" in result.report.sources


def test_today_defaults_to_the_real_date(tmp_path: Path) -> None:
    tomorrow = datetime.date.today() + datetime.timedelta(days=2)
    path = write(tmp_path, "soon.csv", LAPD + f"1,{tomorrow.isoformat()},0730,624,{LAT},{LON}\n")
    result = load_incidents(path, area=DOWNTOWN, windows=[], weekdays=[])
    assert result.report.dropped == {FUTURE_DATE: 1}


@pytest.mark.parametrize(("lat", "lon", "kind"), [
    (1_843_253.1, 6_487_340.2, "feet"),  # EPSG:2229, State Plane California V (US feet)
    (3_768_614.0, 385_860.0, "metres"),  # EPSG:32611, UTM 11N
])
def test_projected_coordinates_are_refused_naming_file_and_columns(tmp_path: Path, lat: float, lon: float,
                                                                   kind: str) -> None:
    rows = "".join(f"{lat + i},{lon + i},7,1.0\n" for i in range(5))
    path = write(tmp_path, f"points_{kind}.csv", WEIGHTED + rows)
    with pytest.raises(InputError) as info:
        load_all_day(path)
    message = str(info.value)
    assert f"points_{kind}.csv" in message and info.value.field == "LAT, LON"
    assert "projected coordinates in feet or metres" in message and "EPSG:4326" in message


def test_swapped_latitude_and_longitude_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "swapped.csv", LAPD + "".join(
        f"{i},2020-01-06,0730,624,{LON},{LAT}\n" for i in range(3)))
    with pytest.raises(InputError, match=r"swapped\.csv.*field 'LAT, LON'.*look swapped") as info:
        load_all_day(path)
    assert "-118.2" in str(info.value)


def test_a_few_out_of_range_coordinates_are_counted_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path, "few.csv", WEIGHTED + f"{LAT},{LON},7,1\n{LAT},{LON},7,1\n{LON},{LAT},7,1\n")
    result = load_all_day(path)
    assert result.report.dropped == {"missing coordinates (0,0)": 1}
    assert any("out of the degree ranges" in note for note in result.report.notes)


@pytest.mark.parametrize("weight", ["nan", "inf", "-inf", "-1", "0", "1e308", "1e7", "abc"])
def test_invalid_weights_are_dropped_with_a_count(tmp_path: Path, weight: str) -> None:
    path = write(tmp_path, "weights.csv", WEIGHTED + f"{LAT},{LON},7,2.5\n{LAT},{LON},7,{weight}\n")
    result = load_all_day(path)
    assert result.report.dropped == {"invalid weight": 1}
    assert result.report.used_weight == pytest.approx(2.5)
    assert any("weights.csv: 1 rows have a weight that is not a number in (0, 1e+06]" in n
               for n in result.report.notes)


def test_sum_of_large_weights_stays_finite(tmp_path: Path) -> None:
    top = passages_settings.max_incident_weight
    path = write(tmp_path, "big.csv", WEIGHTED + f"{LAT},{LON},7,{top}\n" * 1000)
    result = load_all_day(path)
    assert result.report.used == 1000
    assert np.isfinite(result.points["weight"]).all()
    assert result.report.used_weight == pytest.approx(1000 * top)


def test_bad_severity_setting_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(passages_settings.severity, "violent", math.inf)
    path = write(tmp_path, "lapd.csv", LAPD + f"1,2020-01-06,0730,624,{LAT},{LON}\n")
    with pytest.raises(InputError) as info:
        load_all_day(path)
    assert info.value.field == "severity"


def test_file_with_no_usable_incident_is_reported_honestly(tmp_path: Path) -> None:
    path = write(tmp_path, "elsewhere.csv", WEIGHTED + "34.25,-118.45,7,1\n0,0,7,1\n")
    result = load_all_day(path)
    assert result.report.used == 0 and len(result.points) == 0
    assert result.report.rows_read == 2
    assert any(note.startswith("no incident is left to score") for note in result.report.notes)
    assert any("elsewhere.csv: none of its 2 rows is used" in note for note in result.report.notes)


# ----------------------------------------------------------------------------- misleading messages


def test_semicolon_csv_is_read_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path, "semi.csv", "LAT;LON;HOUR;WEIGHT\n"
                 f"{str(LAT).replace('.', ',')};{str(LON).replace('.', ',')};7;1,5\n{LAT};{LON};8;2\n")
    result = load_all_day(path)
    assert result.report.used == 2
    assert result.report.used_weight == pytest.approx(3.5)
    assert any("semi.csv separates its columns with semicolons" in n for n in result.report.notes)


def test_tab_separated_lapd_file_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "tabs.tsv", LAPD.replace(",", "\t") + f"1\t2020-01-06\t0730\t624\t{LAT}\t{LON}\n")
    assert load_all_day(path).report.used == 1


def test_wrong_columns_name_the_file_the_columns_found_and_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.csv", "Latitude,Longitude,When\n34,-118,2020-01-01\n")
    with pytest.raises(InputError) as info:
        load_all_day(path)
    message = str(info.value)
    assert "odd.csv" in message and "Latitude, Longitude, When" in message
    assert "LAT, LON, HOUR, WEIGHT" in message and "Rename the columns" in message
    missing = write(tmp_path, "short.csv", "LAT,LON,WEIGHT\n34,-118,1\n")
    with pytest.raises(InputError) as info:
        load_all_day(missing)
    assert info.value.field == "HOUR"
    assert "columns found: LAT, LON, WEIGHT" in str(info.value) and "rename" in str(info.value)


@pytest.mark.parametrize(("content", "words"), [
    (b"PK\x03\x04" + bytes(200), "ZIP archive"),
    (b"LAT,LON\x00\x01\x02", "binary data"),
])
def test_binary_files_are_refused_without_their_bytes(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "incidents.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=words) as info:
        load_all_day(path)
    assert "incidents.csv" in str(info.value) and "\\x00" not in str(info.value)


def test_folder_and_device_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        load_all_day(tmp_path)
    if Path("/dev/zero").exists():
        with pytest.raises(InputError, match=r"/dev/zero.*not a regular file"):
            load_all_day(Path("/dev/zero"))


def test_file_cut_mid_row_is_refused_naming_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, "cut.csv", WEIGHTED + f"{LAT},{LON},7,1\n{LAT},{LON},7,1\n{LAT},{LON},7")
    with pytest.raises(InputError) as info:
        load_all_day(path)
    assert info.value.row == 3 and "cut.csv, row 3" in str(info.value) and "cut off" in str(info.value)


def test_unterminated_quote_is_refused_naming_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, "quote.csv", LAPD + f'1,2020-01-06,0730,624,{LAT},{LON}\n'
                 f'"2,2020-01-06,0730,624,{LAT},{LON}\n3,2020-01-06,0730,624,{LAT},{LON}\n')
    with pytest.raises(InputError) as info:
        load_all_day(path)
    assert info.value.row == 2 and "quote.csv, row 2" in str(info.value) and "unterminated quote" in str(info.value)


def test_day_first_dates_are_read_day_first_for_the_whole_file(tmp_path: Path) -> None:
    rows = [f"{i},{day},0730,624,{LAT},{LON}\n" for i, day in
            enumerate(["02/01/2020", "05/03/2020", "13/01/2020"], start=1)]
    path = write(tmp_path, "dmy.csv", LAPD + "".join(rows))
    result = load_all_day(path, half_life_days=math.inf)
    days = result.points.set_index("source_id")["occurred"].dt.date.to_dict()
    assert days == {"1": datetime.date(2020, 1, 2), "2": datetime.date(2020, 3, 5), "3": datetime.date(2020, 1, 13)}
    assert any("dmy.csv: dates read as day/month/year" in n and "row 3" in n for n in result.report.notes)


def test_day_first_found_in_a_later_chunk_rereads_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passages_settings, "incident_chunk_rows", 2)
    rows = [f"{i},0{i}/02/2020,0730,624,{LAT},{LON}\n" for i in range(1, 6)] + [f"9,25/02/2020,0730,624,{LAT},{LON}\n"]
    result = load_all_day(write(tmp_path, "late.csv", LAPD + "".join(rows)))
    assert set(result.points["occurred"].dt.month) == {2}
    assert result.report.rows_read == 6


def test_mixed_date_orders_are_refused_naming_file_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.csv", LAPD + f"1,13/01/2020,0730,624,{LAT},{LON}\n"
                 f"2,01/14/2020,0730,624,{LAT},{LON}\n")
    with pytest.raises(InputError) as info:
        load_all_day(path)
    assert info.value.field == "DATE OCC"
    assert "mixed.csv" in str(info.value) and "'13/01/2020'" in str(info.value) and "'01/14/2020'" in str(info.value)


# ----------------------------------------------------------------------------- chunked reading


def test_chunked_reading_gives_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    lines = [f"{LAT + d:.5f},{LON - d:.5f},{h},{w:.2f}\n" for d, h, w in
             zip(rng.uniform(-0.02, 0.02, 200), rng.integers(0, 24, 200), rng.uniform(0.5, 3, 200), strict=True)]
    lines[17] = f"x,{LON},7,1\n"  # text in a number column: the file is read again as text
    path = write(tmp_path, "many.csv", WEIGHTED + "".join(lines))
    whole = load_incidents(path, area=DOWNTOWN, today=TODAY)
    monkeypatch.setattr(passages_settings, "incident_chunk_rows", 7)
    chunked = load_incidents(path, area=DOWNTOWN, today=TODAY)
    assert chunked.report == whole.report
    assert chunked.points.equals(whole.points)
    assert whole.report.dropped["missing coordinates (0,0)"] == 1
    assert list(whole.points["source_id"])[:1] != ["many.csv:18"]


# ----------------------------------------------------------------------------- fuzzing

_cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "0", "nan", "inf", "-1", "1e308", "34.05", "-118.24", "13/01/2020", "01/13/2020",
                     "2099-01-01", "0730", "2400", "624", '"', '"a,b"', ";", "\u202e", "NA"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
)


def _csv_text(header: str, rows: list[list[str]], separator: str, cut: bool) -> str:
    text = header.replace(",", separator) + "".join(separator.join(row) + "\n" for row in rows)
    return text[:-3] if cut and len(text) > len(header) + 3 else text


def _outcome(path: Path, **options: object) -> None:
    try:
        result = load_incidents(path, area=DOWNTOWN, today=TODAY, **options)  # type: ignore[arg-type]
    except InputError as error:
        assert str(error)
        return
    report = result.report
    assert report.rows_read == report.used + sum(report.dropped.values())
    assert report.used == len(result.points)
    assert math.isfinite(report.used_weight)
    assert np.isfinite(result.points["weight"]).all()


_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(rows=st.lists(st.lists(_cells, min_size=4, max_size=7), max_size=8),
       separator=st.sampled_from([",", ";", "\t"]), cut=st.booleans())
def test_fuzz_lapd_csv(rows: list[list[str]], separator: str, cut: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lapd.csv"
        path.write_text(_csv_text(LAPD, rows, separator, cut), encoding="utf-8", errors="surrogatepass")
        _outcome(path, windows=[], weekdays=[])


@_FUZZ
@given(rows=st.lists(st.lists(_cells, min_size=3, max_size=5), max_size=8),
       separator=st.sampled_from([",", ";"]), cut=st.booleans())
def test_fuzz_weighted_csv(rows: list[list[str]], separator: str, cut: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weighted.csv"
        path.write_text(_csv_text(WEIGHTED, rows, separator, cut), encoding="utf-8", errors="surrogatepass")
        _outcome(path)


@_FUZZ
@given(rows=st.lists(st.lists(_cells, min_size=3, max_size=4), max_size=8), cut=st.booleans())
def test_fuzz_table_csv(rows: list[list[str]], cut: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mine.csv"
        path.write_text(_csv_text("y,x,when,kind\n", rows, ",", cut), encoding="utf-8", errors="surrogatepass")
        _outcome(path, columns={"lat": "y", "lon": "x", "date": "when", "time": "when", "category": "kind"})


@_FUZZ
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".json", ".geojson"]))
def test_fuzz_arbitrary_bytes(content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"any{suffix}"
        path.write_bytes(content)
        _outcome(path, columns={"hour": "h"} if suffix != ".csv" else None)


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.integers(-10**9, 10**9), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8,
)
_coordinates = st.one_of(st.tuples(st.floats(-400, 400), st.floats(-400, 400)),
                         st.just((LON, LAT)), st.just((6_487_340.2, 1_843_253.1)))


@_FUZZ
@given(features=st.lists(st.tuples(_coordinates, _json_values, _json_values), max_size=6),
       mapping=st.sampled_from([{"hour": "h"}, {"date": "d", "time": "h"}, {"category": "d", "weight": "h"}]))
def test_fuzz_geojson(features: list[tuple[tuple[float, float], object, object]],
                      mapping: dict[str, str]) -> None:
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"h": h, "d": d},
         "geometry": {"type": "Point", "coordinates": list(xy)}} for xy, h, d in features]}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "points.geojson"
        path.write_text(json.dumps(collection), encoding="utf-8")
        _outcome(path, columns=mapping)


def test_real_hourly_json_is_refused_with_a_message(shared_data: Path) -> None:
    path = shared_data / "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_hourly.json"
    with pytest.raises(InputError, match=r"crime_points_hourly\.json"):
        load_incidents(path, area=DOWNTOWN)


# ----------------------------------------------------------------------------- memory benchmark


def test_memory_benchmark_writes_its_table(shared_data: Path, tmp_path: Path) -> None:
    import importlib.util
    import sys

    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("bench_memory", BENCHMARKS / "bench_memory.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    results = tmp_path / "memory_results.md"
    assert module.main(["--rows", "3000", "--data-dir", str(shared_data), "--results", str(results), "--write"]) == 0
    text = results.read_text(encoding="utf-8")
    assert "## Weighted CSV, 3,000 rows" in text and "peak / file" in text and "- machine:" in text

"""The cache of parsed place files (passages._frame_cache through places.load_places)."""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from test_places import area_here, east, gtfs_row, north, write_csv

from passages import _frame_cache, settings
from passages import places as pl


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "processed"
    monkeypatch.setattr(settings, "processed_dir", folder)
    monkeypatch.setattr(settings, "input_cache", True)
    return folder / "places"


def _stops(path: Path, names: list[str]) -> Path:
    rows = [gtfs_row(f"s{i}", name, north(300.0 * i), east(0.0)) for i, name in enumerate(names)]
    return write_csv(path, rows)


def _load(path: Path) -> tuple[gpd.GeoDataFrame, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        places = pl.load_places(area_here(), sources={"transit": [path], "libraries": []})
    return places, [str(w.message) for w in caught]


def _read_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = pl._read_source

    def counting(kind: str, path: Path, area: object, *rest: object) -> gpd.GeoDataFrame:
        calls.append(path)
        return real(kind, path, area, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(pl, "_read_source", counting)
    return calls


def test_second_load_reads_the_cache_and_gives_the_same_places_and_notes(
        cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _stops(tmp_path / "stops.txt", ["Main St / 1st", "Main St / 3rd", "Main St / 5th"])
    calls = _read_calls(monkeypatch)
    first, first_notes = _load(path)
    second, second_notes = _load(path)
    assert len(calls) == 1, "the second load read the file again"
    assert len(list(cache_dir.glob("test-*.json"))) == 1
    pd.testing.assert_frame_equal(pd.DataFrame(first.drop(columns="geometry")),
                                  pd.DataFrame(second.drop(columns="geometry")))
    assert list(first.geometry.to_wkb()) == list(second.geometry.to_wkb())
    assert second.crs == first.crs
    assert any("no library" in note for note in first_notes)
    assert second_notes == first_notes


def test_a_changed_file_is_read_again_never_served_stale(
        cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _stops(tmp_path / "stops.txt", ["Main St / 1st", "Main St / 3rd"])
    calls = _read_calls(monkeypatch)
    before, _ = _load(path)
    stat = path.stat()
    _stops(path, ["Main St / 1st", "Main St / 3rd", "Main St / 5th"])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time stamp: the bytes decide
    after, _ = _load(path)
    assert len(calls) == 2
    assert len(after) == len(before) + 1


def test_a_damaged_entry_is_rebuilt_with_a_note(cache_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = _stops(tmp_path / "stops.txt", ["Main St / 1st", "Main St / 3rd"])
    good, _ = _load(path)
    (entry,) = cache_dir.glob("test-*.json")
    head, _, payload = entry.read_bytes().partition(b"\n")
    entry.write_bytes(head + b"\n" + payload.replace(b"Main", b"Evil"))
    calls = _read_calls(monkeypatch)
    again, notes = _load(path)
    assert len(calls) == 1
    assert any("ignored and rebuilt" in n and "SHA-256" in n for n in notes)
    assert list(again["name"]) == list(good["name"])


def test_concurrent_writers_leave_one_whole_entry(cache_dir: Path, tmp_path: Path) -> None:
    path = _stops(tmp_path / "stops.txt", ["Main St / 1st", "Main St / 3rd", "Main St / 5th"])
    results: list[int] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            results.append(len(_load(path)[0]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1
    entries = list(cache_dir.iterdir())
    assert len(entries) == 1 and not entries[0].name.startswith(".")
    assert _frame_cache.load_frame(entries[0], json.loads(entries[0].read_bytes().partition(b"\n")[0])["key"])


def test_cache_off_reads_every_time(cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "input_cache", False)
    path = _stops(tmp_path / "stops.txt", ["Main St / 1st", "Main St / 3rd"])
    calls = _read_calls(monkeypatch)
    _load(path)
    _load(path)
    assert len(calls) == 2 and not cache_dir.exists()


def test_a_shapefile_digest_covers_its_attribute_table(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["Park"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326")
    frame.to_file(tmp_path / "parks.shp")
    before = _frame_cache.file_digest(tmp_path / "parks.shp")
    frame.assign(name=["Other park"]).to_file(tmp_path / "parks.shp")
    assert _frame_cache.file_digest(tmp_path / "parks.shp") != before


def test_an_entry_for_another_key_is_not_served(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(0, 0)], crs="EPSG:32611")
    _frame_cache.save_frame(tmp_path / "e.json", "key-one", frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _frame_cache.load_frame(tmp_path / "e.json", "key-two") is None
    assert any("other inputs" in str(w.message) for w in caught)


_texts = st.one_of(st.none(), st.text(max_size=12))
_floats = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64))


@hypothesis_settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(_texts, _floats, st.integers(-2**62, 2**62), st.booleans(),
                               st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), max_size=8))
def test_a_frame_comes_back_as_it_went_in(tmp_path_factory: pytest.TempPathFactory,
                                          rows: list[tuple[object, ...]]) -> None:
    folder = tmp_path_factory.mktemp("frames")
    frame = gpd.GeoDataFrame({
        "name": pd.Series([r[0] for r in rows], dtype="str"),
        "enrollment": pd.Series([np.nan if r[1] is None else r[1] for r in rows], dtype="float64"),
        "count": pd.Series([r[2] for r in rows], dtype="int64"),
        "flag": pd.Series([r[3] for r in rows], dtype="bool"),
    }, geometry=gpd.GeoSeries([shapely.Point(r[4], r[5]) for r in rows]), crs="EPSG:32611")
    assert _frame_cache.save_frame(folder / "f.json", "k", frame, ["a note"])
    back, notes = _frame_cache.load_frame(folder / "f.json", "k") or (None, None)
    assert back is not None and notes == ["a note"]
    assert list(back.columns) == list(frame.columns)
    for column in ("name", "enrollment", "count", "flag"):
        assert back[column].dtype == frame[column].dtype
        assert back[column].isna().tolist() == frame[column].isna().tolist()
        assert back[column].dropna().tolist() == frame[column].dropna().tolist()
    assert shapely.equals_exact(np.asarray(back.geometry.values), np.asarray(frame.geometry.values), 0).all()
    assert back.crs == frame.crs

"""Exports: the GeoPackage layers and columns, GeoJSON, the CSV route sheet."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest

import passages._io
from passages._io import OutputError
from passages.areas import load_areas
from passages.export import LAYERS, export_plan, route_sheet, street_runs
from passages.plan import Plan, make_plan

DOCUMENTED = {
    "study_area": {"area", "name", "radius_m"},
    "streets": {"segment", "u", "v", "name", "osm_name", "highway", "length_m", "risk_mass", "risk_per_100m", "hot",
                "demand", "on_passage"},
    "passages": {"segment", "name", "length_m", "risk_per_100m", "demand", "on_passage"},
    "routes": {"pair_id", "purpose", "origin_name", "dest_name", "dest_kind", "demand", "shortest_m", "safer_m",
               "detour_ratio", "shortest_exposure", "safer_exposure", "lambda_used", "streets"},
    "places": {"place_id", "kind", "name", "source", "enrollment", "node", "snap_m", "usable"},
}


@pytest.fixture(scope="module")
def plan(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("passages.settings.processed_dir", cache)
        return make_plan(load_areas()["south-central"], data_dir=shared_data)


@pytest.fixture(scope="module")
def written(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return export_plan(plan, tmp_path_factory.mktemp("export"))


def test_geopackage_opens_with_the_documented_layers_and_columns(written: dict[str, Path], plan: Plan) -> None:
    layers = dict(pyogrio.list_layers(written["gpkg"]))
    assert list(layers) == list(LAYERS)
    for layer, columns in DOCUMENTED.items():
        info = pyogrio.read_info(written["gpkg"], layer=layer)
        assert columns <= set(info["fields"]), (layer, columns - set(info["fields"]))
        assert info["crs"] == "EPSG:4326"
    assert pyogrio.read_info(written["gpkg"], layer="streets")["features"] == plan.index.n_segments
    passages = pyogrio.read_dataframe(written["gpkg"], layer="passages")
    assert passages["length_m"].sum() / 1000 == pytest.approx(plan.route_set.passage_km)
    assert (passages["demand"] > 0).all()


def test_geojson_layers_are_lon_lat(written: dict[str, Path]) -> None:
    for layer in LAYERS:
        data = json.loads(written[layer].read_text())
        assert data["type"] == "FeatureCollection" and data["features"]
        coords = np.asarray(_all_coordinates(data))
        assert (coords[:, 0] >= -180).all() and (coords[:, 0] <= 180).all()
        assert (coords[:, 1] > 33).all() and (coords[:, 1] < 35).all()  # Los Angeles, not metres


def _all_coordinates(data: dict) -> list[list[float]]:
    out: list[list[float]] = []

    def walk(value: object) -> None:
        if isinstance(value, list) and value and isinstance(value[0], int | float):
            out.append([float(value[0]), float(value[1])])
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for feature in data["features"]:
        walk(feature["geometry"]["coordinates"])
    return out


def test_route_sheet_walks_each_safer_path_street_by_street(written: dict[str, Path], plan: Plan) -> None:
    sheet = pd.read_csv(written["route_sheet"])
    routes = plan.route_set.routes.set_index("pair_id")
    assert set(sheet["pair_id"]) == set(routes.index)
    for pair_id, steps in sheet.groupby("pair_id"):
        assert steps["step"].tolist() == list(range(1, len(steps) + 1))
        assert steps["length_m"].sum() == pytest.approx(routes.loc[pair_id, "safer_m"], abs=0.1 * len(steps))
        assert steps["from_start_m"].iloc[-1] == pytest.approx(routes.loc[pair_id, "safer_m"], abs=0.1)
        assert (steps["street"].iloc[1:].to_numpy() != steps["street"].iloc[:-1].to_numpy()).all()
    assert sheet["street"].str.len().min() > 0


def test_street_runs_merge_consecutive_segments_of_one_street() -> None:
    runs = street_runs(np.array(["A St", "A St", "", "B Ave", "A St"], dtype=object),
                       np.array([10.0, 20.0, 5.0, 40.0, 1.0]))
    assert runs == [("A St", 30.0), ("unnamed way", 5.0), ("B Ave", 40.0), ("A St", 1.0)]
    assert route_sheet.__doc__


def test_a_failed_export_leaves_no_half_geopackage(plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "plan.gpkg"
    target.write_bytes(b"old")

    def disk_full(*args: object, **kwargs: object) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(passages._io, "_exchange", disk_full)
    with pytest.raises(OutputError, match="No space left on device"):
        export_plan(plan, folder)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in folder.iterdir()) == ["plan.gpkg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left beside it


def test_exports_of_one_plan_share_its_layers_and_add_each_ones_own(plan: Plan, written: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    def marks(label: str) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame({"label": [label]}, geometry=[Point(-118.25, 34.0)], crs="EPSG:4326")

    first = export_plan(plan, tmp_path / "a", extra_layers={"posts": marks("a")})
    second = export_plan(plan, tmp_path / "b", extra_layers={"posts": marks("b"), "loops": marks("b loop")})
    assert [layer for layer, _ in pyogrio.list_layers(first["gpkg"])] == [*LAYERS, "posts"]
    assert [layer for layer, _ in pyogrio.list_layers(second["gpkg"])] == [*LAYERS, "posts", "loops"]
    for layer in LAYERS:  # the plan's own layers are the same in every export of it
        assert first[layer].read_bytes() == second[layer].read_bytes() == written[layer].read_bytes()
        assert len(pyogrio.read_dataframe(second["gpkg"], layer=layer)) == len(
            pyogrio.read_dataframe(written["gpkg"], layer=layer))
    assert first["route_sheet"].read_bytes() == second["route_sheet"].read_bytes()
    assert list(pyogrio.read_dataframe(first["gpkg"], layer="posts")["label"]) == ["a"]
    assert list(pyogrio.read_dataframe(second["gpkg"], layer="posts")["label"]) == ["b"]
    assert json.loads(second["loops"].read_text())["features"][0]["properties"]["label"] == "b loop"
    # a layer named like one of the plan's replaces it, in the GeoPackage and in its GeoJSON
    third = export_plan(plan, tmp_path / "c", extra_layers={"places": marks("c")})
    assert [layer for layer, _ in pyogrio.list_layers(third["gpkg"])] == list(LAYERS)
    assert list(pyogrio.read_dataframe(third["gpkg"], layer="places")["label"]) == ["c"]
    assert json.loads(third["places"].read_text())["features"][0]["properties"]["label"] == "c"

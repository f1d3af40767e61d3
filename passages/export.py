"""Exports of a plan for planners' other tools: GeoPackage, GeoJSON, CSV route sheets, GPX.

Every layer is in EPSG:4326 (longitude/latitude), as GeoJSON (RFC 7946) and GPX require
and as QGIS and ArcGIS read without asking. Lengths are metres. Layers:

``study_area``
    The study polygon: ``area``, ``name``, ``radius_m``.
``streets``
    Every street segment: ``segment``, ``u``, ``v`` (OSM node ids), ``name``, ``highway``,
    ``length_m``, ``risk_mass`` (incident weight on the segment), ``risk_per_100m``, ``hot``,
    ``demand`` (walkers per day on safer paths), ``on_passage``.
``passages``
    The recommended Safe Passage segments: the ``streets`` columns, ``demand > 0`` only.
``routes``
    One safer path per origin-destination pair: ``pair_id``, ``purpose``, ``origin_name``,
    ``dest_name``, ``dest_kind``, ``demand``, ``shortest_m``, ``safer_m``, ``detour_ratio``,
    ``shortest_exposure``, ``safer_exposure``, ``lambda_used``, ``streets`` (the street names
    walked, in order).
``places``
    Destinations as points (a park at its representative point): ``place_id``, ``kind``,
    ``name``, ``source``, ``enrollment``, ``node``, ``snap_m``, ``usable``.
``posts``, ``loops``
    Officer posts and footbeat loops, when the plan has officer coverage.

Incident points are never exported: risk is given aggregated on streets only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from passages import settings
from passages._io import write_atomic
from passages.plan import Plan

#: The layers of :func:`plan_layers`, in the order they are written.
LAYERS = ("study_area", "streets", "passages", "routes", "places")

#: Columns of the CSV route sheet.
ROUTE_SHEET_COLUMNS = ("pair_id", "purpose", "origin", "destination", "step", "street", "length_m",
                       "from_start_m")


def street_runs(names: np.ndarray, lengths: np.ndarray) -> list[tuple[str, float]]:
    """Merge consecutive segments of the same street: ``[(street, metres), ...]`` in walking order."""
    runs: list[tuple[str, float]] = []
    for name, length in zip(names, lengths, strict=True):
        label = str(name) if name else "(unnamed path)"
        if runs and runs[-1][0] == label:
            runs[-1] = (label, runs[-1][1] + float(length))
        else:
            runs.append((label, float(length)))
    return runs


def route_sheet(plan: Plan) -> pd.DataFrame:
    """Return the walking directions of every safer path, one row per street walked.

    Columns :data:`ROUTE_SHEET_COLUMNS`: the route, its step number (from 1), the street
    name, the metres walked on it and the metres from the start to the end of the step.
    """
    rows = []
    routes = plan.route_set.routes
    for route, segments in zip(routes.to_dict("records"), plan.route_set.safer_segments, strict=True):
        walked = 0.0
        runs = street_runs(plan.index.segment_name[segments], plan.index.segment_length[segments])
        for step, (street, length) in enumerate(runs, start=1):
            walked += length
            rows.append({
                "pair_id": route["pair_id"], "purpose": route["purpose"], "origin": route["origin_name"],
                "destination": route["dest_name"], "step": step, "street": street,
                "length_m": round(length, 1), "from_start_m": round(walked, 1),
            })
    return pd.DataFrame(rows, columns=list(ROUTE_SHEET_COLUMNS))


def plan_layers(plan: Plan) -> dict[str, gpd.GeoDataFrame]:
    """Return the plan's layers (:data:`LAYERS`) as GeoDataFrames in EPSG:4326."""
    wgs = settings.input_crs
    area = plan.area
    study = gpd.GeoDataFrame(
        {"area": [area.slug], "name": [area.name], "radius_m": [area.radius_m]},
        geometry=[area.study_polygon], crs=wgs,
    )
    streets = plan.segments().rename(columns={"mass": "risk_mass"})
    streets["on_passage"] = streets["demand"] > 0
    streets = streets.to_crs(wgs)
    routes = plan.route_set.routes.drop(columns=["origin_id", "origin_node", "dest_node"], errors="ignore").copy()
    routes["streets"] = [
        " > ".join(name for name, _ in street_runs(plan.index.segment_name[s], plan.index.segment_length[s]))
        for s in plan.route_set.safer_segments
    ]
    places = plan.places.copy()
    places["geometry"] = places.geometry.representative_point()
    return {
        "study_area": study,
        "streets": streets,
        "passages": streets[streets["on_passage"]].reset_index(drop=True),
        "routes": routes.to_crs(wgs),
        "places": places.to_crs(wgs),
    }


def _write_geopackage(layers: Mapping[str, gpd.GeoDataFrame], path: Path) -> Path:
    """Write every layer into one GeoPackage through a temporary file, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".gpkg", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # the GeoPackage driver creates the file itself
    try:
        for layer, frame in layers.items():
            frame.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def export_plan(plan: Plan, out_dir: str | Path | None = None, *, name: str = "plan",
                extra_layers: Mapping[str, gpd.GeoDataFrame] | None = None) -> dict[str, Path]:
    """Write a plan's GeoPackage, one GeoJSON per layer and the CSV route sheet.

    Parameters
    ----------
    plan
        The plan.
    out_dir
        Folder; default ``settings.maps_dir / area slug``.
    name
        File name stem: ``<name>.gpkg``, ``<name>-<layer>.geojson``, ``<name>-routes.csv``.
    extra_layers
        Further layers (EPSG:4326), e.g. ``posts`` and ``loops`` of officer coverage.

    Returns
    -------
    dict
        Paths written, by layer name, plus ``"gpkg"`` and ``"route_sheet"``.
    """
    folder = Path(out_dir) if out_dir is not None else settings.maps_dir / plan.area.slug
    layers = {**plan_layers(plan), **(extra_layers or {})}
    written: dict[str, Path] = {"gpkg": _write_geopackage(layers, folder / f"{name}.gpkg")}
    for layer, frame in layers.items():
        written[layer] = write_atomic(folder / f"{name}-{layer}.geojson", frame.to_json(drop_id=True).encode("utf-8"))
    sheet = route_sheet(plan).to_csv(index=False, lineterminator="\n")
    written["route_sheet"] = write_atomic(folder / f"{name}-routes.csv", sheet.encode("utf-8"))
    return written

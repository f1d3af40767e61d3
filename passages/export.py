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
    Officer posts and footbeat loops, when officer coverage is exported with the plan
    (:func:`coverage_layers`): the columns of :class:`passages.coverage.Coverage` ``posts``
    and of :meth:`~passages.coverage.Coverage.loops_frame`.

GPX 1.1 (:func:`coverage_gpx`): one file per footbeat, the loop as a track and its stops as
waypoints, so a phone's navigation app can follow it; the posts as waypoints.

Incident points are never exported: risk is given aggregated on streets only.
"""

from __future__ import annotations

import contextlib
import tempfile
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from passages import __version__, settings
from passages._io import OutputSet, writing_to
from passages._names import clean_name, csv_bytes, slug
from passages.coverage import Coverage
from passages.plan import Plan
from passages.street_names import merge_steps
from passages.streetindex import StreetIndex

#: The layers of :func:`plan_layers`, in the order they are written.
LAYERS = ("study_area", "streets", "passages", "routes", "places")

#: Columns of the CSV route sheet.
ROUTE_SHEET_COLUMNS = ("pair_id", "purpose", "origin", "destination", "step", "street", "length_m",
                       "from_start_m")


def street_runs(names: np.ndarray, lengths: np.ndarray) -> list[tuple[str, float]]:
    """Merge consecutive segments of the same street: ``[(street, metres), ...]`` in walking order."""
    return merge_steps([str(n) for n in names], [float(v) for v in lengths])


def route_sheet(plan: Plan) -> pd.DataFrame:
    """Return the walking directions of every safer path, one row per street walked.

    Columns :data:`ROUTE_SHEET_COLUMNS`: the route, its step number (from 1), the street
    name, the metres walked on it and the metres from the start to the end of the step.
    """
    rows = []
    routes = plan.route_set.routes
    for route, segments in zip(routes.to_dict("records"), plan.route_set.safer_segments, strict=True):
        walked = 0.0
        runs = street_runs(plan.index.segment_label[segments], plan.index.segment_length[segments])
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
        " > ".join(name for name, _ in street_runs(plan.index.segment_label[s], plan.index.segment_length[s]))
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


def _write_geopackage(layers: Mapping[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write every layer, in order, into the GeoPackage at ``path`` (added to it if it exists)."""
    for layer, frame in layers.items():
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")


@dataclass(frozen=True)
class _PlanFiles:
    """What a plan's export writes whatever else goes with it: its layers, their files, its route sheet.

    Attributes
    ----------
    layers
        :func:`plan_layers` of the plan.
    geojson
        Each of those layers as GeoJSON bytes (UTF-8), by layer name.
    geopackage
        A GeoPackage holding those layers, as bytes.
    route_sheet
        :func:`route_sheet` as CSV bytes.
    """

    layers: dict[str, gpd.GeoDataFrame]
    geojson: dict[str, bytes]
    geopackage: bytes
    route_sheet: bytes


#: The export files of the plans exported in this process, by plan identity, kept while the
#: plan lives: the scenarios of one ``brief`` share two plans, so their officer packs
#: write the same streets, routes and places six times (:func:`export_plan`).
_PLAN_FILES: dict[int, tuple[weakref.ref[Plan], _PlanFiles]] = {}


def _plan_files(plan: Plan) -> _PlanFiles:
    """Return the export files of ``plan``, made once per plan object (see :data:`_PLAN_FILES`).

    A :class:`~passages.plan.Plan` is not changed once made; a plan made anew (another
    run, other inputs) is another object and gets its own files.
    """
    key = id(plan)
    cached = _PLAN_FILES.get(key)
    if cached is not None and cached[0]() is plan:
        return cached[1]
    layers = plan_layers(plan)
    with tempfile.TemporaryDirectory(prefix="passages-export-") as folder:
        path = Path(folder) / "plan.gpkg"
        _write_geopackage(layers, path)
        geopackage = path.read_bytes()
    files = _PlanFiles(layers=layers, geojson={layer: _geojson(frame) for layer, frame in layers.items()},
                       geopackage=geopackage, route_sheet=csv_bytes(route_sheet(plan)))
    with contextlib.suppress(TypeError):  # a stand-in plan that takes no weak reference is not kept
        _PLAN_FILES[key] = (weakref.ref(plan, _forget(key)), files)
    return files


def _forget(key: int) -> Callable[[Any], None]:
    """Return the callback that drops a plan's export files when the plan is gone."""
    def forget(_ref: Any) -> None:
        _PLAN_FILES.pop(key, None)
    return forget


def _geojson(frame: gpd.GeoDataFrame) -> bytes:
    """Return a layer as GeoJSON bytes (UTF-8), without the frame's index as feature ids."""
    return frame.to_json(drop_id=True).encode("utf-8")


def export_files(name: str) -> tuple[str, ...]:
    """Return the file-name patterns of an export named ``name`` (for output sets)."""
    name = slug(name, field="export name")
    return (f"{name}.gpkg", f"{name}-*.geojson", f"{name}-routes.csv")


def export_plan(plan: Plan, out_dir: str | Path | OutputSet | None = None, *, name: str = "plan",
                extra_layers: Mapping[str, gpd.GeoDataFrame] | None = None) -> dict[str, Path]:
    """Write a plan's GeoPackage, one GeoJSON per layer and the CSV route sheet.

    The plan's own layers, their files and the route sheet are made once per plan object
    and reused by every later export of it (several scenarios' packs share a plan); only
    ``extra_layers`` are written anew each time.

    Parameters
    ----------
    plan
        The plan.
    out_dir
        Folder; default ``settings.maps_dir / area slug``.
    name
        File name stem: ``<name>.gpkg``, ``<name>-<layer>.geojson``, ``<name>-routes.csv``.
    extra_layers
        Further layers (EPSG:4326), e.g. ``posts`` and ``loops`` of officer coverage;
        one named like a plan layer replaces it.

    Returns
    -------
    dict
        Paths written, by layer name, plus ``"gpkg"`` and ``"route_sheet"``. The files are
        one output set (:func:`passages._io.output_set`): all new, or all the previous run's.
    """
    owns = export_files(name)
    files = _plan_files(plan)
    extra = dict(extra_layers or {})
    layers = {**files.layers, **extra}
    with writing_to(out_dir, settings.maps_dir / slug(plan.area.slug, field="--area"), owns=owns) as out:
        gpkg = f"{name}.gpkg"
        if any(layer in files.layers for layer in extra):  # a plan layer replaced: write them all
            _write_geopackage(layers, out.path(gpkg))
        else:
            out.write(gpkg, files.geopackage)
            _write_geopackage(extra, out.path(gpkg))
        written: dict[str, Path] = {"gpkg": out.final(gpkg)}
        for layer, frame in layers.items():
            data = files.geojson[layer] if layer not in extra else _geojson(frame)
            written[layer] = out.write(f"{name}-{slug(layer, field='layer')}.geojson", data)
        written["route_sheet"] = out.write(f"{name}-routes.csv", files.route_sheet)
    return written


GPX_NAMESPACE = "http://www.topografix.com/GPX/1/1"


def gpx_document(
    *,
    name: str,
    tracks: Sequence[tuple[str, np.ndarray]],
    waypoints: Sequence[tuple[str, float, float, str]] = (),
    description: str = "",
) -> bytes:
    """Return a GPX 1.1 document: one track per footbeat loop, one waypoint per stop.

    Parameters
    ----------
    name
        Document name (shown by navigation apps).
    tracks
        ``(name, coordinates)`` pairs, coordinates an ``(n, 2)`` array of longitude,
        latitude in EPSG:4326, in walking order.
    waypoints
        ``(name, longitude, latitude, description)`` of each stop or post.
    description
        Free text for the metadata.
    """
    name, description = clean_name(name), clean_name(description)
    waypoints = [(clean_name(label), lon, lat, clean_name(desc)) for label, lon, lat, desc in waypoints]
    tracks = [(clean_name(label), coords) for label, coords in tracks]
    ET.register_namespace("", GPX_NAMESPACE)
    ns = f"{{{GPX_NAMESPACE}}}"
    root = ET.Element(f"{ns}gpx", {"version": "1.1", "creator": f"passages {__version__}"})
    metadata = ET.SubElement(root, f"{ns}metadata")
    ET.SubElement(metadata, f"{ns}name").text = name
    if description:
        ET.SubElement(metadata, f"{ns}desc").text = description
    licence = ET.SubElement(metadata, f"{ns}copyright", {"author": "OpenStreetMap contributors"})
    ET.SubElement(licence, f"{ns}license").text = "https://opendatacommons.org/licenses/odbl/1-0/"
    for label, lon, lat, desc in waypoints:
        point = ET.SubElement(root, f"{ns}wpt", {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}"})
        ET.SubElement(point, f"{ns}name").text = label
        if desc:
            ET.SubElement(point, f"{ns}desc").text = desc
    for label, coords in tracks:
        track = ET.SubElement(root, f"{ns}trk")
        ET.SubElement(track, f"{ns}name").text = label
        segment = ET.SubElement(track, f"{ns}trkseg")
        for lon, lat in np.asarray(coords, dtype=float).reshape(-1, 2):
            ET.SubElement(segment, f"{ns}trkpt", {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}"})
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def coverage_layers(coverage: Coverage) -> dict[str, gpd.GeoDataFrame]:
    """Return a coverage's ``posts`` and ``loops`` as layers in EPSG:4326 (see :class:`Coverage`)."""
    posts = coverage.posts.drop(columns=["x", "y"], errors="ignore").to_crs(settings.input_crs)
    return {"posts": posts, "loops": coverage.loops_frame().to_crs(settings.input_crs)}


def coverage_gpx(coverage: Coverage, index: StreetIndex, *, area_name: str) -> dict[str, bytes]:
    """Return GPX 1.1 documents: ``officer<N>`` per footbeat (track + stops), ``posts`` for the posts."""
    to_wgs = Transformer.from_crs(index.crs, settings.input_crs, always_xy=True)
    documents: dict[str, bytes] = {}
    for beat in coverage.loops:
        x, y = np.asarray(beat.geometry.coords).T
        lon, lat = to_wgs.transform(x, y)
        stops = []
        for j, stop in enumerate(beat.stops, start=1):
            sx, sy = index.node_xy[index.node_positions([stop.node])[0]]
            slon, slat = to_wgs.transform(sx, sy)
            stops.append((f"Stop {j}", float(slon), float(slat),
                          f"{stop.corner}: minutes {stop.arrive_min:.0f}-{stop.leave_min:.0f} of each lap"))
        documents[f"officer{beat.officer}"] = gpx_document(
            name=f"Officer {beat.officer} footbeat, {area_name}",
            description=f"{beat.length_m / 1000:.2f} km lap, {beat.minutes:.0f} min with stops; "
                        f"windows {', '.join(coverage.windows)}",
            tracks=[(f"Officer {beat.officer} loop", np.column_stack([lon, lat]))],
            waypoints=stops,
        )
    if len(coverage.posts):
        documents["posts"] = gpx_document(
            name=f"Officer posts, {area_name}",
            description=f"windows {', '.join(coverage.windows)}",
            tracks=[],
            waypoints=[(f"Post {int(p.rank)} (officer {int(p.officer)})", float(p.lon), float(p.lat), str(p.corner))
                       for p in coverage.posts.itertuples()],
        )
    return documents

"""A plan: one area x one set of parameters, from the street network to the map.

:func:`make_plan` runs the pipeline (network -> places -> incidents -> risk -> routes) and
returns a :class:`Plan`, the unit every map and export consumes: the scored segments, the
places, the routes, the recommended Safe Passage network, the parameters and the sources
that made it. :func:`write_plan` draws its map and writes its summary.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from passages import __version__, settings
from passages._errors import EmptyResultError, InputError
from passages._io import OutputSet, writing_to
from passages._names import slug
from passages.areas import Area
from passages.incidents import IncidentReport, load_incidents
from passages.network import load_network
from passages.places import PLACE_KINDS, load_places, osm_places_online, snap_places
from passages.risk import RiskScore, add_edge_risk, score_segments
from passages.routes import RouteSet, add_edge_demand, od_pairs, plan_routes, site_origins
from passages.scenarios import PlanParameters
from passages.streetindex import StreetIndex

#: The steps of :func:`make_plan`, in order, as reported to ``on_step``.
STEPS = ("street network", "places", "incidents", "risk", "routes")


@dataclass
class Plan:
    """The result of planning one area with one set of parameters.

    Attributes
    ----------
    area, params
        What was planned and how.
    graph
        The projected walking graph with edge attributes ``incidents``, ``risk``, ``hot``
        and ``demand``.
    index
        Its :class:`StreetIndex`.
    places
        Snapped places (UTM) with ``node``, ``snap_m`` and ``usable``.
    incident_report
        Rows read, used and dropped by reason. The incident points themselves are not
        kept on the plan: maps and exports show risk aggregated on streets only.
    risk
        Risk of every segment.
    route_set
        Routes and the demand per segment.
    sources
        Files (or services) the plan was made from, with their dates where known.
    created
        UTC time the plan was made (ISO 8601).
    notes
        Data problems met on the way that did not stop the plan (warnings of the stages).
    """

    area: Area
    params: PlanParameters
    graph: nx.MultiDiGraph
    index: StreetIndex
    places: gpd.GeoDataFrame
    incident_report: IncidentReport
    risk: RiskScore
    route_set: RouteSet
    sources: list[str] = field(default_factory=list)
    created: str = ""
    notes: list[str] = field(default_factory=list)

    def segments(self) -> gpd.GeoDataFrame:
        """Return every street segment (UTM) with ``mass``, ``risk_per_100m``, ``hot``, ``demand``."""
        return self.index.segment_frame(
            mass=self.risk.mass,
            risk_per_100m=self.risk.risk_per_100m,
            hot=self.risk.hot,
            demand=self.route_set.segment_demand,
        )

    def passages(self) -> gpd.GeoDataFrame:
        """Return the recommended Safe Passage network: the segments carrying demand (UTM)."""
        frame = self.segments()
        return frame[frame["demand"] > 0].reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """Return the figures a planner checks, as JSON-ready values.

        The summary holds no clock time, so the same inputs give the same summary.
        """
        places = self.places
        by_kind = {
            kind: {
                "found": int((places["kind"] == kind).sum()),
                "usable": int(((places["kind"] == kind) & places["usable"]).sum()),
            }
            for kind in PLACE_KINDS
        }
        routes = self.route_set.routes
        report = self.incident_report
        return {
            "area": self.area.slug,
            "area_name": self.area.name,
            "passages_version": __version__,
            "crs": str(self.index.crs),
            "network": {
                "nodes": self.graph.number_of_nodes(),
                "edges": self.graph.number_of_edges(),
                "segments": self.index.n_segments,
                "street_km": round(float(self.index.segment_length.sum()) / 1000.0, 3),
            },
            "places": by_kind,
            "incidents": {
                "rows_read": report.rows_read,
                "used": report.used,
                "used_weight": round(report.used_weight, 3),
                "dropped": dict(report.dropped),
                "snapped": self.risk.snapped,
                "too_far_from_street": self.risk.too_far,
                "notes": list(report.notes),
            },
            "risk": {
                "mass": round(float(self.risk.mass.sum()), 3),
                "hot_segments": int(self.risk.hot.sum()),
            },
            "routes": {
                "pairs": len(routes) + sum(self.route_set.skipped.values()),
                "routed": len(routes),
                "skipped": dict(self.route_set.skipped),
                "by_purpose": {str(k): int(v) for k, v in routes["purpose"].value_counts().sort_index().items()},
                "mean_detour_ratio": round(float(routes["detour_ratio"].mean()), 4) if len(routes) else None,
                "exposure_shortest": round(float(routes["shortest_exposure"].sum()), 3),
                "exposure_safer": round(float(routes["safer_exposure"].sum()), 3),
            },
            "passage_km": round(self.route_set.passage_km, 3),
            "notes": list(self.notes),
            "parameters": self.params.as_dict(),
            "sources": list(self.sources),
        }


def _resolve(paths: Sequence[Path], kind: str) -> list[Path]:
    for path in paths:
        if not path.exists():
            raise InputError("file not found", path=path, field=kind,
                             fix="Check the path, or point --data-dir / $PASSAGES_DATA at the shared data folder.")
    return list(paths)


def make_plan(
    area: Area,
    *,
    params: PlanParameters | None = None,
    data_dir: str | Path | None = None,
    offline: bool = False,
    network: str | Path | None = None,
    incidents: Sequence[str | Path] | None = None,
    place_sources: Mapping[str, Sequence[str | Path]] | None = None,
    use_cache: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> Plan:
    """Plan one area: network, places, incidents, risk and routes.

    Parameters
    ----------
    area
        The area to plan.
    params
        Plan parameters; default :class:`PlanParameters()`.
    data_dir
        The shared data folder the area's local sources are relative to; default
        :func:`passages.settings.shared_data_dir`.
    offline
        Never touch the internet: the street network must come from a local file.
    network
        A street network file; default the area's own local network, else Overpass.
    incidents
        Incident files; default the area's.
    place_sources
        Files by place kind (``"schools"``, ``"transit"``, ``"parks"``, ``"libraries"``,
        ``"osm"``); a kind given here replaces the area's own files of that kind. With no
        file of any kind, places come from OpenStreetMap online (not with ``offline``).
    use_cache
        Read and write the processed-network cache.
    on_step
        Called with each step's name (:data:`STEPS`) as it starts, for progress display.

    Raises
    ------
    InputError
        A file is missing or unusable, a parameter impossible.
    EmptyResultError
        No street, no school or no incident left to plan with.
    """
    params = params or PlanParameters()
    params.check()
    if params.radius_m is not None:
        area = area.with_radius(params.radius_m)
    data = Path(data_dir) if data_dir is not None else settings.shared_data_dir()
    step = on_step or (lambda _name: None)

    # resolve every input before the heavy work, so a bad path fails at once
    network_path = Path(network) if network is not None else (
        area.source_paths("network", data)[0] if area.offline else None
    )
    incident_paths = _resolve(
        [Path(p) for p in incidents] if incidents is not None else area.source_paths("incidents", data), "incidents"
    )
    if not incident_paths:
        raise InputError(f"no incident file for area {area.slug!r}", field="--incidents",
                         fix="Give one with --incidents FILE.")
    if place_sources is None:
        place_sources = {}
    # files given by kind replace the area's own files of that kind
    place_sources = {
        **{kind: area.source_paths(kind, data) for kind in area.sources if kind not in ("network", "incidents")},
        **{kind: paths for kind, paths in place_sources.items() if paths},
    }
    place_paths = {kind: _resolve([Path(p) for p in paths], kind) for kind, paths in place_sources.items()}

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = _run_stages(area, params, offline=offline, network_path=network_path, incident_paths=incident_paths,
                           place_paths=place_paths, use_cache=use_cache, step=step)
    plan.notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    return plan


def _run_stages(
    area: Area, params: PlanParameters, *, offline: bool, network_path: Path | None, incident_paths: list[Path],
    place_paths: dict[str, list[Path]], use_cache: bool, step: Callable[[str], None],
) -> Plan:
    sources: list[str] = []
    step("street network")
    graph = load_network(area, network_path, offline=offline, use_cache=use_cache)
    index = StreetIndex(graph)
    stamp = graph.graph.get("osm_timestamp")
    sources.append(f"Street network: {graph.graph.get('source')}" + (f" (OSM data of {stamp})" if stamp else ""))

    step("places")
    if any(place_paths.values()):
        places = load_places(area, sources=place_paths)
        for kind, paths in place_paths.items():
            sources.extend(f"{kind.capitalize()}: {p}" for p in paths)
    elif offline:
        raise InputError(
            f"area {area.slug!r} has no local schools, stops or parks and --offline was given",
            field="--schools", fix="Give place files (--schools, --transit, --parks), or drop --offline.",
        )
    else:
        online = osm_places_online(area, cache_dir=settings.raw_dir / "osmnx-cache").to_crs(area.crs)
        places = online[online.intersects(area.study_polygon_utm)].reset_index(drop=True)
        sources.append("Places: OpenStreetMap via Overpass")
    places = snap_places(places, index, max_snap_m=params.place_snap_m)

    step("incidents")
    incident_set = load_incidents(
        incident_paths, area=area, windows=params.windows, weekdays=params.weekdays,
        categories=params.categories or None, half_life_days=params.half_life_days,
        lookback_days=params.lookback_days,
    )
    sources.extend(f"Incidents: {s}" for s in incident_set.report.sources)
    report = incident_set.report
    if report.used == 0:
        dropped = "; ".join(f"{reason} {count:,}" for reason, count in report.dropped.items() if count) or "none"
        raise EmptyResultError(
            f"no incident of {', '.join(str(p) for p in incident_paths)} is usable for {area.slug!r} "
            f"({report.rows_read:,} rows read; dropped: {dropped}), so the plan would have no risk at all. "
            "Give incidents inside the area and its time windows (--incidents), or widen the windows")

    step("risk")
    risk = score_segments(index, incident_set.points, snap_m=params.snap_m, bandwidth_m=params.bandwidth_m,
                          hot_share=params.hot_share, own_share=params.own_share)
    add_edge_risk(graph, index, risk)

    step("routes")
    origins = site_origins(area, index)
    pairs = od_pairs(places, origins, index, link_radius_m=params.link_radius_m,
                     links_per_kind=params.links_per_kind)
    if len(pairs) == 0:
        raise EmptyResultError(
            f"no school of {area.slug!r} lies within {area.radius_m:.0f} m and near a street: "
            "nothing to route. Give a schools file that covers the area, or a larger radius."
        )
    route_set = plan_routes(index, pairs, risk.risk_per_100m, risk_lambda=params.risk_lambda,
                            max_detour=params.max_detour)
    if len(route_set.routes) == 0:
        skipped = "; ".join(f"{reason} {count}" for reason, count in route_set.skipped.items()) or "none"
        raise EmptyResultError(
            f"none of the {len(pairs)} walks of {area.slug!r} could be routed (skipped: {skipped}). "
            "Check that the places lie on the area's street network")
    add_edge_demand(graph, index, route_set)
    return Plan(area, params, graph, index, places, incident_set.report, risk, route_set, sources,
                datetime.now(UTC).replace(microsecond=0).isoformat())


def plan_credits(plan: Plan) -> list[str]:
    """Return the attribution lines of a plan's map beyond OpenStreetMap's (which maps always carry)."""
    credits = []
    text = " ".join(plan.sources).lower()
    if "incidents" in text:
        credits.append("Incidents: LAPD open data (City of Los Angeles), shown only as risk on streets")
    if "schools_colleges" in text:
        credits.append("Schools: LA County / California Department of Education")
    if "lacmta" in text:
        credits.append("Transit: LA Metro")
    if "recreation_and_parks" in text or "dpr_park" in text:
        credits.append("Parks: City of LA Recreation and Parks, LA County Parks and Recreation")
    return credits


def map_layers(plan: Plan) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return what a plan map draws, in EPSG:4326: the segments, the passages, the places.

    Places are points (a park at its representative point), the site (centre or
    entrances) first as places of kind ``"site"``; ``routed`` says which a route uses.
    Segments carry ``label``: their name where it is a street's (for the map's labels).
    """
    segments = plan.segments().to_crs(settings.input_crs)
    # map labels: street names only (a sidewalk by its street), not "across X at Y" or "alley off X"
    street = np.isin(plan.index.segment_name_source, ["osm", "beside"])
    segments["label"] = np.where(street, segments["name"].to_numpy(dtype=object), "")
    passages = segments[segments["demand"] > 0].reset_index(drop=True)
    places = plan.places.copy()
    places["geometry"] = places.geometry.representative_point()
    routes = plan.route_set.routes
    places["routed"] = places["place_id"].isin({*routes["origin_id"], *routes["dest_id"]})
    origins = site_origins(plan.area, plan.index)
    origin_xy = plan.index.node_xy[plan.index.node_positions([o.node for o in origins])]
    sites = gpd.GeoDataFrame(
        {"kind": "site", "name": [o.name for o in origins], "snap_m": 0.0, "usable": True, "routed": True},
        geometry=gpd.points_from_xy(origin_xy[:, 0], origin_xy[:, 1]), crs=places.crs,
    )
    places = pd.concat([sites, places], ignore_index=True).to_crs(settings.input_crs)
    return segments, passages, places


def plan_files(name: str) -> tuple[str, str]:
    """Return the file names of a plan's map and summary: ``<name>.html``, ``<name>-summary.json``."""
    name = slug(name, field="plan or scenario name")
    return f"{name}.html", f"{name}-summary.json"


def summary_json(plan: Plan) -> bytes:
    """Return the plan's summary as JSON text (UTF-8); every number finite.

    Raises
    ------
    EmptyResultError
        A figure of the plan is NaN or infinite (strict JSON has no such numbers).
    """
    try:
        text = json.dumps(plan.summary(), indent=2, default=_json_default, allow_nan=False) + "\n"
    except ValueError:
        raise EmptyResultError(
            f"the plan of {plan.area.slug!r} has a figure that is not a finite number; "
            "check the incident weights and the plan parameters") from None
    return text.encode("utf-8")


def write_plan(
    plan: Plan, *, out_dir: str | Path | OutputSet | None = None, name: str = "plan", tiles: bool = True,
    lang: str = "en",
) -> dict[str, Path]:
    """Draw the plan's map and write its summary; return the paths written.

    Files go to ``out_dir`` (default ``settings.maps_dir / area slug``): ``<name>.html``
    (the map) and ``<name>-summary.json``, written as one output set
    (:func:`passages._io.output_set`): either both are new or both are the previous run's.
    ``out_dir`` may also be an output set the caller opened, to put several plans in one set.
    ``lang`` is the language of the map's words (:data:`passages.i18n.LANGUAGES`).
    """
    map_name, summary_name = plan_files(name)
    page, summary = plan_documents(plan, tiles=tiles, lang=lang)
    with writing_to(out_dir, settings.maps_dir / slug(plan.area.slug, field="--area")) as out:
        return {"map": out.write(map_name, page), "summary": out.write(summary_name, summary)}


def plan_documents(plan: Plan, *, tiles: bool = True, lang: str = "en") -> tuple[bytes, bytes]:
    """Return the plan's map (self-contained HTML, its words in ``lang``) and summary (JSON), both UTF-8 bytes."""
    from passages.maps import map_html, plan_map

    segments, passages, places = map_layers(plan)
    fmap = plan_map(
        area=plan.area, segments=segments, passages=passages, places=places,
        credits=plan_credits(plan), tiles=tiles, lang=lang,
    )
    return map_html(fmap), summary_json(plan)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")

"""A plan: one area x one set of parameters, from the street network to the map.

:func:`make_plan` runs the pipeline (network -> places -> incidents -> risk -> routes) and
returns a :class:`Plan`, the unit every map and export consumes: the scored segments, the
places, the routes, the recommended Safe Passage network, the parameters and the sources
that made it. :func:`write_plan` draws its map and writes its summary.

The pipeline is cut in two where the parameters start: :func:`load_plan_inputs` reads an
area's files once (street network and its index, places, incidents) into a
:class:`PlanInputs`, whose :meth:`PlanInputs.plan` plans from them with any parameters,
re-doing only the stages the parameters change (the planning service keeps them warm to
answer "what if" in a fraction of a second). :func:`make_plan` is the two halves in a row.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from passages import __version__, settings
from passages._errors import EmptyResultError, InputError
from passages._io import OutputSet, writing_to
from passages._names import slug
from passages.areas import Area
from passages.businesses import business_pairs, corridor_places, group_corridors, load_storefronts
from passages.concerns import SegmentConcerns, load_concerns, segment_concerns
from passages.demand import (
    HOME_ID_PREFIX,
    HomeBlocks,
    HomeDemand,
    default_demand,
    home_blocks,
    home_pairs,
    residential_near_passages,
)
from passages.incidents import IncidentReport, IncidentScan, IncidentSet
from passages.mapping import InputMapping, as_mapping
from passages.network import load_network
from passages.places import PLACE_KINDS, load_places, osm_places_online, snap_places
from passages.risk import RiskScore, add_edge_risk, score_segments
from passages.routes import Origin, RouteSet, add_edge_demand, od_pairs, plan_routes, site_origins
from passages.scenarios import CoverageParameters, PlanParameters
from passages.streetindex import StreetIndex

if TYPE_CHECKING:
    from passages.coverage import Coverage

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
        The projected walking graph; from :func:`make_plan` with edge attributes
        ``incidents``, ``risk``, ``hot`` and ``demand`` (a plan of :meth:`PlanInputs.plan`
        shares its inputs' graph, without them unless asked for).
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
    demand_model
        Where the walks to school start: ``"site"``, ``"homes"`` or ``"both"``
        (:mod:`passages.demand`).
    home_demand
        The home blocks and their walks, when the model has them.
    concerns
        The community's concerns on the streets, when a concerns file was given.
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
    demand_model: str = "site"
    home_demand: HomeDemand | None = None
    concerns: SegmentConcerns | None = None

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
            "demand": self.demand_summary(),
            "businesses": self.business_summary(),
            "concerns": (self.concerns.summary(self.route_set.segment_demand > 0, self.params.concern_weight)
                         if self.concerns is not None else None),
            "passage_km": round(self.route_set.passage_km, 3),
            "notes": list(self.notes),
            "parameters": self.params.as_dict(),
            "sources": list(self.sources),
        }


    def business_summary(self) -> dict[str, Any]:
        """Return the business corridors of the plan and the walks to them."""
        routes = self.route_set.routes
        corridors = self.places[(self.places["kind"] == "business").to_numpy(dtype=bool)]
        purposes = routes["purpose"].to_numpy(dtype=str)
        return {
            "corridors": len(corridors),
            "storefronts_in_corridors": int(corridors["storefronts"].sum()) if "storefronts" in corridors else 0,
            "corridor_km": round(float(corridors["length_m"].sum()) / 1000.0, 3) if "length_m" in corridors else 0.0,
            "walks": {purpose: int((purposes == purpose).sum()) for purpose in ("home-business", "transit-business")},
            "walkers": round(float(routes["demand"].to_numpy(dtype=float)[np.char.endswith(purposes, "-business")]
                                   .sum()), 3),
        }

    def demand_summary(self) -> dict[str, Any]:
        """Return where the walks start and how much of the area's homes the passages reach.

        ``origins`` counts the distinct starts of the routed walks to school (site centre
        or entrances, home blocks), ``walkers`` their demand (walkers per day), and
        ``residential_share_near_passage`` the share of residential street length within
        :data:`passages.settings.near_passage_m` metres of a passage.
        """
        routes = self.route_set.routes
        to_school = routes[routes["purpose"] == "home-school"]
        from_homes = to_school["origin_id"].astype(str).str.startswith(HOME_ID_PREFIX).to_numpy(dtype=bool)
        residential_m, near_m = residential_near_passages(self.index, self.route_set.segment_demand)
        figures: dict[str, Any] = {
            "model": self.demand_model,
            "origins": int(to_school["origin_id"].nunique()),
            "walkers": round(float(to_school["demand"].sum()), 3),
            "site_walkers": round(float(to_school["demand"].to_numpy(dtype=float)[~from_homes].sum()), 3),
            "residential_km": round(residential_m / 1000.0, 3),
            "residential_share_near_passage": round(min(near_m / residential_m, 1.0), 4) if residential_m else None,
            "near_passage_m": settings.near_passage_m,
        }
        if self.home_demand is not None:
            figures.update(self.home_demand.summary())
            routed = to_school["demand"].to_numpy(dtype=float)[from_homes]
            figures["home_walkers_routed"] = round(float(routed.sum()), 3)
        return figures


def _resolve(paths: Sequence[Path], kind: str) -> list[Path]:
    for path in paths:
        if not path.exists():
            raise InputError("file not found", path=path, field=kind,
                             fix="Check the path, or point --data-dir / $PASSAGES_DATA at the shared data folder.")
    return list(paths)


@dataclass(frozen=True)
class InputFiles:
    """The files one area is planned from, resolved and checked to exist.

    Attributes
    ----------
    network
        The street network file; ``None`` when the network comes from Overpass.
    incidents
        The incident files (at least one).
    places
        Place files by kind (``"schools"``, ``"transit"``, ``"parks"``, ``"libraries"``,
        ``"osm"``); with none at all, places come from OpenStreetMap online.
    mapping
        The mapping the files are read with (:mod:`passages.mapping`: which column plays
        each role, date formats, crime types), ``None`` for the files as they come.
    businesses
        Business listings or points of interest the corridors are made from
        (:mod:`passages.businesses`); none, no corridor.
    concerns
        The community's concerns (:mod:`passages.concerns`); none, none shown.
    """

    network: Path | None
    incidents: tuple[Path, ...]
    places: dict[str, tuple[Path, ...]]
    mapping: InputMapping | None = None
    businesses: tuple[Path, ...] = ()
    concerns: tuple[Path, ...] = ()

    def paths(self) -> list[Path]:
        """Return every file, in the order they are read: network, places, incidents."""
        network = [self.network] if self.network is not None else []
        return [*network, *(p for paths in self.places.values() for p in paths), *self.businesses, *self.concerns,
                *self.incidents]


def input_files(
    area: Area,
    *,
    data_dir: str | Path | None = None,
    network: str | Path | None = None,
    incidents: Sequence[str | Path] | None = None,
    place_sources: Mapping[str, Sequence[str | Path]] | None = None,
    mapping: InputMapping | str | Path | Mapping[str, Any] | None = None,
) -> InputFiles:
    """Return the files an area is planned from (see :func:`make_plan` for the arguments).

    No data file is read: every path is only checked to exist, so that a bad path fails at
    once; a mapping given as a path is read and checked (it is small), for the same reason.

    Raises
    ------
    InputError
        A file is missing, no incident file is given or known for the area, or the
        mapping is invalid (:func:`passages.mapping.read_mapping`).
    """
    data = Path(data_dir) if data_dir is not None else settings.shared_data_dir()
    network_path = Path(network) if network is not None else (
        area.source_paths("network", data)[0] if area.offline else None
    )
    incident_paths = _resolve(
        [Path(p) for p in incidents] if incidents is not None else area.source_paths("incidents", data), "incidents"
    )
    if not incident_paths:
        raise InputError(f"no incident file for area {area.slug!r}", field="--incidents",
                         fix="Give one with --incidents FILE.")
    # files given by kind replace the area's own files of that kind
    sources = {
        **{kind: area.source_paths(kind, data) for kind in area.sources if kind not in ("network", "incidents")},
        **{kind: paths for kind, paths in (place_sources or {}).items() if paths},
    }
    places = {kind: tuple(_resolve([Path(p) for p in paths], kind)) for kind, paths in sources.items()
              if kind not in ("businesses", "concerns")}
    businesses = tuple(_resolve([Path(p) for p in sources.get("businesses", ())], "businesses"))
    concerns = tuple(_resolve([Path(p) for p in sources.get("concerns", ())], "concerns"))
    return InputFiles(network_path, tuple(incident_paths), places, as_mapping(mapping), businesses, concerns)


def _unused_file_sections(files: InputFiles) -> list[str]:
    """Notes for the ``[files."NAME"]`` sections of the mapping that name no input file (a typo?)."""
    if files.mapping is None:
        return []
    names = {path.name for path in files.paths()}
    where = files.mapping.path.name if files.mapping.path is not None else "the mapping"
    return [f"{where}: [files.{json.dumps(name, ensure_ascii=False)}] names no input file of this plan; "
            "its keys are not used" for name, _ in files.mapping.files if name not in names]


#: Serialises the recording of warnings (``warnings.catch_warnings`` changes the whole
#: process's warning state, so two threads recording at once would lose or swap notes).
_NOTES_LOCK = threading.RLock()

_T = TypeVar("_T")


def _noting(make: Callable[[], _T]) -> tuple[_T, list[str]]:
    """Run ``make``; return its result and the messages of the UserWarnings it raised (the notes)."""
    with _NOTES_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = make()
    return result, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


class _Memo(Generic[_T]):
    """The last few results of one stage by the parameters they depend on (least recent dropped first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, _T] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], _T]) -> _T:
        """Return the result kept for ``key``, else ``make()`` (kept unless it raises)."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


@dataclass(frozen=True)
class _StageKeys:
    """The parameters each stage of a plan depends on (its own and those of the stages before it)."""

    snap: tuple[Any, ...]
    incidents: tuple[Any, ...]
    risk: tuple[Any, ...]
    pairs: tuple[Any, ...]
    routes: tuple[Any, ...]

    @classmethod
    def of(cls, p: PlanParameters) -> _StageKeys:
        snap = (p.place_snap_m,)
        incidents = (p.windows, p.weekdays, p.categories, p.half_life_days, p.lookback_days)
        risk = (incidents, p.snap_m, p.bandwidth_m, p.hot_share, p.own_share)
        pairs = (snap, p.link_radius_m, p.links_per_kind, p.demand, p.home_walk_m, p.business_share)
        return cls(snap, incidents, risk, pairs, (risk, pairs, p.risk_lambda, p.max_detour, p.concern_weight))


class PlanInputs:
    """What an area is planned from, read once: plan it again and again with other parameters.

    Made by :func:`load_plan_inputs`. :meth:`plan` runs the stages that depend on the
    parameters (places snapped, incidents selected, risk, routes) and keeps their last
    few results by the parameters each depends on, so a new plan re-does only what its
    changed parameters change: the time windows, weekdays, categories, half-life or
    lookback re-select the incidents (no file read) and re-score the risk and the routes;
    the risk aversion or the largest detour re-route only; officers (:meth:`cover`)
    re-cover only. A plan made here equals :func:`make_plan` with the same parameters
    (which plans through this class too).

    One plan or cover at a time runs on one ``PlanInputs`` (a lock), so threads may share
    it. The graph is shared by the plans made here and holds no plan's edge attributes
    unless :meth:`plan` is asked for them.

    Attributes
    ----------
    area
        The area (with the walking radius the inputs were read for).
    files
        The files read (:class:`InputFiles`).
    graph, index
        The projected walking graph and its :class:`StreetIndex`.
    places
        The places read (UTM), before snapping.
    storefronts
        The storefronts read from the business files (UTM), or ``None``: no corridor.
    concerns
        The community's concerns read (UTM), or ``None``: no concerns file.
    sources
        The network and place sources, as :attr:`Plan.sources` names them.
    today
        The day incidents dated after it are dropped as dated in the future (Los Angeles).
    """

    #: How many results of each stage are kept (the parameters a planner goes back to).
    MEMO_SIZE = 8

    def __init__(self, area: Area, files: InputFiles, graph: nx.MultiDiGraph, index: StreetIndex,
                 places: gpd.GeoDataFrame, sources: list[str], incidents: IncidentScan,
                 notes: Mapping[str, list[str]], storefronts: gpd.GeoDataFrame | None = None,
                 concerns: gpd.GeoDataFrame | None = None) -> None:
        self.area = area
        self.files = files
        self.graph = graph
        self.index = index
        self.places = places
        self.storefronts = storefronts
        self.concerns = concerns
        self.sources = list(sources)
        self.today = incidents.today
        self._incidents = incidents
        self._notes = {key: list(value) for key, value in notes.items()}
        self._lock = threading.RLock()
        size = self.MEMO_SIZE
        self._snapped: _Memo[tuple[gpd.GeoDataFrame, list[str]]] = _Memo(size)
        self._selected: _Memo[tuple[IncidentSet, list[str]]] = _Memo(size)
        self._risks: _Memo[tuple[RiskScore, list[str]]] = _Memo(size)
        self._origins: _Memo[tuple[list[Origin], list[str]]] = _Memo(1)
        self._blocks: _Memo[tuple[HomeBlocks, list[str]]] = _Memo(1)
        self._corridors: _Memo[tuple[gpd.GeoDataFrame, list[str]]] = _Memo(1)
        self._concerns: _Memo[SegmentConcerns | None] = _Memo(1)
        self._pairs: _Memo[tuple[tuple[pd.DataFrame, HomeDemand | None], list[str]]] = _Memo(size)
        self._routes: _Memo[tuple[RouteSet, list[str]]] = _Memo(size)
        self._models: _Memo[Any] = _Memo(size)

    def is_current(self) -> bool:
        """Whether today (Los Angeles) is still the day the incidents were read for."""
        from passages.incidents import _today

        return bool(_today() == self.today)

    def plan(self, params: PlanParameters | None = None, *, on_step: Callable[[str], None] | None = None,
             graph_attributes: bool = False) -> Plan:
        """Plan the area with ``params`` (default :class:`PlanParameters()`), reading no file.

        Parameters
        ----------
        params
            The parameters; ``radius_m`` must be ``None`` or the radius the inputs were read
            for (another radius is another street network: load the inputs again).
        on_step
            Called with ``"risk"`` and ``"routes"`` as they start (the steps before are
            :func:`load_plan_inputs`'s).
        graph_attributes
            Give the plan its own copy of the graph with the edge attributes ``incidents``,
            ``risk``, ``hot`` and ``demand`` (about 0.1 s for a sample area); by default the
            plan's graph is the shared one, without them (maps and exports read the
            segments, not the graph).

        Raises
        ------
        InputError
            A parameter is impossible, or ``radius_m`` differs from the inputs'.
        EmptyResultError
            No incident is left with these parameters, or no walk can be routed.
        """
        params = params or PlanParameters()
        params.check()
        with self._lock:
            plan = self._plan(params, on_step=on_step)
        if graph_attributes:
            plan.graph = self.graph.copy()
            add_edge_risk(plan.graph, self.index, plan.risk)
            add_edge_demand(plan.graph, self.index, plan.route_set)
        return plan

    def cover(self, plan: Plan, params: CoverageParameters | None = None) -> Coverage:
        """Return where the plan's officers go (:func:`passages.coverage.cover`), reusing its covering model.

        ``plan`` must come from :meth:`plan` of these inputs. The covering model (watch
        matrix of the passages, about as costly as routing) is kept per plan and watch
        radius, so other officer numbers, modes, paces or stops only re-cover.

        Raises
        ------
        InputError
            An impossible coverage parameter (:meth:`CoverageParameters.check`).
        ValueError
            The plan was not made from these inputs.
        """
        from passages.coverage import CoverageModel, cover

        params = params or CoverageParameters()
        params.check(windows=tuple(plan.params.windows))
        if plan.index is not self.index:
            raise ValueError("the plan was not made from these inputs")
        key = (_StageKeys.of(plan.params).routes, params.cover_radius_m)
        with self._lock:
            model = self._models.get(key, lambda: CoverageModel(plan, radius_m=params.cover_radius_m))
            return cover(plan, params, model=model)

    def _plan(self, params: PlanParameters, *, on_step: Callable[[str], None] | None) -> Plan:
        """The stages of a plan that depend on its parameters, each from the memo when it can."""
        if params.radius_m is not None and params.radius_m != self.area.radius_m:
            raise InputError(
                f"the inputs were read for a walking radius of {self.area.radius_m:g} m, not {params.radius_m:g} m",
                field="radius_m", fix="Read the inputs again for the new radius (another radius is another network).")
        step = on_step or (lambda _name: None)
        area, index = self.area, self.index
        keys = _StageKeys.of(params)
        places, snap_notes = self._snapped.get(keys.snap, lambda: _noting(
            lambda: self._with_corridors(snap_places(self.places, index, max_snap_m=params.place_snap_m))))
        incident_set, select_notes = self._selected.get(keys.incidents, lambda: _noting(
            lambda: self._incidents.select(
                windows=params.windows, weekdays=params.weekdays, categories=params.categories or None,
                half_life_days=params.half_life_days, lookback_days=params.lookback_days)))
        report = incident_set.report
        if report.used == 0:
            dropped = "; ".join(f"{reason} {count:,}" for reason, count in report.dropped.items() if count) or "none"
            raise EmptyResultError(
                f"no incident of {', '.join(str(p) for p in self.files.incidents)} is usable for {area.slug!r} "
                f"({report.rows_read:,} rows read; dropped: {dropped}), so the plan would have no risk at all. "
                "Give incidents inside the area and its time windows (--incidents), or widen the windows")

        step("risk")
        risk, risk_notes = self._risks.get(keys.risk, lambda: _noting(lambda: score_segments(
            index, incident_set.points, snap_m=params.snap_m, bandwidth_m=params.bandwidth_m,
            hot_share=params.hot_share, own_share=params.own_share)))

        step("routes")
        model = params.demand or default_demand(area)
        origins: list[Origin] = []
        origin_notes: list[str] = []
        if model in ("site", "both"):
            origins, origin_notes = self._origins.get((), lambda: _noting(lambda: site_origins(area, index)))
        blocks: HomeBlocks | None = None
        if model in ("homes", "both"):
            blocks, block_notes = self._blocks.get((), lambda: _noting(lambda: home_blocks(index)))
            origin_notes = [*origin_notes, *block_notes]
        (pairs, homes), pair_notes = self._pairs.get(keys.pairs, lambda: _noting(
            lambda: self._pairs_of(places, origins, blocks, params)))
        if len(pairs) == 0:
            raise EmptyResultError(
                f"no school of {area.slug!r} lies within {area.radius_m:.0f} m and near a street: "
                "nothing to route. Give a schools file that covers the area, or a larger radius."
            )
        concerns = self._concerns.get((), lambda: None if self.concerns is None else segment_concerns(
            self.concerns, index))
        route_set, route_notes = self._routes.get(keys.routes, lambda: _noting(lambda: plan_routes(
            index, pairs, risk.risk_per_100m, risk_lambda=params.risk_lambda, max_detour=params.max_detour,
            concerns=None if concerns is None else concerns.count, concern_weight=params.concern_weight)))
        if len(route_set.routes) == 0:
            skipped = "; ".join(f"{reason} {count}" for reason, count in route_set.skipped.items()) or "none"
            raise EmptyResultError(
                f"none of the {len(pairs)} walks of {area.slug!r} could be routed (skipped: {skipped}). "
                "Check that the places lie on the area's street network")
        sources = [*self.sources, *(f"Incidents: {s}" for s in report.sources)]
        notes = [*self._notes["network"], *self._notes["places"], *snap_notes, *self._notes["incidents"],
                 *select_notes, *risk_notes, *origin_notes, *pair_notes, *route_notes]
        return Plan(area, params, self.graph, index, places, report, risk, route_set, sources,
                    datetime.now(UTC).replace(microsecond=0).isoformat(), list(dict.fromkeys(notes)),
                    model, homes, concerns)

    def _with_corridors(self, places: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """The snapped places and the business corridors (:mod:`passages.businesses`), as one frame."""
        if self.storefronts is None:
            return places
        found, notes = self._corridors.get((), lambda: _noting(lambda: group_corridors(self.storefronts, self.index)))
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        if len(found) == 0:
            if len(self.storefronts):
                warnings.warn(f"area {self.area.slug!r}: {len(self.storefronts)} storefronts, but no run of street "
                              f"with {settings.corridor_min_storefronts} or more: no business corridor",
                              UserWarning, stacklevel=2)
            return places
        corridors = corridor_places(found)
        return gpd.GeoDataFrame(pd.concat([places, corridors[[c for c in corridors.columns if c in places.columns
                                                              or c in ("storefronts", "length_m")]]],
                                          ignore_index=True), crs=places.crs)

    def _pairs_of(self, places: gpd.GeoDataFrame, origins: list[Origin], blocks: HomeBlocks | None,
                  params: PlanParameters) -> tuple[pd.DataFrame, HomeDemand | None]:
        """The walks of a plan: the site's and the home blocks' to school, the schools' links, and
        the walks to the business corridors."""
        walks, report = (None, None) if blocks is None else home_pairs(
            blocks, places, self.index, walk_limit_m=params.home_walk_m)
        pairs = od_pairs(places, origins, self.index, link_radius_m=params.link_radius_m,
                         links_per_kind=params.links_per_kind, homes=walks)
        corridors = places[(places["kind"] == "business").to_numpy(dtype=bool)]
        if len(corridors) and len(pairs):
            shops = business_pairs(corridors, pairs, self.index, share=params.business_share,
                                   walk_limit_m=params.home_walk_m, link_radius_m=params.link_radius_m)
            if len(shops):
                pairs = pd.concat([pairs.drop(columns="pair_id"), shops], ignore_index=True)
                pairs.insert(0, "pair_id", [f"P{i + 1:03d}" for i in range(len(pairs))])
        if report is not None and report.reached < report.blocks:
            far = report.blocks - report.reached
            warnings.warn(f"{far} of {report.blocks} home blocks of {self.area.slug!r} {'is' if far == 1 else 'are'} "
                          f"more than {report.walk_limit_m:g} m of walking from every school: no walk starts there",
                          UserWarning, stacklevel=2)
        if report is not None and report.schools_without_homes:
            warnings.warn(f"{report.schools_without_homes} school(s) of {self.area.slug!r} have no home block nearer "
                          "to them than to another school (no residential street in their catchment): no home walk "
                          "goes there", UserWarning, stacklevel=2)
        return pairs, report


def load_plan_inputs(
    area: Area,
    *,
    data_dir: str | Path | None = None,
    offline: bool = False,
    network: str | Path | None = None,
    incidents: Sequence[str | Path] | None = None,
    place_sources: Mapping[str, Sequence[str | Path]] | None = None,
    use_cache: bool = True,
    on_step: Callable[[str], None] | None = None,
    mapping: InputMapping | str | Path | Mapping[str, Any] | None = None,
) -> PlanInputs:
    """Read what an area is planned from: street network and index, places, incidents.

    The arguments are :func:`make_plan`'s; ``on_step`` is called with ``"street network"``,
    ``"places"`` and ``"incidents"`` as they start. Plan from the result with
    :meth:`PlanInputs.plan`, as often as wanted.

    Raises
    ------
    InputError
        A file is missing or unusable.
    EmptyResultError
        No street or no place lies in the area.
    """
    files = input_files(area, data_dir=data_dir, network=network, incidents=incidents, place_sources=place_sources,
                        mapping=mapping)
    step = on_step or (lambda _name: None)
    notes: dict[str, list[str]] = {}

    step("street network")
    (graph, index), notes["network"] = _noting(lambda: _network_and_index(area, files.network, offline=offline,
                                                                          use_cache=use_cache))
    stamp = graph.graph.get("osm_timestamp")
    sources = [f"Street network: {graph.graph.get('source')}" + (f" (OSM data of {stamp})" if stamp else "")]

    step("places")
    if any(files.places.values()):
        places, notes["places"] = _noting(lambda: load_places(area, sources=files.places, mapping=files.mapping))
        for kind, paths in files.places.items():
            sources.extend(f"{kind.capitalize()}: {p}" for p in paths)
    elif offline:
        raise InputError(
            f"area {area.slug!r} has no local schools, stops or parks and --offline was given",
            field="--schools", fix="Give place files (--schools, --transit, --parks), or drop --offline.",
        )
    else:
        def online_places() -> gpd.GeoDataFrame:
            found = osm_places_online(area, cache_dir=settings.raw_dir / "osmnx-cache").to_crs(area.crs)
            return found[found.intersects(area.study_polygon_utm)].reset_index(drop=True)

        places, notes["places"] = _noting(online_places)
        sources.append("Places: OpenStreetMap via Overpass")

    storefronts, business_notes = _noting(lambda: load_storefronts(area, files.businesses))
    notes["places"] = [*notes["places"], *business_notes]
    sources.extend(f"Businesses: {p}" for p in files.businesses)
    concerns = load_concerns(area, files.concerns) if files.concerns else None
    sources.extend(f"Community concerns: {p}" for p in files.concerns)

    step("incidents")
    scan, notes["incidents"] = _noting(lambda: IncidentScan(files.incidents, area, mapping=files.mapping))
    notes["incidents"] = [*_unused_file_sections(files), *notes["incidents"]]
    if files.mapping is not None and files.mapping.path is not None:
        sources.append(f"Mapping: {files.mapping.path}")
    return PlanInputs(area, files, graph, index, places, sources, scan, notes, storefronts, concerns)


def _network_and_index(area: Area, source: Path | None, *, offline: bool,
                       use_cache: bool) -> tuple[nx.MultiDiGraph, StreetIndex]:
    graph = load_network(area, source, offline=offline, use_cache=use_cache)
    return graph, StreetIndex(graph)


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
    mapping: InputMapping | str | Path | Mapping[str, Any] | None = None,
) -> Plan:
    """Plan one area: network, places, incidents, risk and routes.

    The inputs are read by :func:`load_plan_inputs` and planned by
    :meth:`PlanInputs.plan` (the one pipeline: to plan an area again with other
    parameters, keep the inputs and call their ``plan``); the plan's graph carries the
    edge attributes.

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
    mapping
        A mapping file (its path), an :class:`passages.mapping.InputMapping` or the same
        keys as a dict: which column of each incident and place file plays each role, date
        formats, the CRS of coordinate columns and a crime-type-to-category table, per
        kind and per file (see :mod:`passages.mapping`).

    Raises
    ------
    InputError
        A file is missing or unusable, a parameter impossible, the mapping invalid or
        naming a column a file lacks.
    EmptyResultError
        No street, no school or no incident left to plan with.
    """
    params = params or PlanParameters()
    params.check()
    if params.radius_m is not None:
        area = area.with_radius(params.radius_m)
    inputs = load_plan_inputs(area, data_dir=data_dir, offline=offline, network=network, incidents=incidents,
                              place_sources=place_sources, use_cache=use_cache, on_step=on_step, mapping=mapping)
    with inputs._lock:
        plan = inputs._plan(params, on_step=on_step)
    # the inputs are this plan's alone: its edge attributes go on their graph, no copy
    add_edge_risk(plan.graph, inputs.index, plan.risk)
    add_edge_demand(plan.graph, inputs.index, plan.route_set)
    return plan


def plan_credits(plan: Plan) -> list[str]:
    """Return the attribution lines of a plan's map beyond OpenStreetMap's (which maps always carry)."""
    credits = []
    text = " ".join(plan.sources).lower()
    report = plan.incident_report
    tables = set(report.tables)
    # files read as the LAPD or weighted formats are LAPD data; files read through a mapping are the user's
    if "incidents" in text and len(report.sources) > len(report.tables):
        credits.append("Incidents: LAPD open data (City of Los Angeles), shown only as risk on streets")
    if tables:
        credits.append(f"Incidents: {', '.join(sorted(tables))}, shown only as risk on streets")
    if "schools_colleges" in text:
        credits.append("Schools: LA County / California Department of Education")
    if "lacmta" in text:
        credits.append("Transit: LA Metro")
    if "grocerystore" in text or "business_sample" in text:
        credits.append("Businesses: City of Los Angeles Office of Finance business listings")
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
    concerns = None
    if plan.concerns is not None and len(plan.concerns.concerns):
        concerns = plan.concerns.concerns[["category", "date", "geometry"]].to_crs(settings.input_crs)
    fmap = plan_map(
        area=plan.area, segments=segments, passages=passages, places=places,
        credits=plan_credits(plan), tiles=tiles, lang=lang, concerns=concerns,
    )
    return map_html(fmap), summary_json(plan)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")

"""Who walks where: origin-destination pairs, shortest and safer paths, demand per segment.

Pairs
-----
* **home -> school**: from the site (its centre, or for a site polygon its nearest
  *entrance*: a node inside the polygon on a street that crosses its boundary) to every
  school of the study area. Demand: the school's enrolment
  (:data:`passages.settings.default_enrollment` when unknown).
* **school -> transit / park / library**: from each school to its nearest
  ``links_per_kind`` stops, parks and libraries within ``link_radius_m`` (straight line).
  Demand: ``link_share`` x the school's enrolment, split evenly among its links.

Paths
-----
For each pair the *shortest* path (by length) and the *safer* path, which minimises
``length x (1 + lambda x relative risk)`` where relative risk is risk per 100 m over its
length-weighted mean. The safer path may be at most ``max_detour`` longer than the
shortest: when the path at ``lambda`` is longer, ``lambda`` is halved (down to 0, the
shortest path itself) until it fits. Because the safer path minimises length plus
``lambda`` x exposure and is never shorter than the shortest path, its exposure is never
above the shortest path's.

*Exposure* of a path is the incident weight met along it: the sum over its segments of
length x risk per 100 m / 100.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from passages import settings
from passages._errors import InputError
from passages.areas import Area
from passages.demand import school_walkers
from passages.streetindex import MIN_WEIGHT, StreetIndex, WeightedGraph

#: How many times lambda is halved before falling back to the shortest path.
HALVINGS = 6

#: At most this many entrances are used for a site polygon.
MAX_ENTRANCES = 8

PURPOSES = ("home-school", "school-transit", "school-park", "school-library")


@dataclass(frozen=True)
class Origin:
    """Where walks to school start: the site centre or a site entrance."""

    origin_id: str
    name: str
    node: int


def site_origins(area: Area, index: StreetIndex) -> list[Origin]:
    """Return the origins of an area: its centre's nearest node, or its polygon's entrances.

    An entrance is a node inside the site polygon at the end of a segment that crosses the
    polygon's boundary; when there are more than :data:`MAX_ENTRANCES`, the ones farthest
    apart are kept (greedy farthest-point order, starting from the first by node id).
    """
    site = area.site_utm
    if area.site is None:
        nodes, _ = index.nearest_nodes([site])
        return [Origin("site", f"{area.name} (centre)", int(nodes[0]))]
    inside = shapely.contains_xy(site, index.node_xy[:, 0], index.node_xy[:, 1])
    u_in, v_in = inside[index.segment_u], inside[index.segment_v]
    crossing = u_in != v_in
    candidates = np.unique(np.concatenate([index.segment_u[crossing & u_in], index.segment_v[crossing & v_in]]))
    if len(candidates) == 0:
        nodes, _ = index.nearest_nodes([site])
        return [Origin("site", f"{area.name} (nearest street)", int(nodes[0]))]
    chosen = [int(candidates[0])]
    if len(candidates) > MAX_ENTRANCES:
        xy = index.node_xy[candidates]
        nearest = np.linalg.norm(xy - index.node_xy[chosen[0]], axis=1)
        while len(chosen) < MAX_ENTRANCES:
            pick = int(np.argmax(nearest))
            chosen.append(int(candidates[pick]))
            nearest = np.minimum(nearest, np.linalg.norm(xy - xy[pick], axis=1))
    else:
        chosen = [int(c) for c in candidates]
    return [
        Origin(f"entrance-{i + 1}", f"{area.name} entrance {i + 1}", int(index.node_ids[pos]))
        for i, pos in enumerate(chosen)
    ]


def od_pairs(
    places: gpd.GeoDataFrame,
    origins: Sequence[Origin],
    index: StreetIndex,
    *,
    link_radius_m: float | None = None,
    links_per_kind: int | None = None,
    default_enrollment: int | None = None,
    link_share: float | None = None,
    homes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the origin-destination pairs of an area with their demand.

    Parameters
    ----------
    places
        Snapped places in the index CRS (columns ``place_id``, ``kind``, ``name``,
        ``enrollment``, ``node``, ``usable``); places not usable are left out.
    origins
        From :func:`site_origins`; none for a plan whose walks start at homes only.
    index
        Street index (for network distances from the entrances).
    link_radius_m, links_per_kind, default_enrollment, link_share
        See :mod:`passages.settings`.
    homes
        Walks from home blocks (:func:`passages.demand.home_pairs`), placed after the
        site's walks and before the schools' links.

    Returns
    -------
    pandas.DataFrame
        Columns ``pair_id``, ``purpose``, ``origin_id``, ``origin_name``, ``origin_node``,
        ``dest_id``, ``dest_name``, ``dest_kind``, ``dest_node``, ``demand``.
    """
    link_radius_m = settings.link_radius_m if link_radius_m is None else link_radius_m
    links_per_kind = settings.links_per_kind if links_per_kind is None else links_per_kind
    link_share = settings.link_share if link_share is None else link_share
    if link_radius_m < 0:
        raise InputError(f"link radius must not be negative, got {link_radius_m}", field="link_radius_m",
                         fix="Give the school-to-stop radius in metres, such as 500.")
    # plain arrays: a plan routes tens of pairs, and pandas indexing would cost more than the work
    usable = places["usable"].to_numpy(dtype=bool)
    kind = places["kind"].to_numpy(dtype=str)
    school_rows, walkers = school_walkers(places, default_enrollment=default_enrollment)
    if len(school_rows) == 0 or not (origins or (homes is not None and len(homes))):
        return pd.DataFrame([], columns=_PAIR_COLUMNS)
    place_id = places["place_id"].to_numpy(dtype=str)
    place_name = [str(v) for v in places["name"]]
    place_node = places["node"].to_numpy(dtype=np.int64)
    geometry = np.asarray(places.geometry.array, dtype=object)

    origin_pos = index.node_positions([o.node for o in origins])
    school_pos = index.node_positions(place_node[school_rows])
    if len(origins) <= 1:
        nearest_origin = np.zeros(len(school_rows), dtype=int)
    else:
        dist = dijkstra(index.weighted(index.segment_length).matrix, indices=origin_pos)
        nearest_origin = np.argmin(dist[:, school_pos], axis=0)
    school_id = [str(place_id[r]) for r in school_rows]
    school_name = [place_name[r] for r in school_rows]
    school_node = [int(place_node[r]) for r in school_rows]
    # one tuple per pair, in the columns' order (the frame is built from columns at the end)
    rows: list[tuple[str, str, str, int, str, str, str, int, float]] = []
    for i in range(len(school_rows) if origins else 0):
        origin = origins[int(nearest_origin[i])]
        rows.append(("home-school", origin.origin_id, origin.name, int(origin.node),
                     school_id[i], school_name[i], "school", school_node[i], float(walkers[i])))
    if homes is not None and len(homes):
        rows.extend(homes[_PAIR_COLUMNS[1:]].itertuples(index=False, name=None))

    other_rows = np.flatnonzero(usable & np.isin(kind, ["transit", "park", "library"]))
    if len(other_rows) and links_per_kind > 0 and link_share > 0:
        tree = shapely.STRtree(geometry[other_rows])
        school_idx, other_idx = tree.query(geometry[school_rows], predicate="dwithin", distance=link_radius_m)
        keep = place_node[other_rows][other_idx] != place_node[school_rows][school_idx]
        school_idx, other_idx = school_idx[keep], other_idx[keep]
        distance = shapely.distance(geometry[school_rows][school_idx], geometry[other_rows][other_idx])
        # nearest first per (school, kind), ties by place id; text sorted through its rank
        _, kind_rank = np.unique(kind[other_rows], return_inverse=True)
        _, id_rank = np.unique(place_id[other_rows], return_inverse=True)
        order = np.lexsort((id_rank[other_idx], distance, kind_rank[other_idx], school_idx))
        school_idx, other_idx = school_idx[order], other_idx[order]
        group = school_idx * (kind_rank.max(initial=0) + 1) + kind_rank[other_idx]
        starts = np.r_[True, group[1:] != group[:-1]] if len(group) else np.empty(0, dtype=bool)
        start_of = np.maximum.accumulate(np.where(starts, np.arange(len(group)), 0)) if len(group) else group
        head = np.arange(len(group)) - start_of < links_per_kind
        school_idx, other_idx = school_idx[head], other_idx[head]
        per_school = np.bincount(school_idx, minlength=len(school_rows))[school_idx]
        other_fields = [(str(place_id[r]), place_name[r], str(kind[r]), int(place_node[r])) for r in other_rows]
        for s, o, n_links in zip(school_idx.tolist(), other_idx.tolist(), per_school.tolist(), strict=True):
            dest_id, dest_name, dest_kind, dest_node = other_fields[o]
            rows.append((f"school-{dest_kind}", school_id[s], school_name[s], school_node[s],
                         dest_id, dest_name, dest_kind, dest_node, float(link_share * walkers[s] / n_links)))
    columns: dict[str, Any] = {"pair_id": [f"P{i + 1:03d}" for i in range(len(rows))]}
    columns.update(zip(_PAIR_COLUMNS[1:], (list(c) for c in zip(*rows, strict=True)), strict=True))
    for name, dtype in (("origin_node", np.int64), ("dest_node", np.int64), ("demand", float)):
        columns[name] = np.array(columns[name], dtype=dtype)  # typed already: pandas need not infer
    return pd.DataFrame(columns)


_PAIR_COLUMNS = ["pair_id", "purpose", "origin_id", "origin_name", "origin_node",
                 "dest_id", "dest_name", "dest_kind", "dest_node", "demand"]


@dataclass
class RouteSet:
    """The routed pairs of an area and the Safe Passage network they make.

    Attributes
    ----------
    routes
        One row per routed pair, geometry = the safer path (index CRS). Columns: those of
        :func:`od_pairs` plus ``shortest_m``, ``safer_m`` (metres), ``detour_ratio``
        (safer / shortest), ``shortest_exposure``, ``safer_exposure`` (incident weight
        met along the path), ``lambda_used``.
    shortest_segments, safer_segments
        Per route, the segment indices along each path, in walking order.
    shortest_nodes, safer_nodes
        Per route, the OSM node ids along each path, origin first.
    segment_demand
        Demand carried by each segment: the sum of the demand of the safer paths using it.
    passage_m
        Length of the segments carrying demand (metres).
    skipped
        Pairs not routed, by reason.
    """

    routes: gpd.GeoDataFrame
    shortest_segments: list[np.ndarray]
    safer_segments: list[np.ndarray]
    shortest_nodes: list[np.ndarray]
    safer_nodes: list[np.ndarray]
    segment_demand: np.ndarray
    passage_m: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def passage_km(self) -> float:
        """Length of the recommended Safe Passage network (km)."""
        return self.passage_m / 1000.0


def plan_routes(
    index: StreetIndex,
    pairs: pd.DataFrame,
    risk_per_100m: np.ndarray,
    *,
    risk_lambda: float | None = None,
    max_detour: float | None = None,
    concerns: np.ndarray | None = None,
    concern_weight: float = 0.0,
) -> RouteSet:
    """Route every pair by its shortest and its safer path.

    Parameters
    ----------
    index
        Street index of the projected graph.
    pairs
        From :func:`od_pairs`.
    risk_per_100m
        Risk per 100 m of each segment (:class:`passages.risk.RiskScore`).
    risk_lambda
        Risk aversion (dimensionless); default :data:`passages.settings.risk_lambda`.
    max_detour
        Largest allowed extra length of a safer path as a share of the shortest (0.25 =
        25 %); default :data:`passages.settings.max_detour`.
    concerns, concern_weight
        Community concerns on each segment (:mod:`passages.concerns`) and how much a safer
        path avoids them: its weight is ``length x (1 + lambda x relative risk +
        concern_weight x concerns)``, halved with lambda. With a weight above 0 a safer
        path may meet more risk than the shortest where it avoids more concerns; with 0
        (the default) concerns do not change the paths.
    """
    risk_lambda = settings.risk_lambda if risk_lambda is None else risk_lambda
    max_detour = settings.max_detour if max_detour is None else max_detour
    if risk_lambda < 0:
        raise InputError(f"lambda must not be negative, got {risk_lambda}", field="risk_lambda",
                         fix="Give 0 (shortest paths) or a positive risk aversion such as 2.")
    if max_detour < 0:
        raise InputError(f"detour bound must not be negative, got {max_detour}", field="max_detour",
                         fix="Give a share such as 0.25 for at most 25 % longer.")
    if concern_weight < 0:
        raise InputError(f"concern weight must not be negative, got {concern_weight}", field="concern_weight",
                         fix="Give 0 (concerns shown only) or a positive weight such as 1.")
    risk = np.asarray(risk_per_100m, dtype=float)
    length = index.segment_length
    mean = float((risk * length).sum() / length.sum()) if length.sum() > 0 else 0.0
    relative = risk / mean if mean > 0 else np.zeros_like(risk)
    avoid = (np.zeros_like(length) if concerns is None or concern_weight == 0
             else concern_weight * np.asarray(concerns, dtype=float))
    exposure_per_segment = length * risk / 100.0

    skipped: dict[str, int] = {}
    origin_node = pairs["origin_node"].to_numpy(dtype=np.int64)
    dest_node = pairs["dest_node"].to_numpy(dtype=np.int64)
    apart = origin_node != dest_node
    routable = pairs if apart.all() else pairs[apart]
    if len(routable) < len(pairs):
        skipped["origin and destination at the same street node"] = len(pairs) - len(routable)
    src = index.node_positions(origin_node[apart])
    dst = index.node_positions(dest_node[apart])

    def paths_for(lam: float, todo: np.ndarray, level: float = 0.0) -> _Paths:
        # level: the share of the concern weight still applied (1, then halved with lambda)
        weights = np.maximum(length * (1.0 + lam * relative + level * avoid), MIN_WEIGHT)
        graph = index.weighted(weights)
        # the shortest path is a walk the safer search may take, so its cost bounds the search
        bounds = None if lam == 0 and level == 0 else np.bincount(short.route[in_todo[short.route]],
                                                   weights=weights[short.segments[in_todo[short.route]]],
                                                   minlength=len(routable))[todo]
        return _Paths.route_pairs(index, graph, src[todo], dst[todo], bounds)

    short = paths_for(0.0, np.arange(len(routable)))
    reachable = short.sizes > 0
    if not reachable.all():
        skipped["no path on the network"] = int((~reachable).sum())
    shortest_m = np.bincount(short.route, weights=length[short.segments], minlength=len(routable))
    # each pair's safer path: (the round that found it, its place in the round); the shortest until one fits
    safer: list[tuple[_Paths, int]] = [(short, t) for t in range(len(routable))]
    lambda_used = np.zeros(len(routable))
    in_todo = reachable.copy()
    lam = risk_lambda if mean > 0 else 0.0
    level = 1.0 if avoid.any() else 0.0
    for _ in range(HALVINGS):
        todo = np.flatnonzero(in_todo)
        if len(todo) == 0 or (lam <= 0 and level <= 0):
            break
        found = paths_for(lam, todo, level)
        found_m = np.bincount(found.route, weights=length[found.segments], minlength=len(todo))
        # a safer path fits when at most max_detour longer than the shortest
        fits = found_m <= (1.0 + max_detour) * shortest_m[todo] + 1e-9
        for t, i in zip(todo[fits].tolist(), np.flatnonzero(fits).tolist(), strict=True):
            safer[t] = (found, i)
        lambda_used[todo[fits]] = lam
        in_todo[todo[fits]] = False
        lam /= 2.0
        level /= 2.0

    keep = np.flatnonzero(reachable)
    kept = keep.tolist()
    safer_segs = [paths.segments_of(i) for paths, i in (safer[t] for t in kept)]
    safer_nodes = [paths.nodes_of(i) for paths, i in (safer[t] for t in kept)]
    short_segs = [short.segments_of(t) for t in kept]
    demand = routable["demand"].to_numpy(dtype=float)[keep]
    safer_route, safer_flat = _flatten(safer_segs)
    short_route, short_flat = _flatten(short_segs)
    # a route counts once on a segment it walks twice
    walked = np.unique(safer_route * max(index.n_segments, 1) + safer_flat)
    segment_demand = np.bincount(walked % max(index.n_segments, 1), weights=demand[walked // max(index.n_segments, 1)],
                                 minlength=index.n_segments)
    shortest_len = np.bincount(short_route, weights=length[short_flat], minlength=len(keep))
    safer_len = np.bincount(safer_route, weights=length[safer_flat], minlength=len(keep))
    # one frame from columns (the pairs' own, then the route figures, then the line): pandas
    # and geopandas cost more than the routing on a small area, so nothing is built twice
    base = routable if len(keep) == len(routable) else routable.iloc[keep]
    columns: dict[str, Any] = {name: base[name].array for name in base.columns}
    columns.update({
        "shortest_m": shortest_len,
        "safer_m": safer_len,
        "detour_ratio": np.divide(safer_len, shortest_len, out=np.ones(len(keep)), where=shortest_len > 0),
        "shortest_exposure": np.bincount(short_route, weights=exposure_per_segment[short_flat], minlength=len(keep)),
        "safer_exposure": np.bincount(safer_route, weights=exposure_per_segment[safer_flat], minlength=len(keep)),
        "lambda_used": lambda_used[keep],
        "geometry": gpd.array.from_shapely(index.paths_geometry(safer_nodes, safer_segs), crs=index.crs),
    })
    routes = gpd.GeoDataFrame(columns, geometry="geometry")
    result = RouteSet(
        routes=routes,
        shortest_segments=short_segs,
        safer_segments=safer_segs,
        shortest_nodes=[index.node_ids[short.nodes_of(t)] for t in kept],
        safer_nodes=[index.node_ids[n] for n in safer_nodes],
        segment_demand=segment_demand,
        passage_m=float(length[segment_demand > 0].sum()),
        skipped=skipped,
    )
    return result


@dataclass(frozen=True)
class _Paths:
    """The paths of one routing round, end to end.

    Attributes
    ----------
    nodes, node_start
        Node positions of every path; path ``i`` is ``nodes[node_start[i]:node_start[i + 1]]``
        (empty when its target was not reached).
    segments, segment_start
        Segments of every path, laid out the same way.
    sizes
        Nodes of each path.
    route
        The path of each entry of ``segments``.
    """

    nodes: np.ndarray
    node_start: np.ndarray
    segments: np.ndarray
    segment_start: np.ndarray
    sizes: np.ndarray
    route: np.ndarray

    @classmethod
    def route_pairs(cls, index: StreetIndex, graph: WeightedGraph, origins: np.ndarray, targets: np.ndarray,
                    bounds: np.ndarray | None) -> _Paths:
        """Route every (origin, target) under ``graph`` (:meth:`StreetIndex.shortest_paths_flat`)."""
        return cls.of(index, graph, *index.shortest_paths_flat(graph, origins, targets, bounds=bounds))

    @classmethod
    def of(cls, index: StreetIndex, graph: WeightedGraph, nodes: np.ndarray, sizes: np.ndarray) -> _Paths:
        """The paths found under ``graph``: their nodes end to end and the number of each's nodes."""
        segments = index.flat_paths_segments(nodes, sizes, graph)
        steps = np.maximum(sizes - 1, 0)
        node_start = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=node_start[1:])
        segment_start = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(steps, out=segment_start[1:])
        return cls(nodes, node_start, segments, segment_start, sizes, np.repeat(np.arange(len(sizes)), steps))

    def nodes_of(self, i: int) -> np.ndarray:
        """Node positions of path ``i``."""
        return self.nodes[self.node_start[i] : self.node_start[i + 1]]

    def segments_of(self, i: int) -> np.ndarray:
        """Segments of path ``i``."""
        return self.segments[self.segment_start[i] : self.segment_start[i + 1]]


def _flatten(segments: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return (route of each entry, segment) of a list of per-route segment arrays."""
    sizes = [len(s) for s in segments]
    flat = np.concatenate(segments).astype(np.int64) if segments else np.empty(0, dtype=np.int64)
    return np.repeat(np.arange(len(segments)), sizes), flat


def add_edge_demand(graph: nx.MultiDiGraph, index: StreetIndex, route_set: RouteSet) -> nx.MultiDiGraph:
    """Write ``demand`` (walkers per day on safer paths) to every edge; return the graph."""
    return index.set_edge_attribute(graph, "demand", route_set.segment_demand)

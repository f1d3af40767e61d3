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

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from passages import settings
from passages._errors import InputError
from passages.areas import Area
from passages.streetindex import StreetIndex

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
) -> pd.DataFrame:
    """Return the origin-destination pairs of an area with their demand.

    Parameters
    ----------
    places
        Snapped places in the index CRS (columns ``place_id``, ``kind``, ``name``,
        ``enrollment``, ``node``, ``usable``); places not usable are left out.
    origins
        From :func:`site_origins`.
    index
        Street index (for network distances from the entrances).
    link_radius_m, links_per_kind, default_enrollment, link_share
        See :mod:`passages.settings`.

    Returns
    -------
    pandas.DataFrame
        Columns ``pair_id``, ``purpose``, ``origin_id``, ``origin_name``, ``origin_node``,
        ``dest_id``, ``dest_name``, ``dest_kind``, ``dest_node``, ``demand``.
    """
    link_radius_m = settings.link_radius_m if link_radius_m is None else link_radius_m
    links_per_kind = settings.links_per_kind if links_per_kind is None else links_per_kind
    default_enrollment = settings.default_enrollment if default_enrollment is None else default_enrollment
    link_share = settings.link_share if link_share is None else link_share
    if link_radius_m < 0:
        raise InputError(f"link radius must not be negative, got {link_radius_m}", field="link_radius_m",
                         fix="Give the school-to-stop radius in metres, such as 500.")
    usable = places[places["usable"]].reset_index(drop=True)
    schools = usable[usable["kind"] == "school"].reset_index(drop=True)
    rows: list[dict[str, object]] = []
    if len(schools) == 0 or not origins:
        return pd.DataFrame(rows, columns=_PAIR_COLUMNS)
    enrollment = pd.to_numeric(schools["enrollment"], errors="coerce").to_numpy(dtype=float)
    walkers = np.where(np.isfinite(enrollment) & (enrollment > 0), enrollment, float(default_enrollment))

    origin_pos = index.node_positions([o.node for o in origins])
    school_pos = index.node_positions(schools["node"].to_numpy(dtype=np.int64))
    if len(origins) == 1:
        nearest_origin = np.zeros(len(schools), dtype=int)
    else:
        dist = dijkstra(index.weighted(index.segment_length).matrix, indices=origin_pos)
        nearest_origin = np.argmin(dist[:, school_pos], axis=0)
    for i, school in schools.iterrows():
        origin = origins[int(nearest_origin[i])]
        rows.append(_pair("home-school", origin.origin_id, origin.name, origin.node,
                          school, float(walkers[i])))

    others = usable[usable["kind"].isin(["transit", "park", "library"])].reset_index(drop=True)
    if len(others) and links_per_kind > 0 and link_share > 0:
        tree = shapely.STRtree(others.geometry.to_numpy())
        school_idx, other_idx = tree.query(schools.geometry.to_numpy(), predicate="dwithin",
                                           distance=link_radius_m)
        links = pd.DataFrame({
            "school": school_idx,
            "other": other_idx,
            "kind": others["kind"].to_numpy()[other_idx],
            "distance": shapely.distance(schools.geometry.to_numpy()[school_idx],
                                         others.geometry.to_numpy()[other_idx]),
            "other_id": others["place_id"].to_numpy()[other_idx],
        })
        links = links[others["node"].to_numpy()[links["other"]] != schools["node"].to_numpy()[links["school"]]]
        links = links.sort_values(["school", "kind", "distance", "other_id"], kind="stable")
        links = links.groupby(["school", "kind"], sort=False).head(links_per_kind)
        per_school = links.groupby("school")["other"].transform("size").to_numpy()
        for (s, o), n_links in zip(links[["school", "other"]].itertuples(index=False), per_school, strict=True):
            school = schools.iloc[int(s)]
            rows.append(_pair(f"school-{others.iloc[int(o)]['kind']}", str(school["place_id"]),
                              str(school["name"]), int(school["node"]), others.iloc[int(o)],
                              float(link_share * walkers[int(s)] / n_links)))
    frame = pd.DataFrame(rows, columns=_PAIR_COLUMNS)
    frame["pair_id"] = [f"P{i + 1:03d}" for i in range(len(frame))]
    return frame


_PAIR_COLUMNS = ["pair_id", "purpose", "origin_id", "origin_name", "origin_node",
                 "dest_id", "dest_name", "dest_kind", "dest_node", "demand"]


def _pair(purpose: str, origin_id: str, origin_name: str, origin_node: int,
          dest: pd.Series, demand: float) -> dict[str, object]:
    return {
        "pair_id": "", "purpose": purpose, "origin_id": origin_id, "origin_name": origin_name,
        "origin_node": int(origin_node), "dest_id": str(dest["place_id"]), "dest_name": str(dest["name"]),
        "dest_kind": str(dest["kind"]), "dest_node": int(dest["node"]), "demand": demand,
    }


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


def _walk_back(pred_row: np.ndarray, source: int, target: int) -> np.ndarray:
    path = [target]
    while path[-1] != source:
        step = int(pred_row[path[-1]])
        if step < 0:
            return np.empty(0, dtype=np.int64)
        path.append(step)
    return np.asarray(path[::-1], dtype=np.int64)


def plan_routes(
    index: StreetIndex,
    pairs: pd.DataFrame,
    risk_per_100m: np.ndarray,
    *,
    risk_lambda: float | None = None,
    max_detour: float | None = None,
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
    """
    risk_lambda = settings.risk_lambda if risk_lambda is None else risk_lambda
    max_detour = settings.max_detour if max_detour is None else max_detour
    if risk_lambda < 0:
        raise InputError(f"lambda must not be negative, got {risk_lambda}", field="risk_lambda",
                         fix="Give 0 (shortest paths) or a positive risk aversion such as 2.")
    if max_detour < 0:
        raise InputError(f"detour bound must not be negative, got {max_detour}", field="max_detour",
                         fix="Give a share such as 0.25 for at most 25 % longer.")
    risk = np.asarray(risk_per_100m, dtype=float)
    length = index.segment_length
    mean = float((risk * length).sum() / length.sum()) if length.sum() > 0 else 0.0
    relative = risk / mean if mean > 0 else np.zeros_like(risk)
    exposure_per_segment = length * risk / 100.0

    skipped: dict[str, int] = {}
    routable = pairs[pairs["origin_node"] != pairs["dest_node"]].reset_index(drop=True)
    if len(routable) < len(pairs):
        skipped["origin and destination at the same street node"] = len(pairs) - len(routable)
    source_nodes = np.unique(routable["origin_node"].to_numpy(dtype=np.int64))
    source_pos = index.node_positions(source_nodes)
    row_of = {int(n): i for i, n in enumerate(source_nodes)}
    rows = np.array([row_of[int(n)] for n in routable["origin_node"]], dtype=int)
    src = source_pos[rows] if len(rows) else np.empty(0, dtype=np.int64)
    dst = index.node_positions(routable["dest_node"].to_numpy(dtype=np.int64))

    def paths_for(lam: float, todo: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        graph = index.weighted(length * (1.0 + lam * relative))
        needed = np.unique(rows[todo])
        _, pred = dijkstra(graph.matrix, indices=source_pos[needed], return_predecessors=True)
        pred_row = {int(r): pred[i] for i, r in enumerate(needed)}
        out = []
        for t in todo:
            nodes = _walk_back(pred_row[int(rows[t])], int(src[t]), int(dst[t]))
            out.append((nodes, index.path_segments(nodes, graph) if len(nodes) else np.empty(0, dtype=np.int64)))
        return out

    everyone = np.arange(len(routable))
    shortest = paths_for(0.0, everyone)
    reachable = np.array([len(nodes) > 0 for nodes, _ in shortest], dtype=bool)
    if not reachable.all():
        skipped["no path on the network"] = int((~reachable).sum())
    shortest_m = np.array([length[s].sum() for _, s in shortest])
    safer: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(routable)
    lambda_used = np.zeros(len(routable))
    todo = everyone[reachable]
    lam = risk_lambda
    for _ in range(HALVINGS):
        if len(todo) == 0 or lam <= 0 or not mean > 0:
            break
        found = paths_for(lam, todo)
        fits = []
        for t, (nodes, segs) in zip(todo, found, strict=True):
            if length[segs].sum() <= (1.0 + max_detour) * shortest_m[t] + 1e-9:
                safer[t] = (nodes, segs)
                lambda_used[t] = lam
                fits.append(t)
        todo = np.setdiff1d(todo, fits)
        lam /= 2.0
    for t in everyone:
        if safer[t] is None:
            safer[t] = shortest[t]

    keep = everyone[reachable]
    safer_kept = [safer[t] for t in keep]
    shortest_kept = [shortest[t] for t in keep]
    safer_segs = [s for _, s in safer_kept]
    short_segs = [s for _, s in shortest_kept]
    segment_demand = np.zeros(index.n_segments)
    demand = routable["demand"].to_numpy(dtype=float)[keep]
    for segs, d in zip(safer_segs, demand, strict=True):
        np.add.at(segment_demand, np.unique(segs), d)
    frame = routable.iloc[keep].reset_index(drop=True)
    frame["shortest_m"] = [float(length[s].sum()) for s in short_segs]
    frame["safer_m"] = [float(length[s].sum()) for s in safer_segs]
    frame["detour_ratio"] = np.divide(frame["safer_m"], frame["shortest_m"],
                                      out=np.ones(len(frame)), where=frame["shortest_m"] > 0)
    frame["shortest_exposure"] = [float(exposure_per_segment[s].sum()) for s in short_segs]
    frame["safer_exposure"] = [float(exposure_per_segment[s].sum()) for s in safer_segs]
    frame["lambda_used"] = lambda_used[keep]
    geometry = [index.path_geometry(nodes, segs) for nodes, segs in safer_kept]
    routes = gpd.GeoDataFrame(frame, geometry=geometry, crs=index.crs)
    result = RouteSet(
        routes=routes,
        shortest_segments=short_segs,
        safer_segments=safer_segs,
        shortest_nodes=[index.node_ids[n] for n, _ in shortest_kept],
        safer_nodes=[index.node_ids[n] for n, _ in safer_kept],
        segment_demand=segment_demand,
        passage_m=float(length[segment_demand > 0].sum()),
        skipped=skipped,
    )
    return result


def add_edge_demand(graph: nx.MultiDiGraph, index: StreetIndex, route_set: RouteSet) -> nx.MultiDiGraph:
    """Write ``demand`` (walkers per day on safer paths) to every edge; return the graph."""
    return index.set_edge_attribute(graph, "demand", route_set.segment_demand)

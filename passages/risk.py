"""Risk per street segment: incidents snapped to streets and spread along the network.

Each incident is snapped to its nearest street segment within ``snap_m``; its weight is
split between the segment's two end nodes in proportion to where it lies (an incident a
quarter of the way along gives three quarters to the start node). From each node the
weight is spread over the segments within ``bandwidth_m`` *along the network* (a network
kernel density, not a straight-line one): a segment whose nearer end is ``d`` metres away
receives a share proportional to ``K(d) x length``, with the quartic kernel
``K(d) = (1 - (d / bandwidth)^2)^2``, the shares of one node summing to one. Weight is
therefore conserved: the risk *mass* on the network equals the total weight of the
snapped incidents.

Risk per 100 m is a segment's mass divided by its length (floored at
:data:`MIN_RISK_LENGTH_M`, so that a 3 m crossing does not outrank a block) times 100.
The top ``hot_share`` of segments by risk per 100 m are *hot*.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from passages import settings
from passages._errors import InputError
from passages.streetindex import StreetIndex

#: Lengths below this many metres count as this length in risk per 100 m.
MIN_RISK_LENGTH_M = 25.0


@dataclass(frozen=True)
class RiskScore:
    """Risk of every street segment of a :class:`StreetIndex`.

    Attributes
    ----------
    mass
        Incident weight attributed to each segment.
    risk_per_100m
        ``mass / max(length, MIN_RISK_LENGTH_M) x 100``.
    hot
        Whether each segment is among the top ``hot_share`` by risk per 100 m.
    snapped
        Number of incidents snapped to a segment.
    snapped_weight
        Their total weight (equals ``mass.sum()``).
    too_far
        Number of incidents farther than ``snap_m`` from every street (not scored).
    too_far_weight
        Their total weight.
    snap_m, bandwidth_m, hot_share
        The parameters used (metres, metres, share of segments).
    """

    mass: np.ndarray
    risk_per_100m: np.ndarray
    hot: np.ndarray
    snapped: int
    snapped_weight: float
    too_far: int
    too_far_weight: float
    snap_m: float
    bandwidth_m: float
    hot_share: float

    def relative(self, index: StreetIndex) -> np.ndarray:
        """Return risk per 100 m divided by its length-weighted mean (0 where no risk at all)."""
        total_length = index.segment_length.sum()
        mean = float((self.risk_per_100m * index.segment_length).sum() / total_length) if total_length else 0.0
        if mean <= 0:
            return np.zeros_like(self.risk_per_100m)
        return np.asarray(self.risk_per_100m / mean)


def node_weights(
    index: StreetIndex, xy: np.ndarray, weight: np.ndarray, *, snap_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Snap weighted points to segments and split each weight between the segment's ends.

    Returns
    -------
    per_node, snapped
        Weight per node position; boolean mask of the points that were snapped.
    """
    segment, _, offset = index.snap_points(xy, max_distance_m=snap_m)
    snapped = segment >= 0
    seg = segment[snapped]
    w = np.asarray(weight, dtype=float)[snapped]
    length = index.segment_length[seg]
    to_end = np.divide(offset[snapped], length, out=np.full(len(seg), 0.5), where=length > 0)
    per_node = np.zeros(index.n_nodes)
    np.add.at(per_node, index.segment_u[seg], w * (1.0 - to_end))
    np.add.at(per_node, index.segment_v[seg], w * to_end)
    return per_node, snapped


def spread(index: StreetIndex, per_node: np.ndarray, *, bandwidth_m: float) -> np.ndarray:
    """Spread node weights over segments with the network quartic kernel; return mass per segment.

    Every node's weight is shared among the segments whose nearer end lies within
    ``bandwidth_m`` metres along the network, so the returned masses sum to
    ``per_node.sum()``. The distances come tile by tile from
    :meth:`StreetIndex.local_distances`, so memory and time grow with the number of
    weighted nodes times the size of one neighbourhood, not with the square of the network.
    """
    if not bandwidth_m > 0:
        raise InputError(f"bandwidth must be positive, got {bandwidth_m}", field="bandwidth_m",
                         fix="Give the kernel bandwidth in metres, such as 250.")
    mass = np.zeros(index.n_segments)
    sources = np.flatnonzero(per_node > 0)
    if len(sources) == 0 or index.n_segments == 0:
        return mass
    for block in index.local_distances(sources, radius_m=bandwidth_m):
        nearer = block.segment_distance()
        # most (source, segment) pairs of a block lie beyond the bandwidth: work on the others only
        row, col = np.nonzero(nearer < bandwidth_m)
        share = (1.0 - (nearer[row, col] / bandwidth_m) ** 2) ** 2 * index.segment_length[block.segments[col]]
        totals = np.bincount(row, weights=share, minlength=len(block.sources))
        # a node whose segments all have zero length keeps its weight on its first segment
        empty = np.flatnonzero(totals <= 0)
        if len(empty):
            extra_col = []
            for r in empty:
                touching = np.flatnonzero(nearer[r] == 0)
                extra_col.append(int(touching[0]) if len(touching) else 0)
            keep = ~np.isin(row, empty)
            row = np.concatenate([row[keep], empty])
            col = np.concatenate([col[keep], extra_col])
            share = np.concatenate([share[keep], np.ones(len(empty))])
            totals[empty] = 1.0
        part = share * (per_node[block.sources] / totals)[row]
        # the segments of one block are distinct, so this adds each block's mass once
        mass[block.segments] += np.bincount(col, weights=part, minlength=len(block.segments))
    return mass


def score_segments(
    index: StreetIndex,
    incidents: gpd.GeoDataFrame,
    *,
    snap_m: float | None = None,
    bandwidth_m: float | None = None,
    hot_share: float | None = None,
    weight_column: str = "weight",
) -> RiskScore:
    """Score every street segment from weighted incident points.

    Parameters
    ----------
    index
        Street index of the projected graph.
    incidents
        Points in the index CRS with a ``weight`` column (see
        :func:`passages.incidents.load_incidents`).
    snap_m
        Incidents farther than this from every street are not scored (metres); default
        :data:`passages.settings.snap_m`.
    bandwidth_m
        Network kernel bandwidth (metres); default :data:`passages.settings.bandwidth_m`.
    hot_share
        Share of segments flagged hot; default :data:`passages.settings.hot_share`.
    weight_column
        Column holding each incident's weight.

    Returns
    -------
    RiskScore
    """
    snap_m = settings.snap_m if snap_m is None else snap_m
    bandwidth_m = settings.bandwidth_m if bandwidth_m is None else bandwidth_m
    hot_share = settings.hot_share if hot_share is None else hot_share
    if not snap_m > 0:
        raise InputError(f"snap distance must be positive, got {snap_m}", field="snap_m",
                         fix="Give the snap distance in metres, such as 60.")
    if not 0 <= hot_share <= 1:
        raise InputError(f"hot share must be between 0 and 1, got {hot_share}", field="hot_share",
                         fix="Give a share such as 0.05 for the top 5 % of segments.")
    if len(incidents) and index.crs is not None and incidents.crs is not None and not incidents.crs.equals(index.crs):
        raise InputError(f"incidents are in {incidents.crs}, the streets in {index.crs}",
                         field="geometry", fix="Project the incidents to the area's UTM CRS first.")
    if weight_column not in incidents.columns:
        raise InputError("incidents have no weight column", field=weight_column,
                         fix="Load incidents with passages.incidents.load_incidents.")
    weight = incidents[weight_column].to_numpy(dtype=float)
    xy = shapely.get_coordinates(incidents.geometry.to_numpy()) if len(incidents) else np.empty((0, 2))
    per_node, snapped = node_weights(index, xy, weight, snap_m=snap_m)
    mass = spread(index, per_node, bandwidth_m=bandwidth_m)
    risk = mass / np.maximum(index.segment_length, MIN_RISK_LENGTH_M) * 100.0
    hot = hot_segments(risk, hot_share)
    return RiskScore(
        mass=mass,
        risk_per_100m=risk,
        hot=hot,
        snapped=int(snapped.sum()),
        snapped_weight=float(weight[snapped].sum()),
        too_far=int((~snapped).sum()),
        too_far_weight=float(weight[~snapped].sum()),
        snap_m=snap_m,
        bandwidth_m=bandwidth_m,
        hot_share=hot_share,
    )


def hot_segments(risk_per_100m: np.ndarray, hot_share: float) -> np.ndarray:
    """Return a mask of the top ``hot_share`` of segments by risk (ties broken by position)."""
    count = round(hot_share * len(risk_per_100m))
    hot = np.zeros(len(risk_per_100m), dtype=bool)
    if count == 0:
        return hot
    order = np.lexsort((np.arange(len(risk_per_100m)), -risk_per_100m))
    top = order[:count]
    hot[top[risk_per_100m[top] > 0]] = True
    return hot


def add_edge_risk(graph: nx.MultiDiGraph, index: StreetIndex, score: RiskScore) -> nx.MultiDiGraph:
    """Write ``incidents`` (mass), ``risk`` (per 100 m) and ``hot`` to every edge; return the graph."""
    index.set_edge_attribute(graph, "incidents", score.mass)
    index.set_edge_attribute(graph, "risk", score.risk_per_100m)
    index.set_edge_attribute(graph, "hot", score.hot)
    return graph

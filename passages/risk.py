"""Risk per street segment: incidents snapped to streets and spread along the network.

Each incident is snapped to its nearest street segment within ``snap_m``; it stands at its
own position on that segment (``offset`` metres from the start node). Its weight is split
in two (:func:`score_segments`):

* a share ``own_share`` stays on **its own segment** (recency-weighted counts on the
  segment itself: LAPD points are rounded to the block, and incidents recur at the same
  block);
* the rest is spread over the segments within ``bandwidth_m`` *along the network from the
  incident's position* (a network kernel density, not a straight-line one,
  :func:`spread_positions`): its own segment is at distance 0, and another segment whose
  nearer end is ``d`` metres away along the streets (``d = offset + distance from the start
  node``, or ``length - offset + distance from the end node``, whichever is less) receives a
  share proportional to ``K(d) x length``, with the quartic kernel
  ``K(d) = (1 - (d / bandwidth)^2)^2``; the shares of one incident sum to one.

Weight is therefore conserved: the risk *mass* on the network equals the total weight of
the snapped incidents. The incident's own segment always gets the highest kernel value
(``K(0) = 1``), so its risk per 100 m is at least that of any neighbour (equal only when
the incident stands on a corner shared with it). The model (``own_share``, ``bandwidth_m``)
is chosen by rolling-origin cross-validation on past incidents
(:mod:`passages.risk_models`); the defaults are in :mod:`passages.settings`.

The older *node* kernel (:func:`node_weights`, :func:`spread`), which split each weight
between the segment's ends and measured from the nearer node, is kept for comparisons: it
scores every segment at a corner like the incident's own.

Risk per 100 m is a segment's mass divided by its length (floored at
:data:`MIN_RISK_LENGTH_M`, so that a 3 m crossing does not outrank a block) times 100.
The top ``hot_share`` of segments by risk per 100 m are *hot*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from passages import settings
from passages._errors import InputError
from passages._graph_search import run_starts
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
    own_share
        Share of each incident's weight kept on its own segment (0-1); the rest is spread
        with the network kernel of ``bandwidth_m``.
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
    own_share: float = 0.0

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


#: (position, segment) pairs worked on at a time by :func:`spread_positions` (memory, not speed).
SPREAD_ENTRIES = 250_000

#: (segment, segment) pairs within reach listed at a time by :func:`spread_positions` (memory:
#: the groups of segments are sized to hold about this many).
REACH_ENTRIES = 250_000

#: Segments holding incidents whose neighbourhoods :func:`spread_positions` routes first; the
#: next groups are sized from it so that each holds about :data:`REACH_ENTRIES` pairs.
FIRST_SEGMENT_GROUP = 4_096


def snap_positions(index: StreetIndex, xy: np.ndarray, *, snap_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Return each point's segment (-1 when farther than ``snap_m`` metres from every street) and offset (m)."""
    segment, _, offset = index.snap_points(xy, max_distance_m=snap_m)
    return segment, offset


def _node_segment_pairs(index: StreetIndex, nodes: np.ndarray, radius_m: float) -> tuple[np.ndarray, ...]:
    """Return (node, segment, distance to its nearer end) for every pair closer than ``radius_m``, by node."""
    return index.segment_distances(nodes, radius_m=radius_m)


def _expand(starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (owner, index) of ``sizes[i]`` consecutive indices from ``starts[i]`` for every ``i``."""
    owner = np.repeat(np.arange(len(sizes)), sizes)
    first = np.cumsum(sizes) - sizes
    return owner, np.arange(int(sizes.sum())) - first[owner] + starts[owner]


@dataclass(frozen=True)
class _Reach:
    """What lies within the radius of some segments' ends, segment by segment.

    For the ``q``-th segment, entries ``start[q]:start[q + 1]`` list each ``target``
    segment (ascending) with the distance (m) from the segment's start node to the
    target's nearer end (``from_u``, ``inf`` beyond the radius) and from its end node
    (``from_v``).
    """

    start: np.ndarray
    target: np.ndarray
    from_u: np.ndarray
    from_v: np.ndarray


def _reach_of_segments(index: StreetIndex, segments: np.ndarray, radius_m: float) -> _Reach:
    """Return the :class:`_Reach` of distinct ``segments`` within ``radius_m`` metres."""
    ends_u, ends_v = index.segment_u[segments], index.segment_v[segments]
    node, near_seg, near_d = _node_segment_pairs(index, np.concatenate([ends_u, ends_v]), radius_m)
    bounds = np.searchsorted(node, np.arange(index.n_nodes + 1))
    owners, targets = [], []
    for ends in (ends_u, ends_v):
        owner, at = _expand(bounds[ends], bounds[ends + 1] - bounds[ends])
        owners.append(owner)
        targets.append(at)
    n_u = len(owners[0])
    owner = np.concatenate(owners)
    at = np.concatenate(targets)
    target = near_seg[at]
    from_u = np.where(np.arange(len(at)) < n_u, near_d[at], np.inf)
    from_v = np.where(np.arange(len(at)) >= n_u, near_d[at], np.inf)
    # both lists are sorted by (segment, target): a stable sort merges them in one pass
    order = np.argsort(owner * max(index.n_segments, 1) + target, kind="stable")
    owner, target, from_u, from_v = owner[order], target[order], from_u[order], from_v[order]
    heads = np.flatnonzero(run_starts(owner, target))
    if len(heads):
        from_u, from_v = np.minimum.reduceat(from_u, heads), np.minimum.reduceat(from_v, heads)
    start = np.searchsorted(owner[heads], np.arange(len(segments) + 1))
    return _Reach(start, target[heads], from_u, from_v)


def spread_positions(
    index: StreetIndex, segment: np.ndarray, offset: np.ndarray, weight: np.ndarray,
    *, bandwidths_m: Sequence[float],
) -> np.ndarray:
    """Spread weighted incident positions over segments with the network quartic kernel.

    Parameters
    ----------
    index
        Street index.
    segment, offset, weight
        Per incident: its segment (all ``>= 0``), its position along it from the start node
        (metres) and its weight.
    bandwidths_m
        Kernel bandwidths (metres, ``> 0``); the distances are routed once, to the largest.

    Returns
    -------
    numpy.ndarray
        ``(len(bandwidths_m), n_segments)`` mass per segment; each row sums to
        ``weight.sum()``.

    Notes
    -----
    Distances run along the streets from the incident's own position: ``offset`` to the
    start node, ``length - offset`` to the end node, then the network distance from there
    (:meth:`StreetIndex.segment_distances`); a segment's distance is that of its nearer end,
    and the incident's own segment is at 0. Incidents at the same position are one source.
    An incident whose shares are all zero (only zero-length segments in reach) keeps its
    weight on its own segment.

    The segments within reach of each end of an incident's segment are found once per
    segment, not once per incident, for groups of segments in spatial order (each group
    about :data:`SPREAD_ENTRIES` pairs); the incidents of a group are then expanded over
    their segment's list, :data:`SPREAD_ENTRIES` (incident, segment) pairs at a time.
    """
    bandwidths = np.asarray(list(bandwidths_m), dtype=float)
    if len(bandwidths) == 0 or not (bandwidths > 0).all() or not np.isfinite(bandwidths).all():
        raise InputError(f"bandwidth must be positive, got {list(bandwidths_m)}", field="bandwidth_m",
                         fix="Give the kernel bandwidth in metres, such as 250.")
    mass = np.zeros((len(bandwidths), index.n_segments))
    segment = np.asarray(segment, dtype=np.int64)
    weight = np.asarray(weight, dtype=float)
    keep = weight != 0
    if not keep.any() or index.n_segments == 0:
        return mass
    seg_kept, off_kept = segment[keep], np.asarray(offset, dtype=float)[keep]
    radius = float(bandwidths.max())
    length = index.segment_length
    # segments in spatial order (square cells of two radii), so that one group's end nodes
    # share their neighbourhoods
    used = np.flatnonzero(np.bincount(seg_kept, minlength=index.n_segments))
    if len(used) > FIRST_SEGMENT_GROUP:  # several groups: in space order
        mid = 0.5 * (index.node_xy[index.segment_u[used]] + index.node_xy[index.segment_v[used]])
        cell = np.floor((mid - mid.min(axis=0)) / max(2 * radius, 50.0)).astype(np.int64)
        rank = np.zeros(index.n_segments, dtype=np.int64)
        rank[used[np.lexsort((used, cell[:, 1], cell[:, 0]))]] = np.arange(len(used))
    else:  # one group: any order
        rank = np.arange(index.n_segments)
    # incidents at one position (LAPD points are rounded to the block) are one source
    by_offset = np.argsort(off_kept)  # then by segment, stably: half the time of a two-key lexsort
    by_position = by_offset[np.argsort(rank[seg_kept][by_offset], kind="stable")]
    del by_offset
    seg_sorted, off_sorted = seg_kept[by_position], off_kept[by_position]
    first = run_starts(seg_sorted, off_sorted)
    inverse = np.empty(len(by_position), dtype=np.int64)
    inverse[by_position] = np.cumsum(first) - 1
    pos_weight = np.bincount(inverse, weights=weight[keep], minlength=int(first.sum()))
    pos_seg, pos_off = seg_sorted[first], off_sorted[first]
    del seg_kept, off_kept, by_position, seg_sorted, off_sorted, inverse, first, rank  # a million rows each, at scale
    # the positions of one segment are consecutive: one group of segments at a time
    seg_heads = np.flatnonzero(run_starts(pos_seg))
    seg_bounds = np.append(seg_heads, len(pos_seg))
    group, done = FIRST_SEGMENT_GROUP, 0
    while done < len(seg_heads):
        chosen = np.arange(done, min(done + group, len(seg_heads)))
        reach = _reach_of_segments(index, pos_seg[seg_heads[chosen]], radius)
        per_segment = np.diff(reach.start)
        group = max(FIRST_SEGMENT_GROUP, int(REACH_ENTRIES / max(per_segment.mean(), 1.0)))
        # the positions of these segments, a bounded number of (position, target) pairs at a time
        lo, hi = seg_bounds[chosen[0]], seg_bounds[chosen[-1] + 1]
        local = np.repeat(np.arange(len(chosen)), np.diff(seg_bounds[chosen[0] : chosen[-1] + 2]))
        pairs = np.cumsum(per_segment[local])
        cut = lo
        while cut < hi:
            stop = lo + int(np.searchsorted(pairs, pairs[cut - lo] - per_segment[local[cut - lo]] + SPREAD_ENTRIES,
                                            side="right"))
            stop = min(max(stop, cut + 1), hi)
            _spread_some(mass, bandwidths, length, reach, local[cut - lo : stop - lo],
                         pos_seg[cut:stop], pos_off[cut:stop], pos_weight[cut:stop])
            cut = stop
        done += len(chosen)
    return mass


def _spread_some(mass: np.ndarray, bandwidths: np.ndarray, length: np.ndarray, reach: _Reach, local: np.ndarray,
                 seg: np.ndarray, off: np.ndarray, w: np.ndarray) -> None:
    """Add to ``mass`` the kernel shares of some positions (segment, offset, weight; ``local``: row in ``reach``)."""
    owner, at = _expand(reach.start[local], reach.start[local + 1] - reach.start[local])
    target = reach.target[at]
    lead_v = length[seg] - off
    dist = np.minimum(off[owner] + reach.from_u[at], lead_v[owner] + reach.from_v[at])
    dist[target == seg[owner]] = 0.0
    for b, bandwidth in enumerate(bandwidths):
        near = dist < bandwidth
        o, t = owner[near], target[near]
        share = (1.0 - (dist[near] / bandwidth) ** 2) ** 2 * length[t]
        total = np.bincount(o, weights=share, minlength=len(seg))
        empty = total <= 0
        part = share * (w / np.where(empty, 1.0, total))[o]
        _add_by_segment(mass[b], t, part)
        if empty.any():
            _add_by_segment(mass[b], seg[empty], w[empty])


def _add_by_segment(mass: np.ndarray, segment: np.ndarray, weight: np.ndarray) -> None:
    """Add ``weight`` to ``mass`` at ``segment``, summed by bincount over the span of segments met only."""
    if len(segment) == 0:
        return
    low = int(segment.min())
    summed = np.bincount(segment - low, weights=weight)
    mass[low : low + len(summed)] += summed


def position_mass(
    index: StreetIndex, segment: np.ndarray, offset: np.ndarray, weight: np.ndarray,
    *, own_share: float, bandwidth_m: float,
) -> np.ndarray:
    """Return the mass per segment of snapped incidents: ``own_share`` on their own segment, the rest spread.

    ``segment``, ``offset`` (metres from the start node) and ``weight`` are per incident
    (:func:`snap_positions`, snapped ones only); the spread is :func:`spread_positions` with
    ``bandwidth_m`` metres. The result sums to ``weight.sum()``.
    """
    if not bandwidth_m > 0:
        raise InputError(f"bandwidth must be positive, got {bandwidth_m}", field="bandwidth_m",
                         fix="Give the kernel bandwidth in metres, such as 250.")
    weight = np.asarray(weight, dtype=float)
    mass = np.zeros(index.n_segments)
    if own_share > 0:
        mass += own_share * np.bincount(np.asarray(segment, dtype=np.int64), weights=weight,
                                        minlength=index.n_segments)
    if own_share < 1:
        mass += (1.0 - own_share) * spread_positions(index, segment, offset, weight, bandwidths_m=[bandwidth_m])[0]
    return mass


def score_segments(
    index: StreetIndex,
    incidents: gpd.GeoDataFrame,
    *,
    snap_m: float | None = None,
    bandwidth_m: float | None = None,
    hot_share: float | None = None,
    weight_column: str = "weight",
    own_share: float | None = None,
    severity: bool | None = None,
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
    own_share
        Share of each incident's weight kept on its own segment (0-1); the rest is spread
        from the incident's position with the network kernel of ``bandwidth_m``. Default
        :data:`passages.settings.own_share`.
    severity
        Whether the incidents keep their severity weight; when ``False`` and the incidents
        carry a ``category`` column, each weight is divided by its category's
        :data:`passages.settings.severity` (each incident counts once, times its base,
        window share and recency). Default :data:`passages.settings.risk_severity`.

    Returns
    -------
    RiskScore
    """
    snap_m = settings.snap_m if snap_m is None else snap_m
    bandwidth_m = settings.bandwidth_m if bandwidth_m is None else bandwidth_m
    hot_share = settings.hot_share if hot_share is None else hot_share
    own_share = settings.own_share if own_share is None else own_share
    if not 0 <= own_share <= 1:
        raise InputError(f"own share must be between 0 and 1, got {own_share}", field="own_share",
                         fix="Give a share such as 0.5 for half of each incident's weight on its own segment.")
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
    if not (settings.risk_severity if severity is None else severity) and "category" in incidents.columns:
        codes, categories = pd.factorize(incidents["category"])  # one look-up per category, not per row
        table = {"unknown": 1.0, **settings.severity}
        severity_of = np.array([table.get(c, 1.0) for c in categories] + [1.0])  # code -1 (missing): 1
        weight = weight / severity_of[codes]
    xy = shapely.get_coordinates(incidents.geometry.to_numpy()) if len(incidents) else np.empty((0, 2))
    segment, offset = snap_positions(index, xy, snap_m=snap_m)
    snapped = segment >= 0
    mass = position_mass(index, segment[snapped], offset[snapped], weight[snapped],
                         own_share=own_share, bandwidth_m=bandwidth_m)
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
        own_share=own_share,
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

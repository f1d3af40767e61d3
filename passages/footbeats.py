"""Footbeats: for each walking officer, a closed loop over the highest-value passage segments.

A footbeat is walked lap after lap during the time window. One lap, with its stops, fits a
time budget (:func:`passages.scenarios.lap_minutes`: the shortest window divided by the
number of laps, at most the Koper curve's two hours), so the officer comes back to the
loop's worst corners within the window. Each lap makes ``stops_per_loop`` stops of
``stop_minutes`` at the corners on the loop that watch the most value (the Koper curve:
10-15 minute stops deter more than passing by).

How a loop is built (a prize-collecting tour heuristic)
-------------------------------------------------------
Each passage segment carries a *prize*, its value (:class:`passages.coverage.CoverageModel`);
segments already watched by posts or by earlier officers keep only :data:`REUSED_PRIZE` of
it, segments on an earlier officer's loop none, walking such a segment costs
:data:`OVERLAP_PENALTY` times more, and a loop starts from a corner no earlier loop passes,
so the loops of different officers overlap as little as the streets allow.

1. The loop starts at the *anchor*: the corner that watches the most prize.
2. Starting from the empty tour (anchor -> anchor), the segment with the best ratio
   prize / extra walking is inserted, in its better direction, in the best place of the
   tour, as long as the lap still fits the walking budget; segments the tour walks
   anyway between inserted ones collect their prize for free. Repeat until nothing fits.
3. The stops go to the loop's corners that watch the most value not yet watched, in
   greedy order; their times follow the walking order.

All distances run on the :class:`passages.streetindex.StreetIndex` arrays with
:func:`scipy.sparse.csgraph.dijkstra`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString

from passages._graph_search import walk_back
from passages.street_names import corner_name, merge_steps
from passages.streetindex import StreetIndex, WeightedGraph

if TYPE_CHECKING:
    from passages.coverage import CoverageModel

#: Share of its value a segment already watched (by a post or an earlier officer) still
#: brings to a loop: small, so a loop goes there only when nothing new is within reach.
REUSED_PRIZE = 0.05

#: Walking a segment of an earlier officer's loop costs ``1 + OVERLAP_PENALTY`` times its length.
OVERLAP_PENALTY = 3.0

#: Added to the extra walking of an insertion (metres), so a free insertion has a finite ratio.
_RATIO_FLOOR_M = 1.0


@dataclass(frozen=True)
class Stop:
    """A stop of a footbeat lap.

    Attributes
    ----------
    node
        OSM id of the corner.
    corner
        Names of the streets meeting there, joined by " & ".
    arrive_min, leave_min
        Minutes after the lap starts at :attr:`Footbeat.start_node`.
    """

    node: int
    corner: str
    arrive_min: float
    leave_min: float


@dataclass(frozen=True)
class Footbeat:
    """One officer's closed walking loop, walked lap after lap during the windows.

    Attributes
    ----------
    officer
        Officer number (1-based, after the officers on posts).
    start_node
        OSM id of the node the lap starts and ends at (the anchor corner).
    nodes
        OSM ids along the loop in walking order; the first equals the last.
    segments
        Street segment indices (of the plan's :class:`StreetIndex`) in walking order, one
        per step between consecutive ``nodes``.
    street_names
        What to call each segment in directions (:attr:`StreetIndex.segment_label`).
    stops
        The lap's stops at its worst corners, in walking order.
    length_m
        Length of one lap (metres).
    minutes
        Time of one lap: walking at the scenario's pace plus the stops (minutes).
    budget_minutes
        The time budget of one lap (minutes); ``minutes <= budget_minutes``.
    value
        Value of the passage segments the loop watches (on it, or from its stops).
    geometry
        The loop as a LineString in the plan's CRS (UTM, metres), following the streets.
    segment_lengths
        Length of each segment of :attr:`segments` (metres).
    """

    officer: int
    start_node: int
    nodes: np.ndarray
    segments: np.ndarray
    street_names: tuple[str, ...]
    stops: tuple[Stop, ...]
    length_m: float
    minutes: float
    budget_minutes: float
    value: float
    geometry: LineString
    segment_lengths: tuple[float, ...] = ()

    def legs(self) -> list[tuple[str, float]]:
        """Return the loop as directions: consecutive segments of one street merged, (name, metres)."""
        return merge_steps(self.street_names, self.segment_lengths)

    def table(self) -> pd.DataFrame:
        """Return the ordered segments: ``order``, ``segment``, ``street``, ``length_m``, ``start_min``.

        ``start_min`` is the minute after the lap starts at which the officer enters the
        segment, stops included.
        """
        lengths = np.asarray(self.segment_lengths, dtype=float)
        walked = np.concatenate([[0.0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.empty(0)
        speed = self.length_m / max(self.minutes - sum(s.leave_min - s.arrive_min for s in self.stops), 1e-9)
        start = walked / speed if self.length_m > 0 else walked
        for stop in self.stops:
            index = int(np.flatnonzero(self.nodes == stop.node)[0])
            start[index:] += stop.leave_min - stop.arrive_min
        return pd.DataFrame({"order": np.arange(1, len(lengths) + 1), "segment": self.segments,
                             "street": list(self.street_names), "length_m": lengths, "start_min": start})

    def watched(self, model: CoverageModel) -> np.ndarray:
        """Return, per segment, whether the loop watches it (walked, or watched from a stop)."""
        watched = model.watched_by([s.node for s in self.stops])
        watched[self.segments] = True
        return watched


class _Tour:
    """A tour from the anchor through inserted target segments and back, on key nodes."""

    def __init__(self, anchor_key: int) -> None:
        self.anchor = anchor_key
        self.targets: list[tuple[int, int, int]] = []  # (segment, entry key, exit key)

    def gaps(self) -> tuple[np.ndarray, np.ndarray]:
        exits = [self.anchor] + [t[2] for t in self.targets]
        entries = [t[1] for t in self.targets] + [self.anchor]
        return np.asarray(exits), np.asarray(entries)


def _build_loop(index: StreetIndex, graph: WeightedGraph, anchor: int, prize: np.ndarray,
                budget_m: float) -> tuple[list[int], list[int]]:
    """Return the node positions and segments of a loop from ``anchor`` within ``budget_m``.

    ``budget_m`` bounds the length under the weights of ``graph`` (never shorter than the
    real length), so the real lap is within it too.
    """
    length = index.segment_length
    from_anchor = dijkstra(graph.matrix, indices=[anchor], limit=budget_m)[0]
    targets = np.flatnonzero(prize > 0)
    a, b = index.segment_u[targets], index.segment_v[targets]
    fits = np.minimum(from_anchor[a], from_anchor[b]) * 2 + length[targets] <= budget_m
    targets = targets[fits]
    if len(targets) == 0:
        return [anchor], []
    keys = np.unique(np.concatenate([[anchor], index.segment_u[targets], index.segment_v[targets]]))
    key_of = {int(node): k for k, node in enumerate(keys)}
    distance, pred = dijkstra(graph.matrix, indices=keys, limit=budget_m, return_predecessors=True)
    key_distance = distance[:, keys]
    # every target in both directions: entering at u and leaving at v, or the reverse
    seg = np.concatenate([targets, targets])
    ku = np.array([key_of[int(n)] for n in index.segment_u[targets]])
    kv = np.array([key_of[int(n)] for n in index.segment_v[targets]])
    enter, leave = np.concatenate([ku, kv]), np.concatenate([kv, ku])
    seg_len, seg_prize = length[seg], prize[seg]

    tour = _Tour(key_of[int(anchor)])
    total = 0.0
    collected = np.zeros(index.n_segments, dtype=bool)
    while True:
        exits, entries = tour.gaps()
        base = key_distance[exits, entries]
        extra = key_distance[np.ix_(exits, enter)] + seg_len + key_distance[np.ix_(leave, entries)].T - base[:, None]
        ratio = seg_prize / (np.maximum(extra, 0.0) + _RATIO_FLOOR_M)
        ratio[(total + extra > budget_m) | ~np.isfinite(extra)] = -np.inf
        ratio[:, collected[seg]] = -np.inf
        best = int(np.argmax(ratio))
        gap, choice = divmod(best, len(seg))
        if not ratio[gap, choice] > 0:
            break
        tour.targets.insert(gap, (int(seg[choice]), int(enter[choice]), int(leave[choice])))
        total += float(extra[gap, choice])
        _, segments = _realise(index, graph, tour, keys, pred)
        collected[:] = False
        collected[segments] = True
    return _realise(index, graph, tour, keys, pred)


def _realise(index: StreetIndex, graph: WeightedGraph, tour: _Tour, keys: np.ndarray,
             pred: np.ndarray) -> tuple[list[int], list[int]]:
    """Return the node positions and segments of a tour, connectors by shortest paths."""
    nodes = [int(keys[tour.anchor])]
    segments: list[int] = []
    exits, entries = tour.gaps()
    for gap, (start, end) in enumerate(zip(exits, entries, strict=True)):
        path = walk_back(pred[start], int(keys[start]), int(keys[end]))
        if len(path) > 1:
            segments.extend(index.path_segments(path, graph).tolist())
            nodes.extend(path[1:].tolist())
        if gap < len(tour.targets):
            segment, _, leave = tour.targets[gap]
            segments.append(segment)
            nodes.append(int(keys[leave]))
    return nodes, segments


def _choose_stops(model: CoverageModel, nodes: list[int], open_value: np.ndarray, count: int) -> list[int]:
    """Return up to ``count`` distinct loop nodes (positions) watching the most open value, in greedy order."""
    unique = np.unique(np.asarray(nodes, dtype=np.int64))
    watch = model.node_watch[unique].astype(float)
    open_value = open_value.copy()
    chosen: list[int] = []
    for _ in range(min(count, len(unique))):
        gains = np.asarray(watch @ open_value).ravel()
        totals = np.asarray(watch @ model.value).ravel()
        score = np.where(gains > 0, gains, 0.0) + 1e-12 * totals  # ties and zero gains: the most value overall
        score[np.isin(unique, chosen)] = -np.inf
        pick = int(unique[int(np.argmax(score))])
        chosen.append(pick)
        open_value = np.where(np.asarray(model.node_watch[pick].todense()).ravel(), 0.0, open_value)
    return chosen


def plan_footbeat(
    model: CoverageModel,
    *,
    officer: int,
    lap_minutes: float,
    walk_kmh: float,
    stop_minutes: float,
    stops_per_loop: int,
    watched: np.ndarray | None = None,
    walked: np.ndarray | None = None,
) -> Footbeat:
    """Return one officer's closed footbeat loop.

    Parameters
    ----------
    model
        The covering model of the plan (segment values, what a corner watches).
    officer
        The officer's number.
    lap_minutes
        Time budget of one lap, walking and stops (minutes).
    walk_kmh
        Walking pace (km/h).
    stop_minutes
        Length of each stop (minutes).
    stops_per_loop
        Stops per lap.
    watched
        Per segment: already watched by other officers; such segments bring only
        :data:`REUSED_PRIZE` of their value.
    walked
        Per segment: on another officer's loop; walking it costs ``1 + OVERLAP_PENALTY``
        times its length.
    """
    index = model.index
    length = index.segment_length
    taken = np.zeros(index.n_segments, dtype=bool) if watched is None else np.asarray(watched, dtype=bool)
    used = np.zeros(index.n_segments, dtype=bool) if walked is None else np.asarray(walked, dtype=bool)
    speed_m_per_min = walk_kmh * 1000.0 / 60.0
    budget_m = max(lap_minutes - stops_per_loop * stop_minutes, 0.0) * speed_m_per_min
    # a segment another officer walks brings nothing, one they watch little: when the value
    # sits on a few segments (block-rounded incidents recur there), later loops would
    # otherwise be drawn back onto the first loop's streets
    graph = index.weighted(length * (1.0 + OVERLAP_PENALTY * used))
    on_loops = np.zeros(index.n_nodes, dtype=bool)
    on_loops[index.segment_u[used]] = True
    on_loops[index.segment_v[used]] = True
    nodes: list[int] = []
    segments: list[int] = []
    # first away from the other loops; if nothing is left within reach, back among them
    for prize, avoid_corners in ((model.value * np.where(taken, REUSED_PRIZE, 1.0) * np.where(used, 0.0, 1.0), True),
                                 (model.value * np.where(taken, REUSED_PRIZE, 1.0), False)):
        corner_prize = np.asarray(model.node_watch[model.candidates] @ prize).ravel()
        free = ~on_loops[model.candidates]
        if avoid_corners and free.any():  # start from a corner no other loop passes
            corner_prize = np.where(free, corner_prize, -np.inf)
        anchor = int(model.candidates[int(np.argmax(corner_prize))]) if len(model.candidates) else 0
        nodes, segments = _build_loop(index, graph, anchor, prize, budget_m)
        if segments:
            break
    stop_nodes = _choose_stops(model, nodes, np.where(taken, 0.0, model.value), stops_per_loop)
    lap_m = float(length[segments].sum())
    walked_to = np.concatenate([[0.0], np.cumsum(length[segments])])
    first_seen: dict[int, int] = {}
    for i, node in enumerate(nodes):
        first_seen.setdefault(node, i)
    stops: list[Stop] = []
    paused = 0.0
    for node in sorted(stop_nodes, key=lambda n: first_seen[n]):
        arrive = float(walked_to[first_seen[node]]) / speed_m_per_min + paused
        stops.append(Stop(int(index.node_ids[node]), corner_name(index, node), arrive, arrive + stop_minutes))
        paused += stop_minutes
    seg_array = np.asarray(segments, dtype=np.int64)
    beat = Footbeat(
        officer=officer, start_node=int(index.node_ids[anchor]), nodes=index.node_ids[np.asarray(nodes)],
        segments=seg_array, street_names=tuple(str(index.segment_label[s]) for s in segments),
        stops=tuple(stops), length_m=lap_m, minutes=lap_m / speed_m_per_min + paused,
        budget_minutes=float(lap_minutes), value=0.0,
        geometry=index.path_geometry(np.asarray(nodes, dtype=np.int64), seg_array),
        segment_lengths=tuple(float(length[s]) for s in segments),
    )
    return replace(beat, value=float(model.value[beat.watched(model)].sum()))


def plan_footbeats(
    model: CoverageModel,
    *,
    officers: int,
    lap_minutes: float,
    walk_kmh: float,
    stop_minutes: float,
    stops_per_loop: int,
    watched: np.ndarray | None = None,
    first_officer: int = 1,
) -> list[Footbeat]:
    """Return one closed footbeat loop per officer, built officer after officer.

    Each loop avoids what the earlier ones watch and walk (:func:`plan_footbeat`), so
    the loops for ``n`` officers are the first ``n`` of the loops for more. ``watched``
    marks segments already watched by posts; ``first_officer`` numbers the first loop.
    """
    taken = np.zeros(model.index.n_segments, dtype=bool) if watched is None else np.asarray(watched, dtype=bool).copy()
    walked = np.zeros(model.index.n_segments, dtype=bool)
    beats: list[Footbeat] = []
    for officer in range(first_officer, first_officer + officers):
        beat = plan_footbeat(model, officer=officer, lap_minutes=lap_minutes, walk_kmh=walk_kmh,
                             stop_minutes=stop_minutes, stops_per_loop=stops_per_loop, watched=taken, walked=walked)
        beats.append(beat)
        walked[beat.segments] = True
        taken |= beat.watched(model)
    return beats


def loop_overlap(first: Footbeat, second: Footbeat) -> float:
    """Return the share of the shorter loop's length walked on segments of the other loop (0-1)."""
    shorter, longer = sorted((first, second), key=lambda b: b.length_m)
    if shorter.length_m <= 0:
        return 0.0
    shared = np.isin(shorter.segments, longer.segments)
    return float(np.asarray(shorter.segment_lengths)[shared].sum() / shorter.length_m)

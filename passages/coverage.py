"""Where officers go: posts at corners and footbeat loops over a plan's Safe Passages.

The value of a passage segment
------------------------------
Officers are placed to watch the walkers of the recommended Safe Passages where they meet
the most risk. The **value** of a segment is the *walker exposure* it carries:

    value = demand x exposure,  exposure = length_m x risk_per_100m / 100

``demand`` is the walkers per school day on the safer paths using the segment
(:attr:`passages.routes.RouteSet.segment_demand`) and ``exposure`` the incident weight one
walker meets crossing it (as in :mod:`passages.routes`). Only passage segments (demand > 0)
have value. When no passage segment carries any risk (a category filter that leaves no
incident on them), the value falls back to walker-kilometres, ``demand x length_m / 1000``,
and :attr:`CoverageModel.value_basis` says so.

Watching
--------
An officer at a node *watches* a segment when the segment's midpoint lies within
``radius_m`` of the node along the network: ``min(d(node, u), d(node, v)) + length / 2 <=
radius_m``. A segment longer than twice the radius is therefore never watched from a post
(a walking officer watches the segments of their loop).

Posts
-----
Choosing ``k`` corners that watch the most value is a maximal covering location problem
(MCLP). Candidate corners are intersections (nodes where three or more segments meet)
that watch some value. :meth:`CoverageModel.greedy` adds, officer by officer, the corner
that watches the most value not yet watched, then swaps single posts while a swap gains
(a Teitz-Bart interchange); the answer for ``k`` starts from the answer for ``k - 1``, so
the value watched never falls when an officer is added. :meth:`CoverageModel.exact`
solves the same problem to optimality with spopt's MCLP and the HiGHS solver, to check it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from passages import _max_cover as search
from passages import settings
from passages._errors import InputError
from passages.footbeats import Footbeat, plan_footbeat, plan_footbeats
from passages.scenarios import CoverageParameters, lap_minutes, window_minutes
from passages.street_names import corner_name
from passages.streetindex import StreetIndex

if TYPE_CHECKING:
    from passages.plan import Plan

#: Swaps gaining less than this share of the total value are not made (stops cycling on ties).
SWAP_TOLERANCE = 1e-9

#: Relative MIP gap asked of HiGHS: the exact answer is within this share of the optimum.
MIP_GAP = 1e-6

#: Columns of :attr:`Coverage.posts`.
POST_COLUMNS = ("officer", "rank", "node", "x", "y", "lon", "lat", "value", "value_share",
                "segments_watched", "corner", "window")


@dataclass(frozen=True)
class PostSolution:
    """A choice of posts for ``officers`` officers.

    Attributes
    ----------
    method
        ``"greedy"`` (the heuristic) or ``"exact"`` (spopt MCLP with HiGHS).
    officers
        Number of posts asked for.
    nodes
        OSM ids of the chosen corners, in rank order: the first watches the most value,
        each next one the most value not yet watched.
    marginal
        Value each post adds in that order (sums to :attr:`value`).
    value
        Total value watched (see the module docstring).
    watched
        Per segment of the index: whether a post watches it.
    seconds
        Wall time of the solve (for benchmarks; never part of an output file).
    status
        ``"heuristic"``, or the solver status (``"Optimal"``).
    """

    method: str
    officers: int
    nodes: np.ndarray
    marginal: np.ndarray
    value: float
    watched: np.ndarray
    seconds: float
    status: str


class CoverageModel:
    """The covering problem of one plan, built once and asked many times.

    Parameters
    ----------
    plan
        A plan (its street index, risk and route demand are read).
    radius_m
        Watch radius along the network (metres); default
        :data:`passages.settings.cover_radius_m`.

    Attributes
    ----------
    index
        The plan's street index.
    radius_m
        Watch radius (metres).
    demand, exposure, value
        Per segment: walkers per day, incident weight met by one walker, and their product
        (the value; see the module docstring).
    value_basis
        ``"demand x exposure"``, or ``"demand x km"`` after the fall-back.
    passage
        Per segment: whether it is on the Safe Passage network (demand > 0).
    hot
        Per segment: whether it is hot (:attr:`passages.risk.RiskScore.hot`).
    node_watch
        Sparse ``n_nodes x n_segments`` boolean matrix: which passage segments an officer at
        each node (by position) watches.
    candidates
        Node positions of the candidate corners.
    """

    def __init__(self, plan: Plan, *, radius_m: float | None = None) -> None:
        radius_m = settings.cover_radius_m if radius_m is None else float(radius_m)
        if not radius_m > 0:
            raise InputError(f"watch radius must be positive, got {radius_m}", field="cover_radius_m",
                             fix="Give the distance an officer watches in metres, such as 150.")
        index = plan.index
        self.index: StreetIndex = index
        self.radius_m = radius_m
        length = index.segment_length
        self.demand = np.asarray(plan.route_set.segment_demand, dtype=float)
        self.exposure = length * np.asarray(plan.risk.risk_per_100m, dtype=float) / 100.0
        self.passage = self.demand > 0
        self.hot = np.asarray(plan.risk.hot, dtype=bool)
        value = self.demand * self.exposure
        self.value_basis = "demand x exposure"
        if not value.sum() > 0:
            value = self.demand * length / 1000.0
            self.value_basis = "demand x km"
        self.value = value
        self.node_watch = self._watch_matrix()
        degree = np.bincount(np.concatenate([index.segment_u, index.segment_v]), minlength=index.n_nodes)
        watches = np.asarray(self.node_watch @ (value > 0).astype(float)).ravel() > 0
        corners = np.flatnonzero(watches & (degree >= 3))
        self.candidates = corners if len(corners) else np.flatnonzero(watches)
        self._columns = np.flatnonzero(value > 0)
        self._cover = self.node_watch[self.candidates][:, self._columns].toarray()
        self._weights = value[self._columns]
        # candidates no other candidate contains: every optimum can be built from them
        self._pool = search.undominated(self._cover)
        self._greedy: list[PostSolution] = []

    def _watch_matrix(self) -> csr_matrix:
        index = self.index
        segments = np.flatnonzero(self.passage)
        n = index.n_nodes
        if len(segments) == 0:
            return csr_matrix((n, index.n_segments), dtype=bool)
        ends = np.unique(np.concatenate([index.segment_u[segments], index.segment_v[segments]]))
        graph = index.weighted(index.segment_length)
        distance = dijkstra(graph.matrix, directed=False, indices=ends, limit=self.radius_m)
        row = {int(node): i for i, node in enumerate(ends)}
        from_u = distance[[row[int(u)] for u in index.segment_u[segments]]]
        from_v = distance[[row[int(v)] for v in index.segment_v[segments]]]
        midpoint = np.minimum(from_u, from_v) + index.segment_length[segments, None] / 2.0
        seg_i, node_i = np.nonzero(midpoint <= self.radius_m)
        return csr_matrix((np.ones(len(seg_i), dtype=bool), (node_i, segments[seg_i])),
                          shape=(n, index.n_segments))

    # -- watching -------------------------------------------------------------------------

    @property
    def total_value(self) -> float:
        """Value of the whole passage network."""
        return float(self.value.sum())

    def watched_by(self, nodes: Sequence[int] | np.ndarray) -> np.ndarray:
        """Return, per segment, whether an officer at one of ``nodes`` (OSM ids) watches it."""
        positions = self.index.node_positions(np.asarray(nodes, dtype=np.int64))
        if len(positions) == 0:
            return np.zeros(self.index.n_segments, dtype=bool)
        return np.asarray(self.node_watch[positions].sum(axis=0)).ravel() > 0

    def best_post(self, watched: np.ndarray) -> tuple[int, float]:
        """Return the candidate corner (OSM id) adding the most value to ``watched``, and that value."""
        open_value = np.where(np.asarray(watched, dtype=bool)[self._columns], 0.0, self._weights)
        gains = self._cover @ open_value
        best = int(np.argmax(gains)) if len(gains) else -1
        if best < 0:
            raise InputError("no corner watches any passage segment", field="cover_radius_m",
                             fix="Give a larger watch radius.")
        return int(self.index.node_ids[self.candidates[best]]), float(gains[best])

    def _solution(self, method: str, chosen: Sequence[int], seconds: float, status: str, k: int) -> PostSolution:
        """Rank chosen candidate rows greedily and wrap them up."""
        left = list(chosen)
        order: list[int] = []
        marginal: list[float] = []
        open_weight = self._weights.copy()
        while left:
            gains = self._cover[left] @ open_weight
            best = int(np.argmax(gains))
            row = left.pop(best)
            order.append(row)
            marginal.append(float(gains[best]))
            open_weight = np.where(self._cover[row], 0.0, open_weight)
        nodes = self.index.node_ids[self.candidates[order]] if order else np.empty(0, dtype=np.int64)
        watched = self.watched_by(nodes)
        return PostSolution(method, k, nodes, np.asarray(marginal), float(sum(marginal)), watched, seconds, status)

    # -- the heuristic --------------------------------------------------------------------

    def greedy(self, officers: int) -> PostSolution:
        """Return posts for ``officers`` officers: greedy adding, then local search.

        Only corners that no other corner contains (watching a subset of its segments)
        are considered. For ``k`` officers two answers are built and the better kept:
        the answer for ``k - 1`` plus the corner adding the most, and the best of
        :data:`passages._max_cover.MULTI_STARTS` greedy answers each started from one of the corners watching
        the most value alone; both are improved by single and pair swaps (:func:`passages._max_cover.improve`).
        The answers for 1, 2, ... officers are kept, so asking again is free, and the value
        never falls as ``officers`` grows.
        """
        if officers < 1:
            raise InputError(f"need at least one officer, got {officers}", field="officers", fix="Give 1 or more.")
        cover = self._cover[self._pool].astype(float)
        weights = self._weights
        tolerance = SWAP_TOLERANCE * max(float(weights.sum()), 1e-300)
        while len(self._greedy) < officers:
            started = time.perf_counter()
            k = len(self._greedy) + 1
            chosen = list(self._pool_rows(self._greedy[-1])) if self._greedy else []
            if len(chosen) < len(cover):
                chosen = search.improve(cover, weights, search.add_greedily(cover, weights, chosen, 1), tolerance)
                restarted = search.multi_start(cover, weights, k, tolerance)
                if search.value(cover, weights, restarted) > search.value(cover, weights, chosen) + tolerance:
                    chosen = restarted
            rows = [int(self._pool[row]) for row in chosen]
            self._greedy.append(self._solution("greedy", rows, time.perf_counter() - started, "heuristic", k))
        return self._greedy[officers - 1]

    def _pool_rows(self, solution: PostSolution) -> np.ndarray:
        """Return the rows of :attr:`_pool` of a solution's posts."""
        rows = np.searchsorted(self.candidates, self.index.node_positions(solution.nodes))
        return np.searchsorted(self._pool, rows)

    # -- the exact answer -----------------------------------------------------------------

    def exact(self, officers: int, *, time_limit_s: float | None = None) -> PostSolution:
        """Return the optimal posts for ``officers`` officers (spopt MCLP solved with HiGHS).

        Only corners that no other corner contains are offered to the solver (it changes
        no optimum). ``time_limit_s`` stops the solver early; :attr:`PostSolution.status`
        then says so.
        """
        import pulp
        from spopt.locate import MCLP

        if officers < 1:
            raise InputError(f"need at least one officer, got {officers}", field="officers", fix="Give 1 or more.")
        started = time.perf_counter()
        keep = self._pool
        if officers >= len(keep):
            return self._solution("exact", list(keep), time.perf_counter() - started, "Optimal", officers)
        # spopt reads a client x facility cost matrix: 0 where watched, 1 where not, radius 0.5
        cost = np.where(self._cover[keep].T, 0.0, 1.0)
        with warnings.catch_warnings():
            # spopt builds its variables the way PuLP 3.x deprecates; nothing for a user to act on
            warnings.simplefilter("ignore", DeprecationWarning)
            model = MCLP.from_cost_matrix(cost, self._weights, service_radius=0.5, p_facilities=officers)
        options: dict[str, Any] = {"msg": False, "gapRel": MIP_GAP}
        if time_limit_s is not None:
            options["timeLimit"] = time_limit_s
        with search.quiet_stdout():
            model.solve(pulp.HiGHS(**options), results=False)
        status = pulp.LpStatus[model.problem.status]
        chosen = [int(keep[j]) for j, var in enumerate(model.fac_vars) if (var.value() or 0.0) > 0.5]
        return self._solution("exact", chosen, time.perf_counter() - started, status, officers)


# --------------------------------------------------------------------------- the result


@dataclass
class Coverage:
    """Where a scenario's officers go and what they watch; the input of officer maps,
    briefing sheets and GPX exports.

    Attributes
    ----------
    mode
        ``"posts"``, ``"footbeats"`` or ``"both"``.
    officers
        Officers on duty in each window.
    radius_m
        Watch radius along the network (metres).
    windows
        The time windows the officers work (``"HH:MM-HH:MM"``, local time).
    posts
        One row per post, geometry the corner as a Point in the plan's CRS (UTM, e.g.
        EPSG:32611). Columns: ``officer`` (1-based), ``rank`` (1 = watches the most value,
        each next one the most not yet watched: the order to staff posts in when fewer
        officers show up), ``node`` (OSM id), ``x``/``y`` (metres, plan CRS), ``lon``/``lat``
        (EPSG:4326), ``value`` (value the post adds in rank order), ``value_share``
        (``value`` over the passage network's value), ``segments_watched`` (passage
        segments within the radius), ``corner`` (names of the streets meeting there,
        joined by " & "), ``window`` (the windows, comma-separated).
    loops
        One :class:`passages.footbeats.Footbeat` per walking officer.
    watched
        Per segment of the plan's index: whether a post, a loop or a loop's stop watches it.
    visits_per_hour
        Per segment: officer visits per hour during the windows. A loop gives each segment
        on it, or watched from one of its stops, ``60 / lap minutes``; a post gives the
        segments it watches ``60 / stop_minutes`` (a post counts as back-to-back stops).
    metrics
        See :func:`coverage_metrics`.
    post_method
        How the posts were chosen (``"greedy"`` or ``"exact"``); ``""`` with no posts.
    value_basis
        What the values measure (:attr:`CoverageModel.value_basis`).
    """

    mode: str
    officers: int
    radius_m: float
    windows: tuple[str, ...]
    posts: gpd.GeoDataFrame
    loops: list[Footbeat]
    watched: np.ndarray
    visits_per_hour: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    post_method: str = ""
    value_basis: str = "demand x exposure"

    def loops_frame(self) -> gpd.GeoDataFrame:
        """Return the loops as a GeoDataFrame in the plan's CRS (one row per officer)."""
        rows = [{"officer": b.officer, "start_node": b.start_node, "length_m": round(b.length_m, 1),
                 "minutes": round(b.minutes, 1), "stops": len(b.stops), "value": b.value,
                 "streets": " > ".join(name for name, _ in b.legs())} for b in self.loops]
        crs = self.posts.crs
        columns = ["officer", "start_node", "length_m", "minutes", "stops", "value", "streets"]
        return gpd.GeoDataFrame(rows or None, columns=columns, geometry=[b.geometry for b in self.loops], crs=crs)


def _posts_frame(model: CoverageModel, nodes: np.ndarray, marginal: np.ndarray, officers: np.ndarray,
                 windows: tuple[str, ...]) -> gpd.GeoDataFrame:
    index = model.index
    if len(nodes) == 0:
        return gpd.GeoDataFrame(columns=list(POST_COLUMNS), geometry=[], crs=index.crs)
    positions = index.node_positions(nodes)
    xy = index.node_xy[positions]
    lonlat = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=index.crs).to_crs(settings.input_crs)
    total = model.total_value
    frame = {
        "officer": officers,
        "rank": np.arange(1, len(positions) + 1),
        "node": nodes,
        "x": xy[:, 0], "y": xy[:, 1],
        "lon": lonlat.x.to_numpy(), "lat": lonlat.y.to_numpy(),
        "value": marginal,
        "value_share": marginal / total if total > 0 else np.zeros(len(positions)),
        "segments_watched": np.asarray(model.node_watch[positions].sum(axis=1)).ravel(),
        "corner": [corner_name(index, int(p)) for p in positions],
        "window": ", ".join(windows),
    }
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=index.crs)


def cover(
    plan: Plan,
    params: CoverageParameters | None = None,
    *,
    model: CoverageModel | None = None,
    exact: bool = False,
) -> Coverage:
    """Return where a plan's officers go: posts, footbeat loops or both, with metrics.

    * ``"posts"``: the posts of :meth:`CoverageModel.greedy` (or :meth:`~CoverageModel.exact`).
    * ``"footbeats"``: :func:`passages.footbeats.plan_footbeats`, officer after officer.
    * ``"both"``: officers 1, 3, 5, ... stand at posts and officers 2, 4, ... walk loops,
      added one at a time: each post is the corner adding the most value to what the
      earlier officers watch, each loop avoids what they watch and walk.

    In every mode the risk-weighted exposure watched never falls when an officer is
    added: posts keep the heuristic's guarantee, and loops and "both" add officers to
    the same earlier ones.

    Parameters
    ----------
    plan
        The plan whose passages are covered; officers work during its windows.
    params
        Officers, mode, radius, pace and stops; default :class:`CoverageParameters()`.
    model
        A :class:`CoverageModel` of this plan with the same radius, to reuse across calls.
    exact
        In ``"posts"`` mode, choose the posts with the exact solver instead of the heuristic.
    """
    params = params or CoverageParameters()
    windows = tuple(plan.params.windows)
    params.check(windows=windows)
    if model is None or model.radius_m != params.cover_radius_m or model.index is not plan.index:
        model = CoverageModel(plan, radius_m=params.cover_radius_m)
    n = model.index.n_segments
    lap = lap_minutes(windows, laps=params.laps)
    walking: dict[str, Any] = {"lap_minutes": lap, "walk_kmh": params.walk_kmh, "stop_minutes": params.stop_minutes,
               "stops_per_loop": params.stops_per_loop}
    watched = np.zeros(n, dtype=bool)
    walked = np.zeros(n, dtype=bool)
    post_nodes: list[int] = []
    post_marginal: list[float] = []
    post_officers: list[int] = []
    loops: list[Footbeat] = []
    method = ""
    if params.mode == "posts":
        solution = model.exact(params.officers) if exact else model.greedy(params.officers)
        post_nodes, post_marginal = solution.nodes.tolist(), solution.marginal.tolist()
        post_officers = list(range(1, len(post_nodes) + 1))
        watched |= solution.watched
        method = solution.method
    elif params.mode == "footbeats":
        loops = plan_footbeats(model, officers=params.officers, **walking)
    else:
        method = "greedy"
        for officer in range(1, params.officers + 1):
            if officer % 2:
                node, gain = model.best_post(watched)
                post_nodes.append(node)
                post_marginal.append(gain)
                post_officers.append(officer)
                watched |= model.watched_by([node])
            else:
                beat = plan_footbeat(model, officer=officer, watched=watched, walked=walked, **walking)
                loops.append(beat)
                walked[beat.segments] = True
                watched |= beat.watched(model)
    visits = np.zeros(n)
    if post_nodes:
        positions = model.index.node_positions(post_nodes)
        visits += np.asarray(model.node_watch[positions].sum(axis=0)).ravel() * 60.0 / params.stop_minutes
    for beat in loops:
        on_beat = beat.watched(model)
        watched |= on_beat
        if beat.minutes > 0:
            visits += on_beat * 60.0 / beat.minutes
    posts = _posts_frame(model, np.asarray(post_nodes, dtype=np.int64), np.asarray(post_marginal, dtype=float),
                         np.asarray(post_officers, dtype=int), windows)
    result = Coverage(params.mode, params.officers, model.radius_m, windows, posts, loops, watched & model.passage,
                      np.where(model.passage, visits, 0.0), post_method=method, value_basis=model.value_basis)
    result.metrics = coverage_metrics(model, result)
    return result


def coverage_metrics(model: CoverageModel, coverage: Coverage) -> dict[str, Any]:
    """Return the metrics of a coverage, as JSON-ready values.

    Keys
    ----
    demand_share
        Share of passage demand watched: walker-metres (demand x length) on watched
        passage segments over walker-metres on all passage segments (0-1).
    exposure_share
        Share of risk-weighted exposure watched: the value (demand x exposure) of watched
        segments over the value of all passage segments (0-1).
    watched_km
        Length of passage under watch (km).
    passage_km
        Length of the whole passage network (km).
    officer_hours
        Officers x the total length of the windows (hours per day the windows apply).
    hot_segments, hot_watched
        Hot segments on the passage network, and how many of them are watched.
    dosage_per_hot
        Mean officer visits per hour over the hot passage segments (0 for one nobody
        watches; ``None`` when the passages have no hot segment).
    posts, loops, loop_km
        Number of posts, of loops, and total loop length (km).
    """
    passage = model.passage
    length = model.index.segment_length
    watched = coverage.watched & passage
    walker_m = model.demand * length
    hot = passage & model.hot
    hours = sum(window_minutes(coverage.windows)) / 60.0
    total_value = model.total_value
    return {
        "demand_share": float(walker_m[watched].sum() / walker_m[passage].sum()) if passage.any() else 0.0,
        "exposure_share": float(model.value[watched].sum() / total_value) if total_value > 0 else 0.0,
        "watched_km": float(length[watched].sum() / 1000.0),
        "passage_km": float(length[passage].sum() / 1000.0),
        "officer_hours": float(coverage.officers * hours),
        "hot_segments": int(hot.sum()),
        "hot_watched": int((hot & watched).sum()),
        "dosage_per_hot": float(coverage.visits_per_hour[hot].mean()) if hot.any() else None,
        "posts": len(coverage.posts),
        "loops": len(coverage.loops),
        "loop_km": float(sum(b.length_m for b in coverage.loops) / 1000.0),
    }

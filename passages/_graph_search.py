"""Search helpers of :class:`passages.streetindex.StreetIndex`: tiles, batches of far-apart
sources, node pairs, walking back paths, and the straight pieces of the streets for snapping.

Plain functions over arrays (node positions, predecessor rows), kept apart so that the
index module stays a readable size. Distances are in metres; node positions index
``StreetIndex.node_ids``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class LocalDistances:
    """Network distances from some sources to the nodes of a window around them.

    Attributes
    ----------
    sources
        Node positions of the sources (one row each).
    nodes
        Node positions of the window (one column each).
    distance_m
        ``(len(sources), len(nodes))`` network distances in metres; ``inf`` beyond the
        radius asked for.
    segments
        Every segment with at least one end in the window.
    segment_u_col, segment_v_col
        Column of each of those segments' ends in ``distance_m``; ``len(nodes)`` for an
        end outside the window (at ``inf``).
    """

    sources: np.ndarray
    nodes: np.ndarray
    distance_m: np.ndarray
    segments: np.ndarray
    segment_u_col: np.ndarray
    segment_v_col: np.ndarray

    def segment_distance(self) -> np.ndarray:
        """Return the distance (m) from each source to the nearer end of each segment (``inf`` if none)."""
        padded = np.concatenate([self.distance_m, np.full((len(self.sources), 1), np.inf)], axis=1)
        return np.minimum(padded[:, self.segment_u_col], padded[:, self.segment_v_col])


@dataclass(frozen=True)
class NodePairs:
    """The node pairs joined by segments, row-major, with the segments behind each (for ``StreetIndex.weighted``).

    ``single`` holds each pair's segment when it has one; the pairs joined by parallel
    segments are listed again in ``multi_rows`` / ``multi_segments``, to pick the lightest.
    """

    keys: np.ndarray
    dst: np.ndarray
    indptr: np.ndarray
    single: np.ndarray
    multi_rows: np.ndarray
    multi_segments: np.ndarray

    @classmethod
    def of(cls, segment_u: np.ndarray, segment_v: np.ndarray, n_nodes: int) -> NodePairs:
        """Build the table from the node positions of each segment's ends."""
        n = n_nodes
        idx = np.arange(len(segment_u))
        src = np.concatenate([segment_u, segment_v])
        dst = np.concatenate([segment_v, segment_u])
        seg = np.concatenate([idx, idx])
        keep = src != dst
        src, dst, seg = src[keep], dst[keep], seg[keep]
        keys = src * n + dst
        # by key; among parallel segments the order is free (the lightest is picked per weights)
        order = np.argsort(keys, kind="stable")
        keys, src, dst, seg = keys[order], src[order], dst[order], seg[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        row = np.cumsum(first) - 1
        size = np.bincount(row)
        multi = size[row] > 1
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src[first], minlength=n), out=indptr[1:])
        # scipy keeps CSR indices as int32 when they fit: given so, it does not convert them per matrix
        small = max(n, len(keys)) < 2**31 - 1
        index_type = np.int32 if small else np.int64
        return cls(keys[first], dst[first].astype(index_type), indptr.astype(index_type), seg[first], row[multi],
                   seg[multi])


def square_tiles(node_xy: np.ndarray, sources: np.ndarray, *, reach_m: float, tile_m: float
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (sources of a tile, node positions within ``reach_m`` of the tile's bounding box)."""
    xy = node_xy
    origin = xy.min(axis=0)
    cell = np.floor((xy[sources] - origin) / tile_m).astype(np.int64)
    order = np.lexsort((sources, cell[:, 1], cell[:, 0]))
    sources, cell = sources[order], cell[order]
    breaks = np.flatnonzero(np.any(cell[1:] != cell[:-1], axis=1)) + 1
    by_x = np.argsort(xy[:, 0], kind="stable")
    sorted_x = xy[by_x, 0]
    for group in np.split(sources, breaks):
        low = xy[group].min(axis=0) - reach_m
        high = xy[group].max(axis=0) + reach_m
        strip = by_x[np.searchsorted(sorted_x, low[0], "left") : np.searchsorted(sorted_x, high[0], "right")]
        y = xy[strip, 1]
        yield group, np.sort(strip[(y >= low[1]) & (y <= high[1])])


def run_starts(*keys: np.ndarray) -> np.ndarray:
    """Return where each run of equal consecutive rows of ``keys`` starts (a boolean mask; ``np.r_`` costs more)."""
    n = len(keys[0])
    starts = np.empty(n, dtype=bool)
    if n:
        starts[0] = True
        changed = keys[0][1:] != keys[0][:-1]
        for key in keys[1:]:
            changed |= key[1:] != key[:-1]
        starts[1:] = changed
    return starts


def disjoint_batches(node_xy: np.ndarray, sources: np.ndarray, *, reach_m: float) -> list[np.ndarray]:
    """Split sources into batches whose members lie more than ``2 x reach_m`` apart (straight line).

    Nodes within ``reach_m`` of one member of a batch are then farther than ``reach_m`` from
    every other member, so one multi-source search per batch (each node labelled by its
    nearest source) finds each member's neighbourhood as a search from it alone would. The
    plane is cut into square cells of ``reach_m`` (plus a hair), coloured 3 x 3 so that two
    cells of one colour have two cells between them; a batch takes the ``k``-th source of
    every cell of one colour.

    Parameters
    ----------
    node_xy
        ``(n_nodes, 2)`` node coordinates (metres).
    sources
        Distinct node positions.
    reach_m
        Straight-line radius (metres) of each source's neighbourhood.
    """
    sources = np.asarray(sources, dtype=np.int64)
    if len(sources) == 0:
        return []
    if not np.isfinite(reach_m):
        return [sources[i : i + 1] for i in range(len(sources))]
    side = reach_m * (1.0 + 1e-9) + 1e-6
    cell = np.floor((node_xy[sources] - node_xy[sources].min(axis=0)) / side).astype(np.int64)
    key = cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1]
    order = np.lexsort((sources, key))
    heads = run_starts(key[order])
    head_of = np.maximum.accumulate(np.where(heads, np.arange(len(order)), 0))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - head_of
    batch = rank * 9 + (cell[:, 0] % 3) * 3 + cell[:, 1] % 3
    by_batch = np.lexsort((sources, batch))
    cuts = np.flatnonzero(batch[by_batch][1:] != batch[by_batch][:-1]) + 1
    return np.split(sources[by_batch], cuts)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cycle collector: building many small objects next to a large graph makes it
    rescan the graph over and over (a third of the index build time), and nothing built here
    forms a cycle."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def first_of_ties(query_idx: np.ndarray, tree_idx: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray, ...]:
    """Keep, for each query, the lowest tree index among its equally near matches (``all_matches=True``)."""
    order = np.lexsort((tree_idx, query_idx))
    query_idx, tree_idx, distance = query_idx[order], tree_idx[order], distance[order]
    first = np.ones(len(query_idx), dtype=bool)
    first[1:] = query_idx[1:] != query_idx[:-1]
    return query_idx[first], tree_idx[first], distance[first]


#: A predecessor row is turned into a Python list when at least this many paths per node of
#: the row start from it (a list lookup costs a quarter of ``ndarray.item``, but listing the
#: row costs a pass over all its nodes).
LIST_STEPS_PER_NODE = 1 / 200


def walk_back_flat(pred: np.ndarray, rows: np.ndarray, origins: np.ndarray, targets: np.ndarray,
                   reached: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the node paths of every (origin, target) end to end, and the number of nodes of each.

    ``pred[rows[t]]`` is the predecessor row of origin ``origins[t]``; a target it never
    reached gets an empty path (``reached``, when given, says which targets were reached, so
    that the walks need not look for a missing predecessor). Each path runs from its origin
    to its target. A row shared by many paths (or a short one) is turned into a Python list
    once and its paths walked on the list: a step costs a list lookup, not a NumPy scalar; a
    long row used by few paths is walked where it is (``ndarray.item``), as listing a row of a
    city's nodes would cost more than the walk.
    """
    rows = np.asarray(rows, dtype=np.int64)
    uses = np.bincount(rows, minlength=len(pred)) if len(rows) else np.zeros(len(pred), dtype=np.int64)
    listed = (uses >= pred.shape[1] * LIST_STEPS_PER_NODE).tolist()
    lists: dict[int, Any] = {}
    flat: list[int] = []
    extend = flat.extend
    sizes: list[int] = []
    checked = np.ones(len(rows), dtype=bool) if reached is None else np.asarray(reached, dtype=bool)
    for row, origin, target, sure in zip(rows.tolist(), np.asarray(origins).tolist(), np.asarray(targets).tolist(),
                                         checked.tolist(), strict=True):
        if not sure:
            sizes.append(0)
            continue
        step = lists.get(row)
        if step is None:
            step = lists[row] = pred[row].tolist().__getitem__ if listed[row] else pred[row].item
        path = [target]
        append = path.append
        node = target
        if reached is not None:  # every predecessor on the way exists
            while node != origin:
                node = step(node)
                append(node)
        else:
            while node != origin:
                node = step(node)
                if node < 0:
                    path = []
                    break
                append(node)
        path.reverse()
        extend(path)
        sizes.append(len(path))
    return np.array(flat, dtype=np.int64), np.array(sizes, dtype=np.int64)


def walk_back_all(pred: np.ndarray, rows: np.ndarray, origins: np.ndarray, targets: np.ndarray,
                  reached: np.ndarray | None = None) -> list[np.ndarray]:
    """Return the node path of each (origin, target) from predecessor rows (:func:`walk_back_flat`, one array each)."""
    flat, sizes = walk_back_flat(pred, rows, origins, targets, reached)
    return split_runs(flat, sizes)


def split_runs(flat: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Return ``flat`` cut into consecutive pieces of ``sizes`` (views)."""
    ends = np.cumsum(sizes).tolist()
    return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def walk_back(pred_row: np.ndarray, source: int, target: int) -> np.ndarray:
    """Return the node positions from ``source`` to ``target`` along a predecessor row (empty if unreached)."""
    path = [target]
    while path[-1] != source:
        step = int(pred_row[path[-1]])
        if step < 0:
            return np.empty(0, dtype=np.int64)
        path.append(step)
    return np.asarray(path[::-1], dtype=np.int64)


# -- snapping points to the nearest street segment -------------------------------------------


def point_segment_distance(px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray,
                           bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Return the distance (m) from points ``p`` to straight pieces ``a -> b``, elementwise.

    The operations and their order are those of GEOS's ``Distance::pointToSegment`` (the
    distance shapely and ``STRtree.query_nearest`` give), so the values are equal to the
    last bit and equally near pieces tie exactly as they do in GEOS.
    """
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        r = ((px - ax) * dx + (py - ay) * dy) / len2
        s = ((ay - py) * dx - (ax - px) * dy) / len2
    to_a = np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    to_b = np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    across = np.abs(s) * np.sqrt(len2)
    out = np.where(r <= 0.0, to_a, np.where(r >= 1.0, to_b, across))
    return np.where((ax == bx) & (ay == by), to_a, out)


def running_lengths(length: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each piece's distance from its segment's start and each segment's length (m).

    ``length`` holds the pieces' lengths, segment after segment; segment ``i`` owns pieces
    ``first[i]:first[i + 1]``. The lengths are added one piece after another, in the order
    GEOS adds them (``np.add.accumulate`` along the rows of padded tables, the segments
    bucketed by their number of pieces so that no table is more than twice its pieces).
    """
    count = np.diff(first)
    n = len(count)
    start_measure = np.zeros(len(length))
    total = np.zeros(n)
    if len(length) == 0:
        return start_measure, total
    width = np.ones(n, dtype=np.int64)
    positive = count > 0
    width[positive] = 1 << np.ceil(np.log2(count[positive])).astype(np.int64)  # the bucket: a power of two
    for bucket in np.unique(width[positive]).tolist():
        rows = np.flatnonzero(positive & (width == bucket))
        rank = np.arange(bucket)
        pieces = first[rows][:, None] + rank[None, :]
        inside = rank[None, :] < count[rows][:, None]
        table = np.zeros((len(rows), bucket + 1))
        table[:, 1:][inside] = length[pieces[inside]]
        table = np.add.accumulate(table, axis=1)
        start_measure[pieces[inside]] = table[:, :-1][inside]
        total[rows] = table[np.arange(len(rows)), count[rows]]
    return start_measure, total


@dataclass(frozen=True)
class SegmentPieces:
    """The straight pieces of every segment geometry and sample points along them, for snapping.

    A point's nearest segment is found among the pieces near it: a KD-tree of sample points
    (at most :attr:`spacing_m` apart along every piece, the middle of equal parts) gives the
    candidates, and the exact distance to each candidate piece decides. A piece at distance
    ``d`` from a point has a sample within ``d + spacing_m / 2`` of it, so once every
    sample within ``best + spacing_m / 2`` is among the candidates, no piece was missed.

    Attributes
    ----------
    start, end
        ``(n_pieces, 2)`` coordinates of each piece's ends (metres), in the order of the
        segment's geometry; pieces are numbered segment by segment, so a lower piece
        belongs to a lower segment or lies earlier along the same one.
    segment
        The segment of each piece.
    start_measure
        Distance (m) along the segment's geometry from its first coordinate to the
        piece's start, summed piece by piece as GEOS sums it.
    geometry_length
        Length (m) of each segment's geometry (``shapely.length``, summed the same way).
    spacing_m
        Largest distance (m) between neighbouring samples along a piece.
    sample_piece
        The piece of each sample point of :attr:`tree`.
    tree
        KD-tree of the sample points (``None`` when built without).
    """

    start: np.ndarray
    end: np.ndarray
    segment: np.ndarray
    start_measure: np.ndarray
    geometry_length: np.ndarray
    spacing_m: float
    sample_piece: np.ndarray
    tree: cKDTree | None

    @classmethod
    def of(cls, geometries: np.ndarray, *, spacing_m: float, with_tree: bool = True) -> SegmentPieces:
        """Cut LineStrings (one per segment) into straight pieces and sample them every ``spacing_m`` metres.

        Without ``with_tree`` there are no samples and no tree (for :meth:`distance` and
        :meth:`measure` on pieces found another way).
        """
        coords, owner = shapely.get_coordinates(geometries, return_index=True)
        same = owner[1:] == owner[:-1]
        start, end, segment = coords[:-1][same], coords[1:][same], owner[:-1][same]
        delta = end - start
        length = np.sqrt(delta[:, 0] * delta[:, 0] + delta[:, 1] * delta[:, 1])
        # the running sum along each segment, piece after piece (GEOS's order of additions)
        first = np.searchsorted(segment, np.arange(len(geometries) + 1))
        start_measure, running = running_lengths(length, first)
        if not with_tree:
            return cls(start, end, segment.astype(np.int64), start_measure, running, spacing_m,
                       np.empty(0, dtype=np.int64), None)
        # samples: the middles of ceil(length / spacing) equal parts of each piece
        parts = np.maximum(np.ceil(length / spacing_m), 1).astype(np.int64)
        sample_piece = np.repeat(np.arange(len(segment)), parts)
        rank_in_piece = np.arange(len(sample_piece)) - np.repeat(np.cumsum(parts) - parts, parts)
        along = (rank_in_piece + 0.5) / parts[sample_piece]
        samples = start[sample_piece] + along[:, None] * delta[sample_piece]
        # a sliding-midpoint tree builds in half the time and answers as fast
        tree = cKDTree(samples if len(samples) else np.zeros((0, 2)), balanced_tree=False, compact_nodes=False)
        return cls(start, end, segment.astype(np.int64), start_measure, running, spacing_m, sample_piece, tree)

    def distance(self, xy: np.ndarray, piece: np.ndarray) -> np.ndarray:
        """Return the distance (m) from points ``xy`` (``(..., 2)``) to pieces ``piece`` (same shape less the 2)."""
        a, b = self.start[piece], self.end[piece]
        return point_segment_distance(xy[..., 0], xy[..., 1], a[..., 0], a[..., 1], b[..., 0], b[..., 1])

    def nearest(self, xy: np.ndarray, *, max_distance_m: float, neighbours: tuple[int, ...] = (8, 64)
                ) -> tuple[np.ndarray, np.ndarray]:
        """Return the nearest piece of each point (-1 beyond ``max_distance_m``) and its distance (m).

        Among pieces at the same least distance the lowest piece is taken, so that of the
        lowest segment and, within it, the first along the geometry. The sample tree is asked
        for ``neighbours[0]`` samples per point, then ``neighbours[1]`` for the points not
        settled, then every sample within reach for the rest.
        """
        n = len(xy)
        piece = np.full(n, -1, dtype=np.int64)
        distance = np.full(n, np.inf)
        n_samples = len(self.sample_piece)
        if n == 0 or n_samples == 0 or self.tree is None:
            return piece, distance
        slack = 0.5 * self.spacing_m + 1e-6 * (1.0 + self.spacing_m)
        bound = max_distance_m + slack
        todo = np.flatnonzero(np.isfinite(xy).all(axis=1))
        for k in neighbours:
            if len(todo) == 0:
                break
            k = min(k, n_samples)
            near_d, near_i = self.tree.query(xy[todo], k=k, distance_upper_bound=bound)
            near_d, near_i = near_d.reshape(len(todo), k), near_i.reshape(len(todo), k)
            # a piece as near as the nearest sample (d0) has a sample within d0 + slack: only
            # those samples name candidates (about 3 of 8)
            rows, cols = np.nonzero((near_d <= near_d[:, :1] + slack) & (near_i < n_samples))
            cand = self.sample_piece[near_i[rows, cols]]
            d = self.distance(xy[todo[rows]], cand)
            best = np.full(len(todo), np.inf)
            tied = np.full(len(todo), -1, dtype=np.int64)
            if len(rows):
                heads = np.flatnonzero(run_starts(rows))
                best[rows[heads]] = np.minimum.reduceat(d, heads)
                lowest = np.where(d == best[rows], cand, np.iinfo(np.int64).max)
                tied[rows[heads]] = np.minimum.reduceat(lowest, heads)
            # settled: every sample within reach of a piece as near as the best was returned
            reach = np.minimum(best, max_distance_m) + slack
            settled = (near_d[:, -1] > reach) | (k >= n_samples)
            keep = settled & (best <= max_distance_m)
            piece[todo[keep]] = tied[keep]
            distance[todo[keep]] = best[keep]
            todo = todo[~settled]
        if len(todo):
            best_of_rest = self._nearest_by_ball(xy[todo], max_distance_m=max_distance_m, slack=slack)
            piece[todo], distance[todo] = best_of_rest
        return piece, distance

    def _nearest_by_ball(self, xy: np.ndarray, *, max_distance_m: float, slack: float
                         ) -> tuple[np.ndarray, np.ndarray]:
        """The nearest piece of a few points from every sample within ``max_distance_m + slack`` (exact, slower)."""
        assert self.tree is not None
        lists = self.tree.query_ball_point(xy, r=max_distance_m + slack)
        sizes = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        owner = np.repeat(np.arange(len(xy)), sizes)
        cand = self.sample_piece[np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])] if len(owner) \
            else np.empty(0, dtype=np.int64)
        piece, distance = self.nearest_of(xy, owner, cand)
        far = distance > max_distance_m
        piece[far], distance[far] = -1, np.inf
        return piece, distance

    def nearest_of(self, xy: np.ndarray, owner: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return, for each point of ``xy``, the nearest of its candidate pieces and the distance (m).

        ``owner[i]`` is the point of candidate ``cand[i]``; the lowest piece wins a tie; a
        point without candidates gets -1 and ``inf``.
        """
        piece = np.full(len(xy), -1, dtype=np.int64)
        distance = np.full(len(xy), np.inf)
        if len(owner):
            if np.any(owner[1:] < owner[:-1]):
                order = np.argsort(owner, kind="stable")
                owner, cand = owner[order], cand[order]
            d = self.distance(xy[owner], cand)
            heads = np.flatnonzero(run_starts(owner))
            best = np.minimum.reduceat(d, heads)
            lowest = np.where(d == np.repeat(best, np.diff(np.append(heads, len(d)))), cand, np.iinfo(np.int64).max)
            piece[owner[heads]] = np.minimum.reduceat(lowest, heads)
            distance[owner[heads]] = best
        return piece, distance

    def measure(self, xy: np.ndarray, piece: np.ndarray) -> np.ndarray:
        """Return how far (m) along its segment's geometry each point projects onto its piece.

        GEOS's ``LengthIndexedLine.project`` (shapely's ``line_locate_point``) on the piece
        nearest the point: the piece's start measure plus the projection, clamped to the piece.
        """
        a, b = self.start[piece], self.end[piece]
        dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
        len2 = dx * dx + dy * dy
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = ((xy[:, 0] - a[:, 0]) * dx + (xy[:, 1] - a[:, 1]) * dy) / len2
        factor = np.where((xy[:, 0] == a[:, 0]) & (xy[:, 1] == a[:, 1]), 0.0,
                          np.where((xy[:, 0] == b[:, 0]) & (xy[:, 1] == b[:, 1]), 1.0, factor))
        length = np.sqrt(len2)
        along = np.where(factor <= 0.0, 0.0, np.where(factor <= 1.0, factor * length, length))
        return np.asarray(self.start_measure[piece] + along)

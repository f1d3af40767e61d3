"""Search helpers of :class:`passages.streetindex.StreetIndex`: tiles, node pairs, walking back paths.

Plain functions over arrays (node positions, predecessor rows), kept apart so that the
index module stays a readable size. Distances are in metres; node positions index
``StreetIndex.node_ids``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np


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
        order = np.lexsort((seg, keys))
        keys, src, dst, seg = keys[order], src[order], dst[order], seg[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        row = np.cumsum(first) - 1
        size = np.bincount(row)
        multi = size[row] > 1
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src[first], minlength=n), out=indptr[1:])
        return cls(keys[first], dst[first], indptr, seg[first], row[multi], seg[multi])


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


def walk_back_all(pred: np.ndarray, rows: np.ndarray, origins: np.ndarray, targets: np.ndarray) -> list[np.ndarray]:
    """Return the node path of each (origin, target) from predecessor rows.

    ``pred[rows[t]]`` is the predecessor row of origin ``origins[t]``; a target it never
    reached gets an empty path. Each row used is turned into a Python list once and the
    paths are walked on the lists: a step costs a list lookup, not a NumPy scalar.
    """
    lists: dict[int, list[int]] = {}
    paths = []
    for row, origin, target in zip(np.asarray(rows).tolist(), np.asarray(origins).tolist(),
                                   np.asarray(targets).tolist(), strict=True):
        step = lists.get(row)
        if step is None:
            step = lists[row] = pred[row].tolist()
        path = [target]
        node = target
        while node != origin:
            node = step[node]
            if node < 0:
                path = []
                break
            path.append(node)
        paths.append(np.array(path[::-1], dtype=np.int64))
    return paths


def walk_back(pred_row: np.ndarray, source: int, target: int) -> np.ndarray:
    """Return the node positions from ``source`` to ``target`` along a predecessor row (empty if unreached)."""
    path = [target]
    while path[-1] != source:
        step = int(pred_row[path[-1]])
        if step < 0:
            return np.empty(0, dtype=np.int64)
        path.append(step)
    return np.asarray(path[::-1], dtype=np.int64)

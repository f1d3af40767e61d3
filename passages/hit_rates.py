"""Hit rate and PAI of chosen street segments on held-out incidents, with intervals and baselines.

Measures
--------
Every test incident is snapped to its nearest street segment within ``snap_m`` metres;
those farther from every street are counted and left out (no choice of streets can hold
them). For a chosen set of segments:

* **hit rate** = test incidents on the chosen segments / test incidents on a street;
* **share** = length of the chosen segments / length of the whole network;
* **PAI** (predictive accuracy index) = hit rate / share. Choosing segments at random
  gives a PAI of about 1; a PAI of 5 finds five times the incidents per metre of street.

Each incident counts once (no severity weight): the question is where incidents happen.
Intervals are percentile bootstraps: the test incidents are drawn again with replacement
(:data:`passages.settings.bootstrap_draws` times, seeded) and the chosen segments kept.

A *ranking* orders segments best first; at a coverage level ``c`` it chooses its
best-ranked segments until their length reaches ``c`` x the network length (the segment
that crosses the budget is taken, so the share chosen is ``c`` or a little more, and the
PAI uses the share actually chosen). The measures read the test incidents only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from passages import settings
from passages._errors import EmptyResultError, InputError
from passages.risk import MIN_RISK_LENGTH_M
from passages.streetindex import StreetIndex

RANDOM = "random"

#: Columns of the tables of measures (and of the backtest CSV).
COLUMNS = ("method", "kind", "coverage", "length_share", "segments", "hits", "test_incidents",
           "hit_rate", "hit_rate_low", "hit_rate_high", "pai", "pai_low", "pai_high")

_RNG_TIES, _RNG_RANDOM, _RNG_BOOTSTRAP = 1, 2, 3


# --------------------------------------------------------------------------- scores and rankings


def rank_segments(scores: np.ndarray, *, seed: int | None = None, among: np.ndarray | None = None) -> np.ndarray:
    """Return segment indices, highest score first, ties in a seeded random order.

    Parameters
    ----------
    scores
        One score per segment.
    seed
        Seed of the tie-breaking order; default :data:`passages.settings.seed`.
    among
        Boolean mask: rank only these segments (the others are left out of the ranking).
    """
    scores = np.asarray(scores, dtype=float)
    ties = np.random.default_rng([settings.seed if seed is None else seed, _RNG_TIES]).permutation(len(scores))
    order = np.lexsort((ties, -scores))
    return order if among is None else order[np.asarray(among, dtype=bool)[order]]


def snap_counts(index: StreetIndex, points: gpd.GeoDataFrame, *, snap_m: float) -> tuple[np.ndarray, int]:
    """Return the number of points snapped to each segment, and the number too far from every street."""
    xy = shapely.get_coordinates(points.geometry.to_numpy()) if len(points) else np.empty((0, 2))
    segment, _, _ = index.snap_points(xy, max_distance_m=snap_m)
    on_street = segment[segment >= 0]
    return np.bincount(on_street, minlength=index.n_segments).astype(float), int((segment < 0).sum())


def count_scores(index: StreetIndex, train: gpd.GeoDataFrame, *, snap_m: float) -> np.ndarray:
    """Return last period's incidents per 100 m of each segment (unweighted counts, length floored)."""
    counts, _ = snap_counts(index, train, snap_m=snap_m)
    return counts / np.maximum(index.segment_length, MIN_RISK_LENGTH_M) * 100.0


def grid_kde_scores(index: StreetIndex, train: gpd.GeoDataFrame, *, cell_m: float, bandwidth_m: float) -> np.ndarray:
    """Return each segment's grid kernel density: the classic hot-spot map.

    A planar quartic kernel ``(1 - (d / bandwidth_m)^2)^2`` of the training weights is
    evaluated at the centre of square cells of ``cell_m`` metres laid from the network's
    south-west corner; a segment takes the value of the cell holding its midpoint.
    """
    if not cell_m > 0:
        raise InputError(f"grid cell must be positive, got {cell_m}", field="grid_cell_m",
                         fix="Give the cell side in metres, such as 150.")
    mid = shapely.get_coordinates(shapely.line_interpolate_point(index.segment_geometry, 0.5, normalized=True))
    origin = mid.min(axis=0) if len(mid) else np.zeros(2)
    cell = np.floor((mid - origin) / cell_m).astype(np.int64)
    cells, segment_cell = np.unique(cell, axis=0, return_inverse=True)
    density = np.zeros(len(cells))
    points = shapely.get_coordinates(train.geometry.to_numpy()) if len(train) else np.empty((0, 2))
    if len(points) and len(cells):
        centres = origin + (cells + 0.5) * cell_m
        pairs = cKDTree(centres).sparse_distance_matrix(cKDTree(points), bandwidth_m, output_type="coo_matrix")
        kernel = (1.0 - (pairs.data / bandwidth_m) ** 2) ** 2
        np.add.at(density, pairs.row, kernel * train["weight"].to_numpy(dtype=float)[pairs.col])
    return density[np.asarray(segment_cell).reshape(-1)]


# --------------------------------------------------------------------------- evaluation


def _choose(length: np.ndarray, ranking: np.ndarray, coverages: Sequence[float]) -> np.ndarray:
    """Return, per coverage level, how many of the ranked segments it takes (0 = out of reach)."""
    cumulative = np.cumsum(length[ranking])
    need = np.searchsorted(cumulative, np.asarray(coverages) * length.sum() - 1e-9, side="left") + 1
    return np.where(need <= len(ranking), need, 0)


def _bootstrap(counts: np.ndarray, masks: np.ndarray, *, draws: int, seed: int) -> np.ndarray:
    """Return ``(draws, n_masks)`` hit counts over test incidents drawn again with replacement."""
    support = np.flatnonzero(counts)
    total = int(counts.sum())
    rng = np.random.default_rng([seed, _RNG_BOOTSTRAP])
    resampled = rng.multinomial(total, counts[support] / total, size=draws).astype(float)
    return np.asarray(resampled @ masks[support].astype(float))


def _rows(method: str, kind: str, masks: np.ndarray, coverages: Sequence[float], counts: np.ndarray,
          length: np.ndarray, *, draws: int, seed: int, level: float) -> list[dict[str, Any]]:
    total = counts.sum()
    share = (length @ masks) / length.sum()
    hits = counts @ masks
    boot = _bootstrap(counts, masks, draws=draws, seed=seed) / total
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail], axis=0)
    return [
        {"method": method, "kind": kind, "coverage": float(c), "length_share": float(s),
         "segments": int(m.sum()), "hits": float(h), "test_incidents": int(total),
         "hit_rate": float(h / total), "hit_rate_low": float(lo), "hit_rate_high": float(hi),
         "pai": float(h / total / s), "pai_low": float(lo / s), "pai_high": float(hi / s)}
        for c, s, h, lo, hi, m in zip(coverages, share, hits, low, high, masks.T, strict=True)
    ]


def evaluate_rankings(
    index: StreetIndex, test: gpd.GeoDataFrame, rankings: Mapping[str, np.ndarray], *,
    coverages: Sequence[float] | None = None, snap_m: float | None = None,
    draws: int | None = None, seed: int | None = None, level: float = 0.95,
) -> pd.DataFrame:
    """Return hit rate and PAI of each ranking at each coverage level, on the test incidents only.

    Parameters
    ----------
    index
        Street index; ``test`` is in its CRS (metres).
    test
        The test incidents (points). Nothing else is read.
    rankings
        Method name to segment indices, best first (:func:`rank_segments`).
    coverages
        Shares of network length (0-1); default :data:`passages.settings.backtest_coverages`.
        A level a ranking cannot reach (it holds too few segments) gives no row.
    snap_m
        Test incidents farther than this from every street are left out (metres).
    draws, seed
        Bootstrap draws and seed; defaults in :mod:`passages.settings`.
    level
        Confidence level of the percentile intervals.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, kind ``"curve"``.
    """
    coverages = tuple(settings.backtest_coverages if coverages is None else coverages)
    counts, _ = snap_counts(index, test, snap_m=settings.snap_m if snap_m is None else snap_m)
    if counts.sum() == 0:
        raise EmptyResultError("no test incident lies within snap distance of a street: nothing to evaluate")
    length = index.segment_length
    rows: list[dict[str, Any]] = []
    for method, ranking in rankings.items():
        taken = _choose(length, ranking, coverages)
        reachable = [i for i, t in enumerate(taken) if t > 0]
        position = np.full(index.n_segments, np.iinfo(np.int64).max)
        position[ranking] = np.arange(len(ranking))
        masks = position[:, None] < taken[None, reachable]
        rows += _rows(method, "curve", masks, [coverages[i] for i in reachable], counts, length,
                      draws=settings.bootstrap_draws if draws is None else draws,
                      seed=settings.seed if seed is None else seed, level=level)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def evaluate_sets(
    index: StreetIndex, test: gpd.GeoDataFrame, sets: Mapping[str, np.ndarray], *,
    snap_m: float | None = None, draws: int | None = None, seed: int | None = None, level: float = 0.95,
) -> pd.DataFrame:
    """Return hit rate and PAI of fixed sets of segments (boolean masks), kind ``"set"``.

    The ``coverage`` column holds each set's own share of network length. See
    :func:`evaluate_rankings` for the parameters.
    """
    counts, _ = snap_counts(index, test, snap_m=settings.snap_m if snap_m is None else snap_m)
    if counts.sum() == 0:
        raise EmptyResultError("no test incident lies within snap distance of a street: nothing to evaluate")
    length = index.segment_length
    rows: list[dict[str, Any]] = []
    for method, chosen in sets.items():
        mask = np.asarray(chosen, dtype=bool)[:, None]
        if not mask.any():
            continue
        share = float(length @ mask[:, 0] / length.sum())
        rows += _rows(method, "set", mask, [share], counts, length,
                      draws=settings.bootstrap_draws if draws is None else draws,
                      seed=settings.seed if seed is None else seed, level=level)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def random_baseline(
    index: StreetIndex, test: gpd.GeoDataFrame, *, coverages: Sequence[float] | None = None,
    snap_m: float | None = None, seeds: int | None = None, seed: int | None = None, level: float = 0.95,
) -> pd.DataFrame:
    """Return the mean hit rate and PAI of random segment orders, kind ``"curve"``.

    Each of ``seeds`` orders (default :data:`passages.settings.random_seeds`) is a seeded
    random permutation of the segments, chosen until the coverage level is reached. The
    interval is the spread across seeds (percentiles at ``level``), not a bootstrap.
    """
    coverages = tuple(settings.backtest_coverages if coverages is None else coverages)
    seeds = settings.random_seeds if seeds is None else seeds
    counts, _ = snap_counts(index, test, snap_m=settings.snap_m if snap_m is None else snap_m)
    total = counts.sum()
    if total == 0:
        raise EmptyResultError("no test incident lies within snap distance of a street: nothing to evaluate")
    length = index.segment_length
    budget = np.asarray(coverages) * length.sum() - 1e-9
    rng = np.random.default_rng([settings.seed if seed is None else seed, _RNG_RANDOM])
    hit = np.empty((seeds, len(coverages)))
    share = np.empty((seeds, len(coverages)))
    taken = np.zeros(len(coverages))
    for s in range(seeds):
        order = rng.permutation(index.n_segments)
        cumulative_length = np.cumsum(length[order])
        cut = np.minimum(np.searchsorted(cumulative_length, budget, side="left"), len(order) - 1)
        hit[s] = np.cumsum(counts[order])[cut] / total
        share[s] = cumulative_length[cut] / length.sum()
        taken += cut + 1
    pai = hit / share
    tail = (1.0 - level) / 2 * 100
    return pd.DataFrame([
        {"method": RANDOM, "kind": "curve", "coverage": float(c), "length_share": float(share[:, i].mean()),
         "segments": round(float(taken[i]) / seeds), "hits": float(hit[:, i].mean() * total),
         "test_incidents": int(total), "hit_rate": float(hit[:, i].mean()),
         "hit_rate_low": float(np.percentile(hit[:, i], tail)),
         "hit_rate_high": float(np.percentile(hit[:, i], 100 - tail)), "pai": float(pai[:, i].mean()),
         "pai_low": float(np.percentile(pai[:, i], tail)), "pai_high": float(np.percentile(pai[:, i], 100 - tail))}
        for i, c in enumerate(coverages)
    ], columns=list(COLUMNS))

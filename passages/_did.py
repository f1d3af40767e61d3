"""Difference in differences on matched street segments: the statistics of :mod:`passages.assess`.

Matching of segments on their before-period features, the estimate (rates in incidents per
km per year) and its percentile bootstrap over segments, vectorised with NumPy so that a
hundred placebo dates take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from passages._errors import EmptyResultError
from passages.risk import MIN_RISK_LENGTH_M

#: Comparison segments matched to each passage (and each adjacent) segment.
MATCHES = 3

#: Bootstrap resamples behind each interval.
RESAMPLES = 1000

PASSAGES = "passages"
ADJACENT = "adjacent"
COMPARISON = "comparison"

_RNG_PASSAGES, _RNG_ADJACENT = 11, 12


def matching_features(before: np.ndarray, length_m: np.ndarray, risk: np.ndarray | None = None) -> np.ndarray:
    """Return the features segments are matched on, one row per segment.

    ``log1p`` of the before-period incidents per 100 m (length floored at
    :data:`passages.risk.MIN_RISK_LENGTH_M`, so that a 5 m stub with one incident is not
    the riskiest street), ``log`` of the length (metres) and, when given, ``log1p`` of
    the plan's risk per 100 m. The logs keep a few very busy segments from squeezing the
    rest together.
    """
    length_m = np.asarray(length_m, dtype=float)
    rate = np.asarray(before, dtype=float) / np.maximum(length_m, MIN_RISK_LENGTH_M) * 100.0
    columns = [np.log1p(rate), np.log(np.maximum(length_m, 1.0))]
    if risk is not None:
        columns.append(np.log1p(np.maximum(np.asarray(risk, dtype=float), 0.0)))
    return np.column_stack(columns)


def match_segments(features: np.ndarray, treated: np.ndarray, pool: np.ndarray, *, k: int = MATCHES) -> np.ndarray:
    """Return, for each treated segment, its ``k`` nearest pool segments on the features.

    Parameters
    ----------
    features
        ``(n_segments, n_features)`` (:func:`matching_features`).
    treated, pool
        Segment indices to match, and to match from (with replacement).
    k
        Matches per treated segment (fewer when the pool is smaller).

    Returns
    -------
    numpy.ndarray
        ``(len(treated), k)`` segment indices of the pool, nearest first. Each feature is
        divided by its standard deviation over treated and pool together, so that no unit
        dominates; a feature equal everywhere is left out.

    Raises
    ------
    EmptyResultError
        The pool is empty.
    """
    treated = np.asarray(treated, dtype=np.int64)
    pool = np.asarray(pool, dtype=np.int64)
    if len(pool) == 0:
        raise EmptyResultError("no comparison segment is left: every street of the area touches a passage")
    k = max(1, min(int(k), len(pool)))
    both = features[np.concatenate([treated, pool])]
    scale = both.std(axis=0)
    keep = scale > 0
    if not keep.any():
        return np.asarray(pool[np.zeros((len(treated), k), dtype=np.int64)])
    scaled = features[:, keep] / scale[keep]
    _, nearest = cKDTree(scaled[pool]).query(scaled[treated], k=k)
    return np.asarray(pool[np.asarray(nearest, dtype=np.int64).reshape(len(treated), k)])


def balance(features: np.ndarray, treated: np.ndarray, matches: np.ndarray) -> list[float]:
    """Return the standardised mean difference of each feature, treated minus matched comparison.

    ``(mean treated - mean comparison) / pooled standard deviation``; below about 0.1 in
    absolute value the groups are usually taken as alike.
    """
    a, b = features[treated], features[matches.reshape(-1)]
    spread = np.sqrt((a.var(axis=0) + b.var(axis=0)) / 2.0)
    difference = a.mean(axis=0) - b.mean(axis=0)
    return [float(d / s) if s > 0 else 0.0 for d, s in zip(difference, spread, strict=True)]


# --------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class Estimate:
    """A difference-in-differences of one group of segments against its matched comparison.

    Rates are incidents per km per year.

    Attributes
    ----------
    group
        ``"passages"`` or ``"adjacent"``.
    segments, km
        Segments of the group and their length (km).
    before, after
        Incidents on them in each period.
    comparison_segments, comparison_km
        Distinct comparison segments matched, and their length (km).
    comparison_before, comparison_after
        Incidents on the distinct comparison segments in each period.
    rate_before, rate_after
        The group's rate in each period.
    comparison_rate_before, comparison_rate_after
        The comparison's rate in each period, each segment weighted by how often it was matched.
    did, low, high
        The difference in differences and its percentile bootstrap interval.
    relative, relative_low, relative_high
        The DiD as a share of the group's before rate (``-0.14`` = 14 % fewer), with its
        interval; ``None`` when the group had no incident before.
    expected_after
        Incidents the group would have had after with the comparison's change.
    balance
        Standardised mean differences of the matching features (:func:`balance`).
    level, resamples
        Interval level (0.95) and bootstrap resamples.
    """

    group: str
    segments: int
    km: float
    before: int
    after: int
    comparison_segments: int
    comparison_km: float
    comparison_before: int
    comparison_after: int
    rate_before: float
    rate_after: float
    comparison_rate_before: float
    comparison_rate_after: float
    did: float
    low: float
    high: float
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    expected_after: float
    balance: tuple[float, ...]
    level: float
    resamples: int

    @property
    def covers_zero(self) -> bool:
        """Whether the interval holds zero (no change told from chance)."""
        return self.low <= 0.0 <= self.high

    def as_dict(self) -> dict[str, Any]:
        """Return the estimate as JSON-ready values (rates in incidents per km per year)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["balance"] = list(self.balance)
        values["covers_zero"] = self.covers_zero
        for name in ("km", "comparison_km"):
            values[name] = round(values[name], 3)
        return {key: (round(value, 6) if isinstance(value, float) else value) for key, value in values.items()}


def did_estimate(
    group: str, units: np.ndarray, matches: np.ndarray, before: np.ndarray, after: np.ndarray, length_m: np.ndarray,
    *, years: float, resamples: int = RESAMPLES, seed: int = 0, level: float = 0.95,
    features: np.ndarray | None = None,
) -> Estimate:
    """Return the difference in differences of ``units`` against their matches, with its bootstrap interval.

    Parameters
    ----------
    group
        Name of the group (``"passages"``, ``"adjacent"``).
    units
        Segment indices of the group.
    matches
        ``(len(units), k)`` comparison segment indices (:func:`match_segments`).
    before, after
        Incidents per segment in each period.
    length_m
        Segment lengths (metres).
    years
        Length of each period in years.
    resamples, seed, level
        Bootstrap resamples of the units (each with its matches), the seed, the interval level.
    features
        The matching features, to report the balance.

    Notes
    -----
    With ``d_i`` the change (after - before) of unit ``i``, ``L_i`` its length (km), and
    ``c_i``, ``M_i`` the mean change and mean length of its matches, the estimate is
    ``(sum d / sum L - sum c / sum M) / years``. The bootstrap draws the units with
    replacement (one multinomial weight vector per resample, all at once) and takes the
    2.5 and 97.5 percentiles.
    """
    units = np.asarray(units, dtype=np.int64)
    km = np.asarray(length_m, dtype=float) / 1000.0
    unit_values = np.column_stack([
        before[units], after[units], km[units],
        before[matches].mean(axis=1), after[matches].mean(axis=1), km[matches].mean(axis=1),
    ]) if len(units) else np.zeros((0, 6))
    totals = unit_values.sum(axis=0)
    rates = _rates(totals[None, :], years)[0]
    rng = np.random.default_rng([seed, _RNG_PASSAGES if group == PASSAGES else _RNG_ADJACENT])
    draws = _rates(_resample_sums(unit_values, resamples, rng), years) if len(units) else np.zeros((resamples, 6))
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws[:, 4], [tail, 100.0 - tail]) if resamples else (np.nan, np.nan)
    relative = rates[5] if np.isfinite(rates[5]) else None
    rel_draws = draws[:, 5][np.isfinite(draws[:, 5])]
    rel_low, rel_high = (np.percentile(rel_draws, [tail, 100.0 - tail]) if relative is not None and len(rel_draws)
                         else (None, None))
    distinct = np.unique(matches) if matches.size else np.zeros(0, dtype=np.int64)
    matched_change = float(totals[4] - totals[3]) / totals[5] * totals[2] if totals[5] > 0 else 0.0
    return Estimate(
        group=group, segments=len(units), km=float(totals[2]), before=int(totals[0]), after=int(totals[1]),
        comparison_segments=len(distinct), comparison_km=float(km[distinct].sum()),
        comparison_before=int(before[distinct].sum()), comparison_after=int(after[distinct].sum()),
        rate_before=float(rates[0]), rate_after=float(rates[1]),
        comparison_rate_before=float(rates[2]), comparison_rate_after=float(rates[3]),
        did=float(rates[4]), low=float(low), high=float(high),
        relative=None if relative is None else float(relative),
        relative_low=None if rel_low is None else float(rel_low),
        relative_high=None if rel_high is None else float(rel_high),
        expected_after=float(totals[0] + matched_change),
        balance=tuple(balance(features, units, matches)) if features is not None and len(units) else (),
        level=level, resamples=int(resamples),
    )


def _resample_sums(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Column sums of ``values`` over ``resamples`` draws of its rows with replacement, all at once.

    Each draw's row counts come from one ``bincount`` over all draws (faster than a
    multinomial per draw); returns ``(resamples, n_columns)``.
    """
    rows = len(values)
    picks = rng.integers(0, rows, size=(resamples, rows))
    picks += np.arange(resamples)[:, None] * rows
    times = np.bincount(picks.reshape(-1), minlength=resamples * rows).reshape(resamples, rows)
    return times.astype(float) @ values


def _rates(sums: np.ndarray, years: float) -> np.ndarray:
    """Rates of summed unit values (columns of :func:`did_estimate`'s table), per km per year.

    Returns columns: group before, group after, comparison before, comparison after, DiD,
    DiD relative to the group's before rate (NaN where that rate is 0).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        group_km = np.where(sums[:, 2] > 0, sums[:, 2], np.nan) * years
        comparison_km = np.where(sums[:, 5] > 0, sums[:, 5], np.nan) * years
        out = np.column_stack([
            sums[:, 0] / group_km, sums[:, 1] / group_km, sums[:, 3] / comparison_km, sums[:, 4] / comparison_km,
        ])
        did = (out[:, 1] - out[:, 0]) - (out[:, 3] - out[:, 2])
        relative = np.where(out[:, 0] > 0, did / out[:, 0], np.nan)
    return np.column_stack([np.nan_to_num(out, nan=0.0), np.nan_to_num(did, nan=0.0), relative])

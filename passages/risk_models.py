"""The family of risk models, and choosing one by rolling-origin cross-validation.

Every model turns weighted incident points into a mass per street segment that sums to the
weight of the snapped incidents (:func:`passages.risk.position_mass`); the segments are
ranked by mass per 100 m. A model is four choices (:class:`RiskModel`):

* ``own_share``: the share of each incident's weight kept on its own segment. ``1`` is
  **recency-weighted counts on the segment itself**; ``0`` a pure **network kernel**;
  in between their **weighted blend**;
* ``bandwidth_m``: the bandwidth of the network kernel, started at the incident's own
  position (:data:`BANDWIDTHS_M`: 30, 100 and 300 m);
* ``half_life_days``: recency, counted back from the instant the model is fitted at
  (:data:`HALF_LIVES_DAYS`; ``inf`` = every incident counts the same);
* ``severity``: whether violent incidents weigh more than property ones
  (:data:`passages.settings.severity`) or every incident counts once.

:func:`select_model` chooses among :data:`FAMILY` on the incidents *before* an instant only
(the training period of a backtest): for each of ``folds`` origins a month apart going back
from that instant, each model is fitted on the incidents before the origin and scored on
the month after it. Its score is the mean, over folds and the coverage levels
:data:`CV_COVERAGES` (1, 2, 5, 10, 20 % of street length), of its hit rate divided by the
best hit rate of any model at that fold and level (so that 1 % and 20 % count alike). The
best score wins; on a tie the simpler model (earlier in :data:`FAMILY`) wins. Test
incidents of the backtest are never read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from passages import settings
from passages._errors import InputError
from passages.hit_rates import rank_segments, snap_counts
from passages.risk import MIN_RISK_LENGTH_M, snap_positions, spread_positions
from passages.streetindex import StreetIndex

#: Kernel bandwidths of the family (metres).
BANDWIDTHS_M: tuple[float, ...] = (30.0, 100.0, 300.0)

#: Shares of weight kept on the incident's own segment.
OWN_SHARES: tuple[float, ...] = (1.0, 0.9, 0.75, 0.5, 0.25, 0.0)

#: Recency half-lives of the family (days; ``inf`` = no recency).
HALF_LIVES_DAYS: tuple[float, ...] = (90.0, 365.0, math.inf)

#: Coverage levels at which the cross-validation scores a model (shares of street length).
CV_COVERAGES: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10, 0.20)


@dataclass(frozen=True)
class RiskModel:
    """One member of the family of risk models.

    Attributes
    ----------
    own_share
        Share of each incident's weight kept on its own segment (0-1).
    bandwidth_m
        Network kernel bandwidth for the rest (metres, > 0; unused when ``own_share`` is 1).
    half_life_days
        Recency half-life (days, > 0; ``inf`` for none).
    severity
        Whether incident weights keep their severity (``True``) or count once each.
    """

    own_share: float
    bandwidth_m: float
    half_life_days: float
    severity: bool

    @property
    def name(self) -> str:
        """Return the model in words, such as ``"75 % own segment + 100 m kernel, half-life 365 d"``."""
        if self.own_share >= 1:
            shape = "own segment counts"
        elif self.own_share <= 0:
            shape = f"{self.bandwidth_m:g} m network kernel"
        else:
            shape = f"{self.own_share:.0%} own segment + {self.bandwidth_m:g} m kernel"
        recency = "no recency" if math.isinf(self.half_life_days) else f"half-life {self.half_life_days:g} d"
        return f"{shape}, {recency}, {'severity-weighted' if self.severity else 'each incident once'}"

    def as_dict(self) -> dict[str, Any]:
        """Return the model as JSON-ready values (``half_life_days`` ``None`` for no recency)."""
        return {"own_share": self.own_share, "bandwidth_m": self.bandwidth_m,
                "half_life_days": None if math.isinf(self.half_life_days) else self.half_life_days,
                "severity": self.severity, "name": self.name}


def _family() -> tuple[RiskModel, ...]:
    models = []
    for severity in (True, False):
        for half_life in HALF_LIVES_DAYS:
            for own in OWN_SHARES:
                for bandwidth in (BANDWIDTHS_M[:1] if own >= 1 else BANDWIDTHS_M):
                    models.append(RiskModel(own, bandwidth, half_life, severity))
    return tuple(models)


#: Every model the cross-validation chooses among, simplest first.
FAMILY: tuple[RiskModel, ...] = _family()


def default_model() -> RiskModel:
    """Return the plan's default model from :mod:`passages.settings`."""
    return RiskModel(settings.own_share, settings.bandwidth_m, settings.half_life_days, settings.risk_severity)


def model_weights(points: gpd.GeoDataFrame, at: pd.Timestamp, *, half_life_days: float,
                  severity: bool) -> np.ndarray:
    """Return each point's weight under a model, fitted at instant ``at``.

    ``weight`` (base x severity x window share, as loaded without recency), divided by the
    category's severity when ``severity`` is off, times ``0.5 ** (age_days / half_life_days)``.
    """
    weight = points["weight"].to_numpy(dtype=float)
    if not severity:
        table = {"unknown": 1.0, **settings.severity}
        weight = weight / points["category"].map(table).fillna(1.0).to_numpy(dtype=float)
    if math.isinf(half_life_days):
        return weight
    age_days = ((at - pd.DatetimeIndex(points["occurred"])) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    return weight * np.power(0.5, age_days / half_life_days)


def model_scores(index: StreetIndex, points: gpd.GeoDataFrame, at: pd.Timestamp,
                 models: Sequence[RiskModel], *, snap_m: float) -> dict[RiskModel, np.ndarray]:
    """Return each model's risk per 100 m of every segment, fitted on ``points`` at instant ``at``.

    Models sharing recency and severity share one routing of the kernel distances (all
    their bandwidths at once).
    """
    xy = shapely.get_coordinates(points.geometry.to_numpy()) if len(points) else np.empty((0, 2))
    segment, offset = snap_positions(index, xy, snap_m=snap_m)
    snapped = segment >= 0
    seg, off = segment[snapped], offset[snapped]
    floor = np.maximum(index.segment_length, MIN_RISK_LENGTH_M) / 100.0
    out: dict[RiskModel, np.ndarray] = {}
    groups: dict[tuple[float, bool], list[RiskModel]] = {}
    for model in models:
        groups.setdefault((model.half_life_days, model.severity), []).append(model)
    for (half_life, severity), members in groups.items():
        weight = model_weights(points, at, half_life_days=half_life, severity=severity)[snapped]
        own = np.bincount(seg, weights=weight, minlength=index.n_segments)
        bandwidths = sorted({m.bandwidth_m for m in members if m.own_share < 1})
        kernels = dict(zip(bandwidths, spread_positions(index, seg, off, weight, bandwidths_m=bandwidths),
                           strict=True)) if bandwidths and len(seg) else {}
        for m in members:
            mass = m.own_share * own
            if m.own_share < 1:
                mass = mass + (1.0 - m.own_share) * kernels.get(m.bandwidth_m, np.zeros(index.n_segments))
            out[m] = mass / floor
    return out


def hits_at(length: np.ndarray, ranking: np.ndarray, counts: np.ndarray, coverages: Sequence[float]) -> np.ndarray:
    """Return the share of ``counts`` on the best-ranked segments at each coverage level (no interval)."""
    cumulative = np.cumsum(length[ranking])
    need = np.searchsorted(cumulative, np.asarray(coverages) * length.sum() - 1e-9, side="left")
    found = np.cumsum(counts[ranking])[np.minimum(need, len(ranking) - 1)]
    return np.asarray(found / max(counts.sum(), 1e-12))


@dataclass
class Selection:
    """The outcome of :func:`select_model`.

    Attributes
    ----------
    model
        The chosen model (the fallback when no fold could be scored).
    folds
        One row per fold scored: ``origin``, ``fit_incidents``, ``test_incidents``.
    scores
        One row per model: ``model`` (its name), ``score`` (0-1, 1 = best at every fold and
        level) and the mean hit rate at each level of :data:`CV_COVERAGES`.
    note
        What the reader should know (why the fallback was used, for instance).
    """

    model: RiskModel
    folds: pd.DataFrame
    scores: pd.DataFrame
    note: str = ""
    chosen_by_cv: bool = field(default=True)


def cv_folds(points: gpd.GeoDataFrame, at: pd.Timestamp, *, folds: int,
             min_fit: int, min_test: int) -> list[tuple[pd.Timestamp, gpd.GeoDataFrame, gpd.GeoDataFrame]]:
    """Return up to ``folds`` (origin, fit points, test points), origins a month apart before ``at``.

    The last origin is one month before ``at``; each fold tests on the month after its origin
    (never at or after ``at``) and fits on everything before the origin. Folds with fewer
    than ``min_fit`` fitting or ``min_test`` test incidents are skipped.
    """
    occurred = pd.DatetimeIndex(points["occurred"])
    out = []
    for k in range(1, folds + 1):
        origin = at - pd.DateOffset(months=k)
        end = origin + pd.DateOffset(months=1)
        fit = np.asarray(occurred < origin)
        test = np.asarray((occurred >= origin) & (occurred < end) & (occurred < at))
        if fit.sum() >= min_fit and test.sum() >= min_test:
            out.append((pd.Timestamp(origin), points[fit].reset_index(drop=True), points[test].reset_index(drop=True)))
    return out[::-1]


def select_model(
    index: StreetIndex, points: gpd.GeoDataFrame, at: pd.Timestamp, *, family: Sequence[RiskModel] | None = None,
    fallback: RiskModel | None = None, folds: int | None = None, snap_m: float | None = None,
    seed: int | None = None,
) -> Selection:
    """Choose a risk model by rolling-origin cross-validation on the incidents before ``at``.

    Parameters
    ----------
    index
        Street index (metres).
    points
        Dated incident points (columns of :data:`passages.incidents.POINT_COLUMNS`, weights
        without recency); only those before ``at`` are read.
    at
        The instant the chosen model will be fitted at (a backtest's split).
    family
        Models to choose among; default :data:`FAMILY`.
    fallback
        Model returned when no fold has enough incidents; default :func:`default_model`.
    folds
        Origins tried, a month apart; default :data:`passages.settings.cv_folds`.
    snap_m
        Snap distance of fitting and test incidents (metres).
    seed
        Seed of the tie-breaking order of segments.

    Raises
    ------
    InputError
        ``folds`` is below 1, or the family is empty.
    """
    family = tuple(FAMILY if family is None else family)
    fallback = default_model() if fallback is None else fallback
    folds = settings.cv_folds if folds is None else int(folds)
    snap_m = settings.snap_m if snap_m is None else snap_m
    if folds < 1 or not family:
        raise InputError(f"cross-validation needs at least one fold and one model, got {folds} folds",
                         field="cv_folds", fix="Give cv_folds of 1 or more, such as 4.")
    before = points[np.asarray(pd.DatetimeIndex(points["occurred"]) < at)]
    chosen_folds = cv_folds(before, at, folds=folds, min_fit=settings.cv_min_fit, min_test=settings.cv_min_test)
    if not chosen_folds:
        note = (f"too few training incidents for cross-validation (each of {folds} monthly folds needs "
                f"{settings.cv_min_fit} to fit and {settings.cv_min_test} to test): the default model is used")
        return Selection(fallback, pd.DataFrame(columns=["origin", "fit_incidents", "test_incidents"]),
                         pd.DataFrame(columns=["model", "score"]), note, chosen_by_cv=False)
    length = index.segment_length
    hit = np.zeros((len(family), len(chosen_folds), len(CV_COVERAGES)))
    rows = []
    for f, (origin, fit, test) in enumerate(chosen_folds):
        counts, _ = snap_counts(index, test, snap_m=snap_m)
        scores = model_scores(index, fit, origin, family, snap_m=snap_m)
        for m, model in enumerate(family):
            hit[m, f] = hits_at(length, rank_segments(scores[model], seed=seed), counts, CV_COVERAGES)
        rows.append({"origin": f"{origin:%Y-%m-%d}", "fit_incidents": len(fit), "test_incidents": int(counts.sum())})
    best = hit.max(axis=0)
    relative = np.divide(hit, best, out=np.ones_like(hit), where=best > 0)
    score = relative.mean(axis=(1, 2))
    winner = int(np.flatnonzero(score >= score.max() - 1e-12)[0])
    table = pd.DataFrame({"model": [m.name for m in family], "score": score,
                          **{f"hit rate {c:.0%}": hit[:, :, i].mean(axis=1) for i, c in enumerate(CV_COVERAGES)}})
    table = table.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    return Selection(family[winner], pd.DataFrame(rows), table)

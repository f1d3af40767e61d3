"""Rolling backtests of the risk ranking, flags on thin or gappy data, and the closing sentence.

A single split answers for one period; a **rolling backtest** asks again at several origins
a month apart (:func:`rolling_origins`): at each, the risk model is chosen by
cross-validation on the incidents before the origin (:func:`passages.risk_models.select_model`),
fitted there, and measured with the baselines on the month after the origin only. The
**pooled** rows add the splits up: every split's test incidents with the segments its own
fit chose, one bootstrap over all of them (the random baseline: the splits' means weighted
by their test incidents, and likewise their spread across seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from passages import settings
from passages.hit_rates import (
    COLUMNS,
    RANDOM,
    _choose,
    _rows,
    count_scores,
    grid_kde_scores,
    random_baseline,
    rank_segments,
    snap_counts,
)
from passages.risk_models import RiskModel, model_scores, model_weights, select_model
from passages.streetindex import StreetIndex

PLAN_RISK = "plan risk"
GRID_KDE = "grid KDE"
COUNTS = "last period counts"

#: The baselines every plan ranking is held against, in the order they are reported.
BASELINES = (COUNTS, GRID_KDE, RANDOM)

#: Coverage levels of the rolling table and of the closing sentence (shares of street length).
REPORT_COVERAGES = (0.01, 0.02, 0.05, 0.10, 0.20)


def rolling_origins(points: gpd.GeoDataFrame, at: pd.Timestamp, rolls: int) -> list[pd.Timestamp]:
    """Return up to ``rolls`` origins a month apart from ``at`` whose next month holds incidents.

    Origins after the last incident are dropped; if fewer than ``rolls`` remain, earlier
    origins (a month apart going back from ``at``) are added, as long as incidents lie
    before them.
    """
    occurred = pd.DatetimeIndex(points["occurred"])
    first, last = occurred.min(), occurred.max()

    def usable(origin: pd.Timestamp) -> bool:
        month = (occurred >= origin) & (occurred < origin + pd.DateOffset(months=1))
        return bool(month.any()) and bool((occurred < origin).any()) and origin > first

    origins = [pd.Timestamp(at + pd.DateOffset(months=k)) for k in range(rolls)]
    origins = [o for o in origins if o <= last and usable(o)]
    back = 1
    while len(origins) < rolls and at - pd.DateOffset(months=back) > first:
        earlier = pd.Timestamp(at - pd.DateOffset(months=back))
        if usable(earlier):
            origins.insert(0, earlier)
        back += 1
    return origins


def rolling_backtest(
    index: StreetIndex, points: gpd.GeoDataFrame, origins: Sequence[pd.Timestamp], *, snap_m: float,
    fallback: RiskModel, coverages: Sequence[float] = REPORT_COVERAGES, draws: int, seeds: int, cell_m: float,
    seed: int, select: bool = True,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Return the rolling table (per split and pooled) and one line of facts per split.

    The table has the columns of :data:`passages.hit_rates.COLUMNS` plus ``split`` (the
    origin, ``"pooled"`` for the sum of the splits); kind ``"curve"``. Each split's facts:
    ``split``, ``train_incidents``, ``test_incidents`` (on a street) and ``model`` (name).
    """
    length = index.segment_length
    frames, facts = [], []
    stacked: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {PLAN_RISK: [], COUNTS: [], GRID_KDE: []}
    occurred = pd.DatetimeIndex(points["occurred"])
    for origin in origins:
        train = points[np.asarray(occurred < origin)].reset_index(drop=True)
        test = points[np.asarray((occurred >= origin) & (occurred < origin + pd.DateOffset(months=1)))]
        counts, _ = snap_counts(index, test, snap_m=snap_m)
        if counts.sum() == 0 or len(train) == 0:
            continue
        model = select_model(index, train, origin, fallback=fallback, snap_m=snap_m, seed=seed).model \
            if select else fallback
        weighted = train.copy()
        weighted["weight"] = model_weights(train, origin, half_life_days=model.half_life_days,
                                           severity=model.severity)
        scores = {
            PLAN_RISK: model_scores(index, train, origin, [model], snap_m=snap_m)[model],
            COUNTS: count_scores(index, train, snap_m=snap_m),
            GRID_KDE: grid_kde_scores(index, weighted, cell_m=cell_m, bandwidth_m=settings.grid_bandwidth_m),
        }
        rows: list[dict[str, Any]] = []
        for method, score in scores.items():
            ranking = rank_segments(score, seed=seed)
            masks = _masks(index, ranking, coverages)
            stacked[method].append((counts, masks))
            rows += _rows(method, "curve", masks, list(coverages), counts, length, draws=draws, seed=seed, level=0.95)
        frame = pd.concat([pd.DataFrame(rows, columns=list(COLUMNS)),
                           random_baseline(index, test, coverages=coverages, snap_m=snap_m, seeds=seeds, seed=seed)],
                          ignore_index=True)
        frame.insert(0, "split", f"{origin:%Y-%m-%d}")
        frames.append(frame)
        facts.append({"split": f"{origin:%Y-%m-%d}", "train_incidents": len(train),
                      "test_incidents": int(counts.sum()), "model": model.name})
    if not frames:
        return pd.DataFrame(columns=["split", *COLUMNS]), facts
    pooled_rows: list[dict[str, Any]] = []
    for method, parts in stacked.items():
        counts = np.concatenate([c for c, _ in parts])
        masks = np.concatenate([m for _, m in parts])
        pooled_rows += _rows(method, "curve", masks, list(coverages), counts, np.tile(length, len(parts)),
                             draws=draws, seed=seed, level=0.95)
    per_split = pd.concat(frames, ignore_index=True)
    randoms = per_split[per_split["method"] == RANDOM]
    for level, group in randoms.groupby("coverage", sort=True):
        w = group["test_incidents"].to_numpy(dtype=float)
        mean = {c: float(np.average(group[c], weights=w)) for c in
                ("length_share", "hit_rate", "hit_rate_low", "hit_rate_high", "pai", "pai_low", "pai_high")}
        pooled_rows.append({"method": RANDOM, "kind": "curve", "coverage": float(level),  # type: ignore[arg-type]
                            "segments": int(group["segments"].mean()), "hits": float(group["hits"].sum()),
                            "test_incidents": int(w.sum()), **mean})
    pooled = pd.DataFrame(pooled_rows, columns=list(COLUMNS))
    pooled.insert(0, "split", "pooled")
    return pd.concat([per_split, pooled], ignore_index=True), facts


def _masks(index: StreetIndex, ranking: np.ndarray, coverages: Sequence[float]) -> np.ndarray:
    """Return ``(n_segments, len(coverages))`` masks of the segments a ranking chooses at each level."""
    taken = _choose(index.segment_length, ranking, coverages)
    position = np.empty(index.n_segments, dtype=np.int64)
    position[ranking] = np.arange(len(ranking))
    return np.asarray(position[:, None] < taken[None, :])


# --------------------------------------------------------------------------- words for the reader


def data_flags(points: gpd.GeoDataFrame, at: pd.Timestamp, *, test_on_street: int) -> list[str]:
    """Return warnings on thin or gappy data: empty months, a long test period, few test incidents."""
    flags = []
    occurred = pd.DatetimeIndex(points["occurred"])
    months = occurred.to_period("M")
    span = pd.period_range(months.min(), months.max(), freq="M")
    empty = [p for p in span if p not in set(months)]
    if empty:
        runs: list[list[pd.Period]] = []
        for p in empty:
            if runs and (p - runs[-1][-1]).n == 1:
                runs[-1].append(p)
            else:
                runs.append([p])
        shown = ", ".join(f"{r[0]}" if len(r) == 1 else f"{r[0]} to {r[-1]}" for r in runs)
        flags.append(f"{len(empty)} months with no incident at all ({shown}): the files have gaps, so the "
                     "test period is not one continuous stretch of time")
    train_days = (at - occurred.min()) / pd.Timedelta(days=1)
    test_days = (occurred.max() - at) / pd.Timedelta(days=1)
    if test_days > 2 * max(train_days, 1.0):
        flags.append(f"the test period ({test_days / 30.44:.0f} months) is much longer than the training period "
                     f"({train_days / 30.44:.0f} months): the fit is old by the end of it; the rolling splits "
                     "below test one month at a time")
    if test_on_street < settings.backtest_min_test:
        flags.append(f"only {test_on_street} test incidents lie on a street (fewer than "
                     f"{settings.backtest_min_test}): the intervals are wide; read the hit rates as rough")
    return flags


def verdict(table: pd.DataFrame, *, level: float = 0.05, period: str = "next period's") -> str:
    """Return one plain sentence comparing the plan's risk with the best baseline at ``level``.

    ``table`` holds curve rows of :data:`PLAN_RISK` and the :data:`BASELINES`; the best
    baseline is the one with the highest hit rate at ``level``.
    """
    curves = table[(table["kind"] == "curve") & np.isclose(table["coverage"], level)]
    plan = curves[curves["method"] == PLAN_RISK]
    base = curves[curves["method"].isin(BASELINES)]
    if plan.empty or base.empty:
        return ""
    p = plan.iloc[0]
    best = base.sort_values("hit_rate", ascending=False, kind="stable").iloc[0]
    label = {COUNTS: "last period's counts", GRID_KDE: "the grid hot-spot map (KDE)",
             RANDOM: "random streets"}[str(best["method"])]
    sentence = (f"At {level:.0%} of streets the plan's risk finds {p.hit_rate:.0%} of {period} incidents "
                f"[{p.hit_rate_low * 100:.0f}-{p.hit_rate_high * 100:.0f}]; the best baseline, {label}, finds "
                f"{best.hit_rate:.0%} [{best.hit_rate_low * 100:.0f}-{best.hit_rate_high * 100:.0f}].")
    if p.hit_rate < best.hit_rate_low:
        sentence += " The plan's risk is below the baseline's interval here."
    elif p.hit_rate < best.hit_rate:
        sentence += " The difference is within the baseline's interval."
    return sentence

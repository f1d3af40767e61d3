"""Backtest splits: dated incidents on either side of an instant, and their training weights.

Used by :mod:`passages.evaluate` (which re-exports every name here).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from passages._errors import InputError
from passages.areas import Area
from passages.incidents import IncidentReport, load_incidents

# --------------------------------------------------------------------------- split


@dataclass(frozen=True)
class Split:
    """Incidents on either side of the split instant.

    Attributes
    ----------
    at
        The split instant (local time, midnight of the split date): training incidents
        occurred before it, test incidents at or after it.
    train, test
        The incident points of each side (columns of :data:`passages.incidents.POINT_COLUMNS`).
    """

    at: pd.Timestamp
    train: gpd.GeoDataFrame
    test: gpd.GeoDataFrame

    def describe(self) -> str:
        """Return the split as one line: the date and both sides' counts and dates."""
        def span(frame: gpd.GeoDataFrame) -> str:
            return f"{frame['occurred'].min():%Y-%m-%d} to {frame['occurred'].max():%Y-%m-%d}"
        return (f"split at {self.at:%Y-%m-%d}: {len(self.train):,} training incidents ({span(self.train)}), "
                f"{len(self.test):,} test incidents ({span(self.test)})")


def parse_split(text: str) -> datetime.date | float:
    """Return ``--split`` as a date (``YYYY-MM-DD``) or a fraction of the period (0-1, exclusive)."""
    value = str(text).strip()
    fix = "Give a date such as 2020-07-01, or a fraction of the period such as 0.5."
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise InputError(f"{value!r} is not a date", field="--split", fix=fix) from None
    try:
        fraction = float(value)
    except ValueError:
        raise InputError(f"{value!r} is neither a date nor a fraction", field="--split", fix=fix) from None
    if not 0 < fraction < 1:
        raise InputError(f"fraction {value} is not between 0 and 1 (exclusive)", field="--split", fix=fix)
    return fraction


def split_incidents(points: gpd.GeoDataFrame, split: str | datetime.date | float) -> Split:
    """Split dated incidents at a date or at a fraction of their period.

    Parameters
    ----------
    points
        Incident points with an ``occurred`` column (no ``NaT``).
    split
        A date (``datetime.date`` or ``"YYYY-MM-DD"``): the split is at its midnight. Or a
        fraction ``f`` in (0, 1): the split is at midnight of the day ``f`` of the way from
        the first incident to the last.

    Raises
    ------
    InputError
        The split leaves no incident on one side (a date outside the data), or the
        fraction is not in (0, 1).
    """
    when = parse_split(split) if isinstance(split, str) else split
    occurred = pd.DatetimeIndex(points["occurred"])
    if len(points) == 0 or occurred.isna().any():
        raise InputError("a backtest needs dated incidents", field="occurred",
                         fix="Give dated incident files, such as the LAPD open-data CSV.")
    first, last = occurred.min(), occurred.max()
    if isinstance(when, int | float):
        if not 0 < when < 1:
            raise InputError(f"fraction {when} is not between 0 and 1 (exclusive)", field="--split",
                             fix="Give a fraction of the period such as 0.5.")
        at = (first + (last - first) * float(when)).normalize()
    else:
        at = pd.Timestamp(when).normalize()
    before = np.asarray(occurred < at)
    if before.all() or not before.any():
        raise InputError(
            f"split at {at:%Y-%m-%d} leaves no {'test' if before.all() else 'training'} incident: "
            f"the incidents run from {first:%Y-%m-%d} to {last:%Y-%m-%d}", field="--split",
            fix=f"Give a date after {first:%Y-%m-%d} and not after {last:%Y-%m-%d}, or a fraction such as 0.5.")
    return Split(at, points[before].reset_index(drop=True), points[~before].reset_index(drop=True))


# --------------------------------------------------------------------------- the plan on training data


def load_dated_incidents(
    paths: Sequence[str | Path], *, area: Area, windows: Sequence[str], weekdays: Sequence[int],
    categories: Sequence[str] | None = None,
) -> tuple[gpd.GeoDataFrame, IncidentReport]:
    """Return dated incident points of an area, unweighted by recency, and the loader's report.

    Weights are base x severity x window share (:func:`passages.incidents.load_incidents`
    with recency off); recency is applied later, counted back from the split.

    Raises
    ------
    InputError
        A file has no dates (such as the hourly sample): it cannot be split in time.
    """
    files = [Path(p) for p in paths]
    loaded = load_incidents(files, area=area, windows=windows, weekdays=weekdays,
                            categories=categories or None, half_life_days=math.inf)
    for path, source in zip(files, loaded.report.sources, strict=True):
        if source.endswith(("(no dates)", "(no readable dates)")):
            raise InputError("the incidents have no dates, so they cannot be split in time", path=path,
                             field="--incidents", fix="Give dated incidents, such as the LAPD open-data CSV "
                             "(DATE OCC), or a table with a date column.")
    return loaded.points, loaded.report


def training_weights(train: gpd.GeoDataFrame, at: pd.Timestamp, *, half_life_days: float,
                     lookback_days: float | None = None) -> gpd.GeoDataFrame:
    """Return the training incidents with recency weights counted back from the split instant.

    ``weight x 0.5 ** (age_days / half_life_days)``; incidents older than ``lookback_days``
    (when given) are left out.
    """
    age_days = ((at - pd.DatetimeIndex(train["occurred"])) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    weighted = train.copy()
    weighted["weight"] = weighted["weight"].to_numpy(dtype=float) * np.power(0.5, age_days / half_life_days)
    if lookback_days is not None:
        weighted = weighted[age_days <= lookback_days].reset_index(drop=True)
    return weighted

"""Assessment: did incidents on the Safe Passages change after they started?

The "assess" step of the SARA cycle. :func:`assess` compares the incidents on the
published Safe Passage segments in the days before and after a start date against
comparison segments of the same area, and checks the streets next to the passages for
displacement. It is a **difference-in-differences** (DiD) on matched street segments:

1. **The published plan.** The passages are those :func:`passages.plan.make_plan` would
   have published on the start date: the plan of the area made from the incidents dated
   before it only (recency counted back from it), so that the passages never depend on
   what happened after (:func:`published_plan`).
2. **Two equal periods.** ``window_days`` before the start date and as many from it
   (default: the longest the incident files allow on both sides, up to
   :data:`MAX_WINDOW_DAYS`; :func:`choose_periods`). Incidents are counted whole day and
   every day by default, each once (no severity or recency weight), on the segment they
   snap to within ``snap_m`` (:func:`snap_incidents`).
3. **Groups of segments**, all with their midpoint inside the study area (incidents are
   read there only): the *passages* (segments carrying walking demand); the *adjacent*
   segments, which touch a passage at one of its nodes but are not on it (where
   displaced incidents would show first); the *pool*, every other segment: it touches no
   passage.
4. **Matching.** Each passage segment is matched to its :data:`MATCHES` nearest pool
   segments (with replacement) on the before-period incidents per 100 m, the plan's
   before-period risk per 100 m and the length (:func:`passages._did.match_segments`); the adjacent
   segments get their own matches from the same pool.
5. **The estimate**, in **incidents per km per year**: the change of the passages' rate
   from before to after minus the change of their comparison's rate (a comparison segment
   counts as often as it was matched). Negative: fewer incidents on the passages than the
   comparison streets predict. The same on the adjacent segments measures displacement
   (positive: incidents moved next door) or a diffusion of benefits (negative).
6. **The interval**: a percentile bootstrap (``resamples`` draws, seeded) that resamples
   the passage (or adjacent) segments with replacement, each with its matched comparison
   segments, so that segments' own ups and downs, not only the incident counts, set its
   width (:func:`did_estimate`). The matches are kept fixed in the resamples, so the
   interval leaves out the uncertainty of the matching itself (Abadie and Imbens, 2008,
   *Econometrica* 76(6)): it may be a little narrow. On downtown's real incidents, 95 %
   intervals at 100 placebo dates (no program) hold zero in at least 90 of them
   (``tests/test_assess.py``).

What it can and cannot tell. The published evaluations of Chicago's Safe Passage program
are the anchors: McMillen, Sarmiento-Barbieri and Singh (2019, *Journal of Policy
Analysis and Management* 38(1)) found about 14 % less violent crime on the routes during
program hours, with little displacement; Gonzalez and Komisarow (2020, *Journal of Urban
Economics* 118) found lower crime near the routes too. Those studies had years of
citywide data and dozens of schools; one area's open-data extract gives a few hundred
incidents, so an interval here is wide, and even an interval that excludes zero shows an
**association** with the start date, not that the passages caused it (anything else that
changed on those streets at that date would show the same). :attr:`Assessment.verdict`
says so in one sentence.

The perceived-safety layer of the shared data (street-image ratings) is not read here.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from passages import settings
from passages._did import (
    ADJACENT,
    COMPARISON,
    MATCHES,
    PASSAGES,
    RESAMPLES,
    Estimate,
    balance,
    did_estimate,
    match_segments,
    matching_features,
)
from passages._errors import EmptyResultError, InputError
from passages._io import OutputSet, writing_to
from passages._names import csv_bytes, slug

if TYPE_CHECKING:
    import geopandas as gpd
    from shapely.geometry.base import BaseGeometry

    from passages.areas import Area
    from passages.plan import Plan
    from passages.scenarios import PlanParameters
    from passages.streetindex import StreetIndex

__all__ = [
    "ADJACENT", "COMPARISON", "MATCHES", "PASSAGES", "RESAMPLES", "Assessment", "Estimate", "Periods",
    "SnappedIncidents", "adjacent_segments", "assess", "assess_plan", "assess_segments", "assessment_files",
    "balance", "choose_periods", "date_spans", "did_estimate", "match_segments", "matching_features",
    "parse_since", "published_plan", "read_dated_incidents", "snap_incidents", "write_assessment",
]

#: Longest period counted on each side of the start date (days).
MAX_WINDOW_DAYS = 365

#: Shortest period on each side of the start date an assessment accepts (days).
MIN_WINDOW_DAYS = 28

#: Two incident files whose dates are at most this many days apart count as one period.
JOIN_GAP_DAYS = 7

#: Below this many incidents on the passages (before and after together) the verdict says
#: the data are too thin to tell anything.
MIN_INCIDENTS = 20

#: Days in a year, for rates per year.
DAYS_PER_YEAR = 365.25

#: Time windows and weekdays of the incidents counted by default: the whole day, every day.
ALL_DAY: tuple[str, ...] = ("00:00-24:00",)
EVERY_DAY: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)



# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Periods:
    """The two equal periods around the start date.

    Attributes
    ----------
    since
        The start date: the before period ends the day before it, the after period starts on it.
    window_days
        Days in each period.
    spans
        The dated spans of the incident files, ``(first day, last day)`` each, joined where
        they meet: what the periods had to fit in.
    """

    since: datetime.date
    window_days: int
    spans: tuple[tuple[datetime.date, datetime.date], ...] = ()

    @property
    def before_start(self) -> datetime.date:
        """First day of the before period."""
        return self.since - datetime.timedelta(days=self.window_days)

    @property
    def after_end(self) -> datetime.date:
        """Last day of the after period."""
        return self.since + datetime.timedelta(days=self.window_days - 1)

    @property
    def years(self) -> float:
        """Length of each period in years."""
        return self.window_days / DAYS_PER_YEAR

    def describe(self) -> str:
        """Return the periods in words: the days on each side of the start date, and their dates."""
        last_before = self.since - datetime.timedelta(days=1)
        return (f"{self.window_days} days before {self.since} ({self.before_start} to {last_before}) and "
                f"{self.window_days} from it ({self.since} to {self.after_end})")


def parse_since(text: str | datetime.date) -> datetime.date:
    """Return ``--since`` as a date; ``text`` is ``YYYY-MM-DD``.

    Raises
    ------
    InputError
        ``text`` is not an ISO date.
    """
    if isinstance(text, datetime.date):
        return text
    value = str(text).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise InputError(f"{value!r} is not a date", field="--since",
                     fix="Give the day the passages started as YYYY-MM-DD, such as 2020-07-01.")


def date_spans(points: gpd.GeoDataFrame) -> list[tuple[datetime.date, datetime.date]]:
    """Return the dated spans of the incidents: ``(first day, last day)`` of each file, joined where they meet.

    A file's span runs from its first to its last incident in the area (the files are
    extracts of consecutive days); spans at most :data:`JOIN_GAP_DAYS` apart are joined.
    """
    dated = points[points["occurred"].notna()]
    if dated.empty:
        return []
    by_file = dated.groupby("source", sort=False)["occurred"].agg(["min", "max"]).sort_values("min")
    spans: list[list[datetime.date]] = []
    for first, last in zip(by_file["min"], by_file["max"], strict=True):
        start, end = pd.Timestamp(first).date(), pd.Timestamp(last).date()
        if spans and (start - spans[-1][1]).days <= JOIN_GAP_DAYS:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [(start, end) for start, end in spans]


def choose_periods(spans: Sequence[tuple[datetime.date, datetime.date]], since: datetime.date, *,
                   window_days: int | None = None) -> Periods:
    """Return the before and after periods of ``since`` that fit the incidents' dated spans.

    Parameters
    ----------
    spans
        ``(first day, last day)`` of the dated incidents (:func:`date_spans`).
    since
        The start date.
    window_days
        Days on each side; default the most that fit in the span holding ``since``, at most
        :data:`MAX_WINDOW_DAYS`.

    Raises
    ------
    InputError
        ``since`` lies outside every span, too near its ends for :data:`MIN_WINDOW_DAYS`
        on each side, or ``window_days`` does not fit.
    """
    where = "; ".join(f"{a} to {b}" for a, b in spans) or "none"
    span = next(((a, b) for a, b in spans if a < since <= b), None)
    if span is None:
        raise InputError(f"{since} lies outside the incidents' dates (dated incidents: {where})", field="--since",
                         fix="Give a start date inside those dates, with at least "
                             f"{MIN_WINDOW_DAYS} days of incidents on each side.")
    room = min((since - span[0]).days, (span[1] - since).days + 1)
    if room < MIN_WINDOW_DAYS:
        raise InputError(f"{since} leaves only {room} days of incidents on one side (dated incidents: {where})",
                         field="--since", fix=f"Give a start date with at least {MIN_WINDOW_DAYS} days of "
                                              "incidents before and after it.")
    if window_days is None:
        return Periods(since, min(room, MAX_WINDOW_DAYS), tuple(spans))
    if not MIN_WINDOW_DAYS <= window_days <= room:
        raise InputError(f"a window of {window_days} days does not fit: the incidents allow "
                         f"{MIN_WINDOW_DAYS} to {room} days on each side of {since}", field="--window-days",
                         fix=f"Give a number of days from {MIN_WINDOW_DAYS} to {room}, or leave it out.")
    return Periods(since, int(window_days), tuple(spans))


# --------------------------------------------------------------------------- incidents on segments


@dataclass(frozen=True)
class SnappedIncidents:
    """Dated incidents snapped once to the segments of a street index.

    Attributes
    ----------
    segment
        Per incident, the index of its segment (-1: farther than ``snap_m`` from every street).
    day
        Per incident, the day it occurred (``datetime64[D]``, local time).
    n_segments
        Segments in the index.
    snap_m
        The snapping distance used (metres).
    """

    segment: np.ndarray
    day: np.ndarray
    n_segments: int
    snap_m: float

    def counts(self, start: datetime.date, end: datetime.date) -> np.ndarray:
        """Return the incidents on each segment from ``start`` to ``end`` (both days included)."""
        inside = (self.day >= np.datetime64(start, "D")) & (self.day <= np.datetime64(end, "D")) & (self.segment >= 0)
        return np.bincount(self.segment[inside], minlength=self.n_segments).astype(float)

    def too_far(self, start: datetime.date, end: datetime.date) -> int:
        """Return the incidents from ``start`` to ``end`` farther than ``snap_m`` from every street."""
        inside = (self.day >= np.datetime64(start, "D")) & (self.day <= np.datetime64(end, "D"))
        return int((inside & (self.segment < 0)).sum())


def snap_incidents(index: StreetIndex, points: gpd.GeoDataFrame, *, snap_m: float | None = None) -> SnappedIncidents:
    """Return dated incident points snapped to the nearest segment of ``index``.

    Parameters
    ----------
    index
        The street index (projected, metres).
    points
        Incident points in the index's CRS with an ``occurred`` column; undated rows are left out.
    snap_m
        Incidents farther than this from every street are counted as too far (metres);
        default :data:`passages.settings.snap_m`.
    """
    snap_m = settings.snap_m if snap_m is None else float(snap_m)
    dated = points[points["occurred"].notna()]
    xy = shapely.get_coordinates(dated.geometry.to_numpy()) if len(dated) else np.empty((0, 2))
    segment, _, _ = index.snap_points(xy, max_distance_m=snap_m)
    day = pd.DatetimeIndex(dated["occurred"]).to_numpy().astype("datetime64[D]")
    return SnappedIncidents(segment, day, index.n_segments, snap_m)


# --------------------------------------------------------------------------- groups and matching


def adjacent_segments(index: StreetIndex, passage: np.ndarray) -> np.ndarray:
    """Return a mask of the segments that touch a passage segment at a node but are not on a passage.

    Parameters
    ----------
    index
        The street index.
    passage
        One boolean per segment: on a Safe Passage.
    """
    passage = np.asarray(passage, dtype=bool)
    nodes = np.unique(np.concatenate([index.segment_u[passage], index.segment_v[passage]]))
    ring = np.zeros(index.n_segments, dtype=bool)
    if len(nodes):
        ring[index.node_segments(nodes)] = True
    return ring & ~passage


# --------------------------------------------------------------------------- the assessment


@dataclass(frozen=True)
class Assessment:
    """The assessment of one area's Safe Passages at one start date.

    Attributes
    ----------
    area, area_name
        The area's slug and name.
    periods
        The before and after periods.
    passages
        The passages against their matched comparison.
    adjacent
        The adjacent segments against theirs (displacement); ``None`` when none is left.
    incidents, too_far
        Incidents counted in the two periods on a street, and too far from every street.
    segments
        One row per segment of a group: ``group`` (passages, adjacent, comparison),
        ``segment``, ``name``, ``length_m``, ``before``, ``after``, ``times_matched``.
    options
        Window, resamples, seed, matches, snapping distance and which incidents were counted.
    notes, sources
        What the reader should know; the incident files with their dates.
    """

    area: str
    area_name: str
    periods: Periods
    passages: Estimate
    adjacent: Estimate | None
    incidents: int
    too_far: int
    segments: pd.DataFrame
    options: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        """Return what the data can and cannot support, in one sentence."""
        p = self.passages
        counted = p.before + p.after
        days = self.periods.window_days
        if counted < MIN_INCIDENTS:
            some = "no incident" if counted == 0 else f"only {counted} incident{'s' if counted != 1 else ''}"
            return (f"With {some} on the passages in the {days} days before and after "
                    f"{self.periods.since} ({self.incidents:,} in the whole area), the estimate ({_signed(p.did)} "
                    f"per km per year, {p.level:.0%} interval {_signed(p.low)} to {_signed(p.high)}) cannot tell "
                    "whether incidents on the passages changed, let alone why: it needs longer periods or a fuller "
                    "incident extract.")
        change = (f"incidents on the {p.km:.1f} km of passages went from {p.before} to {p.after} in the {days} days "
                  f"before and after {self.periods.since}, {_signed(p.did)} per km per year "
                  + (f"({_percent(p.relative)}) " if p.relative is not None else "")
                  + f"against matched comparison streets ({p.level:.0%} interval {_signed(p.low)} to "
                  f"{_signed(p.high)})")
        side = ""
        if self.adjacent is not None:
            a = self.adjacent
            side = f", and on the streets next to them {_signed(a.did)} ({_displacement_words(a)})"
        if p.covers_zero:
            return (f"The {change}{side}: the interval covers zero, so with {counted} incidents on the passages this "
                    "cannot be told from chance, and a difference, if any, would be an association with the start "
                    "date, not proof that the passages caused it.")
        return (f"The {change}{side}: the interval excludes zero, an association with the start date on "
                f"{counted} incidents in one area, not proof that the passages caused it (anything else that "
                "changed on those streets then would show the same).")

    def summary(self) -> dict[str, Any]:
        """Return the assessment as JSON-ready values (rates in incidents per km per year)."""
        return {
            "area": self.area,
            "since": self.periods.since.isoformat(),
            "window_days": self.periods.window_days,
            "before": [self.periods.before_start.isoformat(),
                       (self.periods.since - datetime.timedelta(days=1)).isoformat()],
            "after": [self.periods.since.isoformat(), self.periods.after_end.isoformat()],
            "dated_spans": [[a.isoformat(), b.isoformat()] for a, b in self.periods.spans],
            "rate_unit": "incidents per km per year",
            "incidents_on_a_street": self.incidents,
            "incidents_too_far_from_street": self.too_far,
            "passages": self.passages.as_dict(),
            "adjacent": self.adjacent.as_dict() if self.adjacent is not None else None,
            "options": dict(self.options),
            "notes": list(self.notes),
            "sources": list(self.sources),
            "verdict": self.verdict,
        }

    def table(self) -> pd.DataFrame:
        """Return the groups as a table: one row per group and its comparison, rates per km per year."""
        rows = []
        for estimate in (self.passages, self.adjacent):
            if estimate is None:
                continue
            rows.append({"group": estimate.group, "segments": estimate.segments, "km": round(estimate.km, 3),
                         "before": estimate.before, "after": estimate.after,
                         "rate_before": round(estimate.rate_before, 4), "rate_after": round(estimate.rate_after, 4)})
            rows.append({"group": f"{COMPARISON} ({estimate.group})", "segments": estimate.comparison_segments,
                         "km": round(estimate.comparison_km, 3), "before": estimate.comparison_before,
                         "after": estimate.comparison_after,
                         "rate_before": round(estimate.comparison_rate_before, 4),
                         "rate_after": round(estimate.comparison_rate_after, 4)})
        return pd.DataFrame(rows, columns=["group", "segments", "km", "before", "after", "rate_before", "rate_after"])


def _displacement_words(adjacent: Estimate) -> str:
    """Say what the adjacent segments' estimate shows: displacement, a spill-over of benefit, or neither."""
    if adjacent.covers_zero:
        return "no clear sign of displacement"
    return "incidents may have moved next door" if adjacent.did > 0 else "a spill-over of benefit, it seems"


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("+0.00", "0.00").replace("-0.00", "0.00")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.0%}"


def assess_segments(
    index: StreetIndex, passage: np.ndarray, snapped: SnappedIncidents, periods: Periods, *,
    risk: np.ndarray | None = None, within: BaseGeometry | None = None, resamples: int = RESAMPLES,
    seed: int | None = None, k: int = MATCHES, area: str = "", area_name: str = "",
    notes: Sequence[str] = (), sources: Sequence[str] = (), options: Mapping[str, Any] | None = None,
) -> Assessment:
    """Return the assessment of a set of passage segments (the steps 3-6 of the module's method).

    Parameters
    ----------
    index
        The street index (projected, metres).
    passage
        One boolean per segment: on a Safe Passage.
    snapped
        The dated incidents snapped to ``index`` (:func:`snap_incidents`).
    periods
        The before and after periods (:func:`choose_periods`).
    risk
        The plan's before-period risk per 100 m, a matching feature when given.
    within
        Only segments whose midpoint lies in this polygon (the study area, index CRS) take
        part; default all.
    resamples, seed, k
        Bootstrap resamples, their seed (default :data:`passages.settings.seed`) and
        comparison segments per segment.
    area, area_name, notes, sources, options
        Carried to the result.

    Raises
    ------
    EmptyResultError
        No passage segment inside ``within``, or no comparison segment.
    """
    seed = settings.seed if seed is None else int(seed)
    if resamples < 1:
        raise InputError(f"resamples must be at least 1, got {resamples}", field="--resamples",
                         fix="Give a number of bootstrap resamples such as 1000.")
    passage = np.asarray(passage, dtype=bool)
    inside = np.ones(index.n_segments, dtype=bool)
    if within is not None and index.n_segments:
        middle = shapely.line_interpolate_point(index.segment_geometry, 0.5, normalized=True)
        inside = np.asarray(shapely.contains_xy(within, *shapely.get_coordinates(middle).T), dtype=bool)
    ring = adjacent_segments(index, passage)
    on_passage = np.flatnonzero(passage & inside)
    next_door = np.flatnonzero(ring & inside)
    pool = np.flatnonzero(~passage & ~ring & inside)
    if len(on_passage) == 0:
        raise EmptyResultError(f"no Safe Passage segment of {area or 'the area'} lies inside the study area: "
                               "nothing to assess")
    last_before = periods.since - datetime.timedelta(days=1)
    before = snapped.counts(periods.before_start, last_before)
    after = snapped.counts(periods.since, periods.after_end)
    features = matching_features(before, index.segment_length, risk)
    common: dict[str, Any] = {"years": periods.years, "resamples": int(resamples), "seed": seed, "features": features}
    matched = match_segments(features, on_passage, pool, k=k)
    passages = did_estimate(PASSAGES, on_passage, matched, before, after, index.segment_length, **common)
    adjacent = None
    ring_matched = np.zeros((0, k), dtype=np.int64)
    if len(next_door):
        ring_matched = match_segments(features, next_door, pool, k=k)
        adjacent = did_estimate(ADJACENT, next_door, ring_matched, before, after, index.segment_length, **common)
    frame = _segment_rows(index, on_passage, next_door, matched, ring_matched, before, after)
    counted = int(before[inside].sum() + after[inside].sum())
    too_far = snapped.too_far(periods.before_start, periods.after_end)
    options = {**(options or {}), "window_days": periods.window_days, "resamples": int(resamples), "seed": seed,
               "matches_per_segment": int(k), "snap_m": snapped.snap_m,
               "matched_on": ["before incidents per 100 m", "length", *(["plan risk per 100 m"] if risk is not None
                                                                         else [])]}
    return Assessment(area, area_name, periods, passages, adjacent, counted, too_far, frame, options,
                      tuple(notes), tuple(sources))


def _segment_rows(index: StreetIndex, on_passage: np.ndarray, next_door: np.ndarray, matched: np.ndarray,
                  ring_matched: np.ndarray, before: np.ndarray, after: np.ndarray) -> pd.DataFrame:
    """The CSV's rows: every passage, adjacent and matched comparison segment, with its counts."""
    times = np.bincount(np.concatenate([matched.reshape(-1), ring_matched.reshape(-1)]),
                        minlength=index.n_segments)
    groups = [(PASSAGES, on_passage), (ADJACENT, next_door), (COMPARISON, np.flatnonzero(times))]
    segment = np.concatenate([ids for _, ids in groups]).astype(np.int64)
    return pd.DataFrame({
        "group": np.repeat([name for name, _ in groups], [len(ids) for _, ids in groups]),
        "segment": segment,
        "name": index.segment_name[segment] if len(segment) else np.zeros(0, dtype=object),
        "length_m": np.round(index.segment_length[segment], 1),
        "before": before[segment].astype(np.int64),
        "after": after[segment].astype(np.int64),
        "times_matched": times[segment].astype(np.int64),
    })


# --------------------------------------------------------------------------- from files


def read_dated_incidents(
    area: Area, paths: Sequence[Path], *, windows: Sequence[str] = ALL_DAY, weekdays: Sequence[int] = EVERY_DAY,
    categories: Sequence[str] | None = None,
) -> tuple[gpd.GeoDataFrame, list[str], Callable[..., gpd.GeoDataFrame]]:
    """Read incident files once; return the dated points counted, the sources, and a selector.

    The points are those of ``windows``, ``weekdays`` and ``categories`` in the area
    (UTM), each weighing what :func:`passages.incidents.load_incidents` gives it without
    recency. The selector takes ``windows`` and ``weekdays`` and returns the points of
    those, for the published plan, from the same read.

    Raises
    ------
    InputError
        A file is missing, or has no dates (such as the hourly sample of the shared data):
        a before and an after cannot be told.
    """
    from passages.incidents import IncidentScan

    for path in paths:
        if not path.is_file():
            raise InputError("file not found", path=path, field="--incidents",
                             fix="Check the path, or point --data-dir / $PASSAGES_DATA at the shared data folder.")
    scan = IncidentScan(list(paths), area)
    chosen = list(categories) if categories else None

    def select(windows: Sequence[str], weekdays: Sequence[int]) -> gpd.GeoDataFrame:
        return scan.select(windows=tuple(windows), weekdays=tuple(weekdays), categories=chosen,
                           half_life_days=math.inf).points

    counted = scan.select(windows=tuple(windows), weekdays=tuple(weekdays), categories=chosen,
                          half_life_days=math.inf)
    for path, source in zip(paths, counted.report.sources, strict=True):
        if source.endswith(("(no dates)", "(no readable dates)")):
            raise InputError(
                "the incidents have no dates, so no before and after can be told", path=path, field="--incidents",
                fix="Give dated incidents with --incidents, such as the LAPD open-data CSV (DATE OCC): leave "
                    "--incidents out to use the LAPD extracts of the shared data.")
    return counted.points, list(counted.report.sources), select


def published_plan(
    area: Area, points: gpd.GeoDataFrame, since: datetime.date, *, params: PlanParameters | None = None,
    data_dir: str | Path | None = None, offline: bool = False, network: str | Path | None = None,
    place_sources: Mapping[str, Sequence[str | Path]] | None = None, use_cache: bool = True,
) -> Plan:
    """Return the plan published on ``since``: the area planned from the incidents before it only.

    The stages of :func:`passages.plan.make_plan` (:func:`passages.evaluate.fit_plan`) on
    the incidents of ``points`` dated before ``since`` (``points`` already of the plan's
    time windows, weekdays and categories), recency weighted back from ``since`` with the
    plan's half-life and lookback.

    Raises
    ------
    EmptyResultError
        No incident before ``since``, or no passage (no school in reach).
    """
    from passages.evaluate import fit_plan
    from passages.scenarios import PlanParameters
    from passages.splits import training_weights

    params = params or PlanParameters()
    at = pd.Timestamp(since)
    before = points[pd.DatetimeIndex(points["occurred"]) < at].reset_index(drop=True)
    if before.empty:
        raise EmptyResultError(f"no incident of {area.slug!r} in the plan's time windows before {since}: "
                               "there is no plan to have published then")
    train = training_weights(before, at, half_life_days=params.half_life_days, lookback_days=params.lookback_days)
    plan = fit_plan(area, train, params=params, data_dir=data_dir, offline=offline, network=network,
                    place_sources=place_sources, use_cache=use_cache)
    if not (plan.route_set.segment_demand > 0).any():
        raise EmptyResultError(f"the plan of {area.slug!r} on {since} has no Safe Passage (no school in reach): "
                               "nothing to assess")
    return plan


def assess_plan(
    plan: Plan, snapped: SnappedIncidents, periods: Periods, *, resamples: int = RESAMPLES, seed: int | None = None,
    k: int = MATCHES, notes: Sequence[str] = (), sources: Sequence[str] = (), options: Mapping[str, Any] | None = None,
) -> Assessment:
    """Return the assessment of a plan's passages (see :func:`assess_segments`).

    The passages are the segments carrying demand; the plan's risk per 100 m is a matching
    feature; segments count when their midpoint lies in the study area.
    """
    return assess_segments(
        plan.index, plan.route_set.segment_demand > 0, snapped, periods, risk=plan.risk.risk_per_100m,
        within=plan.area.study_polygon_utm, resamples=resamples, seed=seed, k=k, area=plan.area.slug,
        area_name=plan.area.name, notes=notes, sources=sources, options=options)


def assess(
    area: Area, *, since: str | datetime.date, incidents: Sequence[str | Path] | None = None,
    params: PlanParameters | None = None, window_days: int | None = None, resamples: int = RESAMPLES,
    seed: int | None = None, walk_hours: bool = False, data_dir: str | Path | None = None, offline: bool = False,
    network: str | Path | None = None, place_sources: Mapping[str, Sequence[str | Path]] | None = None,
    use_cache: bool = True,
) -> Assessment:
    """Assess an area's Safe Passages: incidents on them before and after ``since``, against comparison streets.

    Parameters
    ----------
    area
        The area.
    since
        The day the passages started (``YYYY-MM-DD`` or a date).
    incidents
        Dated incident files; default :data:`passages.settings.backtest_incidents` (the
        LAPD extracts of the shared data).
    params
        Plan parameters of the published plan; default :class:`PlanParameters()`.
    window_days
        Days counted on each side of ``since``; default the most the data allow, at most
        :data:`MAX_WINDOW_DAYS`.
    resamples, seed
        Bootstrap resamples and their seed (default :data:`passages.settings.seed`).
    walk_hours
        Count only the incidents in the plan's walking windows and weekdays (the program
        hours of the Chicago studies); default the whole day, every day (more incidents).
    data_dir, offline, network, place_sources, use_cache
        As for :func:`passages.plan.make_plan`.

    Raises
    ------
    InputError
        A bad date or window, a missing or undated incident file.
    EmptyResultError
        No passage, no incident before ``since``, or no comparison street.
    """
    from passages.scenarios import PlanParameters

    params = params or PlanParameters()
    params.check()
    if params.radius_m is not None:
        area = area.with_radius(params.radius_m)
    day = parse_since(since)
    data = Path(data_dir) if data_dir is not None else settings.shared_data_dir()
    paths = [Path(p) for p in incidents] if incidents else [data / rel for rel in settings.backtest_incidents]
    windows, weekdays = (tuple(params.windows), tuple(params.weekdays)) if walk_hours else (ALL_DAY, EVERY_DAY)
    points, sources, select = read_dated_incidents(area, paths, windows=windows, weekdays=weekdays,
                                                   categories=params.categories)
    periods = choose_periods(date_spans(points), day, window_days=window_days)
    plan_points = points if walk_hours else select(params.windows, params.weekdays)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = published_plan(area, plan_points, day, params=params, data_dir=data, offline=offline,
                              network=network, place_sources=place_sources, use_cache=use_cache)
    snapped = snap_incidents(plan.index, points, snap_m=params.snap_m)
    counted = "the plan's walking windows " + ", ".join(params.windows) + " on days " + ", ".join(
        map(str, params.weekdays)) + " (0 = Monday)" if walk_hours else "the whole day, every day"
    notes = [
        f"incidents counted: {counted}, each once; the passages are the plan made from the incidents before "
        f"{day} only",
        "rates are incidents per km per year; a comparison segment counts as often as it was matched",
        *dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)),
    ]
    return assess_plan(plan, snapped, periods, resamples=resamples, seed=seed, notes=notes, sources=sources,
                       options={"incidents_counted": counted, "plan_passage_km": round(plan.route_set.passage_km, 3)})


# --------------------------------------------------------------------------- outputs


def assessment_files(area: str) -> tuple[str, str]:
    """Return the file names of an assessment: ``<area>-assess.json`` and ``<area>-assess.csv``."""
    name = slug(area, field="--area")
    return f"{name}-assess.json", f"{name}-assess.csv"


def write_assessment(result: Assessment, *, out_dir: str | Path | OutputSet | None = None) -> dict[str, Path]:
    """Write an assessment's summary (JSON) and segments (CSV); return the paths.

    Files go to ``out_dir`` (default ``settings.maps_dir / <area>``), written as one output
    set (:func:`passages._io.output_set`): staged under a temporary name, then swapped in.
    No CSV cell starts a spreadsheet formula (:func:`passages._names.csv_bytes`).
    """
    json_name, csv_name = assessment_files(result.area)
    from passages._terminal import jsonable

    payloads = {
        "summary": (json_name, (json.dumps(jsonable(result.summary()), indent=2, allow_nan=False) + "\n")
                    .encode("utf-8")),
        "segments": (csv_name, csv_bytes(result.segments)),
    }
    default = settings.maps_dir / slug(result.area, field="--area")
    with writing_to(out_dir, default, owns=(json_name, csv_name)) as out:
        return {key: out.write(name, data) for key, (name, data) in payloads.items()}

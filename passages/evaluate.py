"""Backtests: does the plan put officers where the next incidents happen?

A backtest splits dated incidents at one instant, fits the plan's risk on the incidents
*before* it (the training period) and measures, on the incidents *after* it (the test
period) only, how many of them fall on the street segments each method chooses.

Hit rate, PAI and their intervals are defined in :mod:`passages.hit_rates`.

Methods, each a ranking of segments; at a coverage level ``c`` the method chooses its
best-ranked segments until their length reaches ``c`` x the network length:

* **plan risk**: training risk per 100 m of :mod:`passages.risk` (the ranking behind the
  plan's hot segments), with the model of :mod:`passages.risk_models` chosen by
  rolling-origin cross-validation on the training incidents only (``select=False`` keeps
  the plan parameters' own model);
* **Safe Passages**: the segments of the recommended passages (the safer routes planned
  on the training risk), riskiest first; its curve stops where the passages run out;
* **covered segments**: the hook :data:`SetMaker` (officer coverage, issue #3), ranked the
  same way;
* baselines: **random** segments (mean of :data:`passages.settings.random_seeds` seeded
  orders; the interval spans the 2.5-97.5 percentiles across seeds), **grid KDE** (the
  classic hot-spot map: a planar quartic kernel density of
  :data:`passages.settings.grid_bandwidth_m` with the plan's training weights, on square
  cells of :data:`passages.settings.grid_cell_m`; a segment takes the value of the cell
  holding its midpoint) and **last period counts** (training incidents snapped to each
  segment, unweighted, per 100 m).

Besides the split asked for, a **rolling backtest** (:mod:`passages.rolling`) measures the
plan's risk and the baselines at :data:`passages.settings.backtest_rolls` origins a month
apart, each tested on the month after it, and pooled; the report flags thin or gappy data
and ends with one plain sentence (:func:`passages.rolling.verdict`).

Ties (most often the many segments scored 0) are broken by one seeded random order, so
that a tie never favours the segments that happen to come first in the graph. The plan's
fixed sets (its hot segments, the whole Safe Passage network, covered segments) are also
measured at their own share. Same inputs and seed give the same numbers, byte for byte.
"""

from __future__ import annotations

import datetime
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from passages import settings
from passages._errors import InputError
from passages._io import OutputSet, writing_to
from passages._names import csv_bytes, slug
from passages.areas import Area
from passages.hit_rates import (
    count_scores,
    evaluate_rankings,
    evaluate_sets,
    grid_kde_scores,
    random_baseline,
    rank_segments,
    snap_counts,
)
from passages.incidents import IncidentReport
from passages.network import load_network
from passages.places import load_places, osm_places_online, snap_places
from passages.plan import Plan
from passages.risk import add_edge_risk, score_segments
from passages.risk_models import RiskModel, Selection, model_weights, select_model
from passages.rolling import (
    COUNTS,
    GRID_KDE,
    PLAN_RISK,
    REPORT_COVERAGES,
    data_flags,
    rolling_backtest,
    rolling_origins,
    verdict,
)
from passages.routes import RouteSet, add_edge_demand, od_pairs, plan_routes, site_origins
from passages.scenarios import PlanParameters
from passages.splits import Split, load_dated_incidents, parse_split, split_incidents, training_weights  # noqa: F401  (re-exported)
from passages.streetindex import StreetIndex

if TYPE_CHECKING:
    from passages.scenarios import CoverageParameters

PASSAGES = "Safe Passages"
HOT_SET = "hot segments"
PASSAGE_SET = "Safe Passage network"
COVERED_SET = "covered segments"

#: Coverage levels printed in the terminal table (shares of network length).
TABLE_COVERAGES = REPORT_COVERAGES

#: A maker of a fixed set of segments from the plan fitted on the training incidents:
#: returns one boolean per segment of ``plan.index``. Officer coverage plugs in here.
SetMaker = Callable[[Plan], np.ndarray]


# --------------------------------------------------------------------------- the plan on training data


def fit_plan(
    area: Area, train: gpd.GeoDataFrame, *, params: PlanParameters | None = None,
    data_dir: str | Path | None = None, offline: bool = False, network: str | Path | None = None,
    place_sources: Mapping[str, Sequence[str | Path]] | None = None, report: IncidentReport | None = None,
    use_cache: bool = True, cache_dir: str | Path | None = None, graph: nx.MultiDiGraph | None = None,
    model: RiskModel | None = None,
) -> Plan:
    """Return the plan of an area made from the given (training) incidents only.

    The stages of :func:`passages.plan.make_plan` (network, places, risk, routes), with
    the incident points given instead of read, so that a backtest can fit on the incidents
    before its split. An area with no school in reach gets no route (and no passage).
    ``graph`` is the area's street network when already loaded. With ``model``, the
    incident weights are taken as that model's (recency and severity already applied) and
    its ``own_share`` and ``bandwidth_m`` spread them; else ``params`` does.
    """
    params = params or PlanParameters()
    data = Path(data_dir) if data_dir is not None else settings.shared_data_dir()
    network_path = Path(network) if network is not None else (
        area.source_paths("network", data)[0] if area.offline else None)
    if graph is None:
        graph = load_network(area, network_path, offline=offline, use_cache=use_cache, cache_dir=cache_dir)
    index = StreetIndex(graph)
    sources = {kind: area.source_paths(kind, data) for kind in area.sources if kind not in ("network", "incidents")}
    sources.update({kind: [Path(p) for p in paths] for kind, paths in (place_sources or {}).items() if paths})
    for kind, paths in sources.items():
        for path in paths:
            if not path.exists():
                raise InputError("file not found", path=path, field=kind,
                                 fix="Check the path, or point --data-dir / $PASSAGES_DATA at the shared data folder.")
    if any(sources.values()):
        places = load_places(area, sources=sources)
    elif offline:
        raise InputError(f"area {area.slug!r} has no local schools, stops or parks and --offline was given",
                         field="--offline", fix="Drop --offline to read places from OpenStreetMap.")
    else:
        places = osm_places_online(area, cache_dir=settings.raw_dir / "osmnx-cache").to_crs(area.crs)
        places = places[places.intersects(area.study_polygon_utm)].reset_index(drop=True)
    places = snap_places(places, index, max_snap_m=params.place_snap_m)
    risk = score_segments(index, train, snap_m=params.snap_m, hot_share=params.hot_share,
                          bandwidth_m=params.bandwidth_m if model is None else model.bandwidth_m,
                          own_share=params.own_share if model is None else model.own_share,
                          severity=None if model is None else True)
    add_edge_risk(graph, index, risk)
    pairs = od_pairs(places, site_origins(area, index), index, link_radius_m=params.link_radius_m,
                     links_per_kind=params.links_per_kind)
    if len(pairs):
        route_set = plan_routes(index, pairs, risk.risk_per_100m, risk_lambda=params.risk_lambda,
                                max_detour=params.max_detour)
    else:
        route_set = RouteSet(gpd.GeoDataFrame(geometry=[], crs=index.crs), [], [], [], [],
                             np.zeros(index.n_segments), skipped={"no school in reach": 0})
    add_edge_demand(graph, index, route_set)
    report = report or IncidentReport(rows_read=len(train), used=len(train),
                                      used_weight=float(train["weight"].sum()))
    sources_used = [f"Street network: {graph.graph.get('source')}", *(f"Incidents: {s}" for s in report.sources)]
    return Plan(area=area, params=params, graph=graph, index=index, places=places, incident_report=report,
                risk=risk, route_set=route_set, sources=sources_used)


def coverage_sets(params: CoverageParameters | None = None, *, scenario: str = "default") -> dict[str, SetMaker]:
    """Return ``{"covered segments": maker}`` from officer coverage, or ``{}`` where it is not installed.

    The maker runs :func:`passages.coverage.cover` (issue #3) on the training plan with
    ``params`` (a :class:`passages.scenarios.CoverageParameters`, default the settings) and
    returns its ``watched`` mask. Its ``label`` names the scenario and its officers, such as
    ``"scenario default: 2 officers, posts"``; the report prints it beside the set.
    """
    try:
        from passages.coverage import cover
    except ImportError:
        return {}
    officers = params.officers if params is not None else settings.officers
    mode = params.mode if params is not None else settings.coverage_mode

    def covered(plan: Plan) -> np.ndarray:
        return np.asarray(cover(plan, params).watched, dtype=bool)

    covered.label = f"scenario {scenario}: {officers} officer{'s' if officers != 1 else ''}, {mode}"  # type: ignore[attr-defined]
    return {COVERED_SET: covered}


# --------------------------------------------------------------------------- the backtest


@dataclass
class Backtest:
    """A backtest of one area: the split, the plan fitted before it, and the measures after it.

    Attributes
    ----------
    area, params
        What was planned, and how.
    split
        Training and test incidents (see :class:`Split`).
    plan
        The plan fitted on the training incidents only.
    table
        Hit rate and PAI of every method and fixed set (columns :data:`passages.hit_rates.COLUMNS`).
    test_too_far
        Test incidents farther than ``snap_m`` from every street (left out of the measures).
    options
        Windows, weekdays, coverage levels, draws, seeds, cell size and seed used.
    sources, notes
        Incident files with their dates; what the reader should know.
    selection
        The cross-validation that chose the plan's risk model (``None`` when not asked).
    rolling, rolling_splits
        The rolling backtest (:func:`passages.rolling.rolling_backtest`): its table and one
        line of facts per split.
    flags
        Warnings on thin or gappy data (:func:`passages.rolling.data_flags`).
    set_labels
        Words printed beside a fixed set (the scenario and officers of covered segments).
    """

    area: Area
    params: PlanParameters
    split: Split
    plan: Plan
    table: pd.DataFrame
    test_too_far: int
    options: dict[str, Any]
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    selection: Selection | None = None
    rolling: pd.DataFrame = field(default_factory=pd.DataFrame)
    rolling_splits: list[dict[str, Any]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    set_labels: dict[str, str] = field(default_factory=dict)

    def verdict(self) -> str:
        """Return the closing sentences: the split asked for at 5 %, and the pooled rolling splits."""
        words = verdict(self.table, level=0.05, period="the test period's")
        if not self.rolling.empty:
            pooled = self.rolling[self.rolling["split"] == "pooled"]
            words += (f" Over {len(self.rolling_splits)} rolling monthly splits together: "
                      + verdict(pooled, level=0.05, period="the next month's"))
        return words

    @property
    def test_on_street(self) -> int:
        """Test incidents within snap distance of a street: the denominator of every hit rate."""
        return len(self.split.test) - self.test_too_far

    def summary(self) -> dict[str, Any]:
        """Return the backtest's setting as JSON-ready values (the measures are in :attr:`table`)."""
        return {
            "area": self.area.slug, "split_at": f"{self.split.at:%Y-%m-%d}",
            "train_incidents": len(self.split.train), "test_incidents": len(self.split.test),
            "test_on_street": self.test_on_street, "test_too_far_from_street": self.test_too_far,
            "options": self.options, "parameters": self.params.as_dict(),
            "risk_model": self.selection.model.as_dict() if self.selection is not None else None,
            "risk_model_chosen_by_cv": bool(self.selection is not None and self.selection.chosen_by_cv),
            "cv_folds": self.selection.folds.to_dict("records") if self.selection is not None else [],
            "rolling_splits": list(self.rolling_splits), "flags": list(self.flags),
            "sources": list(self.sources), "notes": list(self.notes), "verdict": self.verdict(),
        }

    def display(self, coverages: Sequence[float] = TABLE_COVERAGES) -> tuple[list[str], list[list[str]]]:
        """Return the curve measures as a text table: a header and one row per method.

        A cell reads ``hit rate [interval]`` over ``PAI``; "-" where the method cannot reach
        the coverage level.
        """
        curves = self.table[self.table["kind"] == "curve"]
        header = ["method", *(f"{c:.0%} of streets" for c in coverages)]
        rows = []
        for method, group in curves.groupby("method", sort=False):
            cells = [str(method)]
            for level in coverages:
                match = group[np.isclose(group["coverage"], level)]
                if match.empty:
                    cells.append("-")
                    continue
                r = match.iloc[0]
                cells.append(f"{r.hit_rate:.0%} [{r.hit_rate_low:.0%}-{r.hit_rate_high:.0%}]\nPAI {r.pai:.1f}")
            rows.append(cells)
        return header, rows

    def display_sets(self) -> tuple[list[str], list[list[str]]]:
        """Return the fixed sets' measures as a text table: a header and one row per set.

        A set too small to judge (at random it would hold fewer than
        :data:`passages.settings.backtest_min_expected` test incidents) says so.
        """
        sets = self.table[self.table["kind"] == "set"]
        header = ["set", "share of streets", "test incidents on it", "hit rate [95% interval]", "PAI [interval]"]
        rows = []
        for r in sets.itertuples():
            method = str(r.method)
            name = method + (f"\n({self.set_labels[method]})" if method in self.set_labels else "")
            expected = float(r.length_share) * float(r.test_incidents)  # type: ignore[arg-type]
            if expected < settings.backtest_min_expected:
                name += (f"\ntoo small to judge: at random it would hold {expected:.1f} test incidents")
            rows.append([name, f"{r.length_share:.1%}", f"{r.hits:.0f} of {r.test_incidents}",
                         f"{r.hit_rate:.0%} [{r.hit_rate_low:.0%}-{r.hit_rate_high:.0%}]",
                         f"{r.pai:.2f} [{r.pai_low:.2f}-{r.pai_high:.2f}]"])
        return header, rows

    def display_rolling(self, coverages: Sequence[float] = (0.01, 0.05, 0.20)) -> tuple[list[str], list[list[str]]]:
        """Return the rolling splits as a text table: one row per split and method, then the pooled rows."""
        header = ["split (test month)", "method", *(f"{c:.0%} of streets" for c in coverages)]
        rows = []
        for (split, method), group in self.rolling.groupby(["split", "method"], sort=False):
            cells = [str(split), str(method)]
            for level in coverages:
                r = group[np.isclose(group["coverage"], level)].iloc[0]
                cells.append(f"{r.hit_rate:.0%} [{r.hit_rate_low:.0%}-{r.hit_rate_high:.0%}] PAI {r.pai:.1f}")
            rows.append(cells)
        return header, rows


def backtest(
    area: Area, *, split: str | datetime.date | float, incidents: Sequence[str | Path] | None = None,
    params: PlanParameters | None = None, data_dir: str | Path | None = None, offline: bool = False,
    network: str | Path | None = None, place_sources: Mapping[str, Sequence[str | Path]] | None = None,
    windows: Sequence[str] | None = None, weekdays: Sequence[int] | None = None,
    coverages: Sequence[float] | None = None, draws: int | None = None, seeds: int | None = None,
    cell_m: float | None = None, seed: int | None = None, extra_sets: Mapping[str, SetMaker] | None = None,
    use_cache: bool = True, cache_dir: str | Path | None = None, select: bool = True, rolls: int | None = None,
) -> Backtest:
    """Backtest the plan of an area: fit before the split, measure after it.

    Parameters
    ----------
    area
        The area to plan.
    split
        A date (``"YYYY-MM-DD"`` or ``datetime.date``) or a fraction of the period in (0, 1)
        (see :func:`split_incidents`).
    incidents
        Dated incident files; default :data:`passages.settings.backtest_incidents` under
        ``data_dir``.
    params
        Plan parameters (snap, bandwidth, hot share, routing...); their ``windows`` and
        ``weekdays`` are not used: see ``windows``.
    data_dir, offline, network, place_sources, use_cache, cache_dir
        As for :func:`passages.plan.make_plan`.
    windows, weekdays
        Incidents fitted and counted (default :data:`passages.settings.backtest_windows`
        and :data:`passages.settings.backtest_weekdays`: the whole day, every day).
    coverages
        Shares of network length measured (0-1]; default
        :data:`passages.settings.backtest_coverages` (1 % to 20 %).
    draws, seeds, cell_m, seed
        Bootstrap draws, random-baseline seeds, grid cell side (metres) and the seed of
        every random draw; defaults in :mod:`passages.settings`.
    extra_sets
        More fixed sets, each made from the training plan (:data:`SetMaker`), measured as
        a set and as a curve (riskiest first). Default :func:`coverage_sets`: officer
        coverage with the default parameters where :mod:`passages.coverage` is installed;
        ``{}`` measures none.
    select
        Choose the plan's risk model by rolling-origin cross-validation on the training
        incidents (:func:`passages.risk_models.select_model`); ``False`` keeps the model of
        ``params`` (``own_share``, ``bandwidth_m``, ``half_life_days``) and
        :data:`passages.settings.risk_severity`.
    rolls
        Rolling splits measured besides the one asked for (default
        :data:`passages.settings.backtest_rolls`; 0 for none).

    Raises
    ------
    InputError
        Bad split, undated or missing incident file, impossible option.
    EmptyResultError
        No test incident lies on a street.
    """
    params = params or PlanParameters()
    params.check()
    if params.radius_m is not None:
        area = area.with_radius(params.radius_m)
    when = parse_split(split) if isinstance(split, str) else split
    coverages = tuple(float(c) for c in (settings.backtest_coverages if coverages is None else coverages))
    if not coverages or not all(0 < c <= 1 for c in coverages):
        raise InputError(f"coverage levels must lie in (0, 1], got {list(coverages)}", field="coverages",
                         fix="Give shares of network length such as 0.05 for 5 %.")
    options: dict[str, Any] = {
        "windows": list(settings.backtest_windows if windows is None else windows),
        "weekdays": list(settings.backtest_weekdays if weekdays is None else weekdays),
        "coverages": list(coverages),
        "bootstrap_draws": settings.bootstrap_draws if draws is None else draws,
        "random_seeds": settings.random_seeds if seeds is None else seeds,
        "grid_cell_m": settings.grid_cell_m if cell_m is None else cell_m,
        "seed": settings.seed if seed is None else seed,
    }
    data = Path(data_dir) if data_dir is not None else settings.shared_data_dir()
    paths = [Path(p) for p in incidents] if incidents else [data / rel for rel in settings.backtest_incidents]
    for path in paths:
        if not path.is_file():
            raise InputError("file not found", path=path, field="--incidents",
                             fix="Check the path, or point --data-dir / $PASSAGES_DATA at the shared data folder.")

    points, report = load_dated_incidents(paths, area=area, windows=options["windows"],
                                          weekdays=options["weekdays"], categories=params.categories)
    parts = split_incidents(points, when)
    network_path = Path(network) if network is not None else (
        area.source_paths("network", data)[0] if area.offline else None)
    graph = load_network(area, network_path, offline=offline, use_cache=use_cache, cache_dir=cache_dir)
    index = StreetIndex(graph)
    fallback = RiskModel(params.own_share, params.bandwidth_m, params.half_life_days, settings.risk_severity)
    selection = select_model(index, parts.train, parts.at, fallback=fallback, snap_m=params.snap_m,
                             seed=options["seed"]) if select else None
    model = selection.model if selection is not None else fallback
    train = parts.train.copy()
    train["weight"] = model_weights(train, parts.at, half_life_days=model.half_life_days, severity=model.severity)
    if params.lookback_days is not None:
        age_days = ((parts.at - pd.DatetimeIndex(train["occurred"])) / pd.Timedelta(days=1)).to_numpy(dtype=float)
        train = train[age_days <= params.lookback_days].reset_index(drop=True)
    params = params.replace(own_share=model.own_share, bandwidth_m=model.bandwidth_m,
                            **({} if math.isinf(model.half_life_days) else {"half_life_days": model.half_life_days}))
    # the plan's own report counts the test incidents as held out, so that it adds up
    held_out = len(parts.test) + len(parts.train) - len(train)
    train_report = IncidentReport(
        rows_read=report.rows_read, used=len(train), used_weight=float(train["weight"].sum()),
        dropped={**report.dropped, "held out (on or after the split, or before the lookback)": held_out},
        notes=list(report.notes), sources=list(report.sources))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = fit_plan(area, train, params=params, data_dir=data, offline=offline, network=network,
                        place_sources=place_sources, report=train_report, use_cache=use_cache, cache_dir=cache_dir,
                        graph=graph, model=model)
    notes = [
        _filter_note(params.categories, options["windows"], options["weekdays"]),
        f"plan risk model: {model.name} ("
        + (f"chosen by rolling-origin cross-validation on the training incidents only, {len(selection.folds)} "
           f"monthly folds from {selection.folds['origin'].iloc[0]}" if selection is not None and
           selection.chosen_by_cv else (selection.note if selection is not None else "the plan parameters' own"))
        + "); recency counted back from the split; test incidents count once each",
        f"random: mean of {options['random_seeds']} seeded orders; grid KDE: {options['grid_cell_m']:g} m cells, "
        f"quartic kernel of {settings.grid_bandwidth_m:g} m; intervals: {options['bootstrap_draws']} bootstrap draws",
    ]
    index, risk = plan.index, plan.risk.risk_per_100m
    passage = plan.route_set.segment_demand > 0
    sets = {HOT_SET: plan.risk.hot, PASSAGE_SET: passage}
    if extra_sets is None:
        extra_sets = coverage_sets()
        if not extra_sets:
            notes.append("officer coverage (passages.coverage) is not available: covered segments are not measured")
    set_labels = {name: str(maker.label) for name, maker in extra_sets.items() if hasattr(maker, "label")}
    for name, maker in extra_sets.items():
        sets[name] = np.asarray(maker(plan), dtype=bool)
    tie_seed = options["seed"]
    planned = {PLAN_RISK: rank_segments(risk, seed=tie_seed)}
    planned.update({PASSAGES if name == PASSAGE_SET else name: rank_segments(risk, seed=tie_seed, among=mask)
                    for name, mask in sets.items() if name != HOT_SET and mask.any()})
    baselines = {
        GRID_KDE: rank_segments(grid_kde_scores(index, train, cell_m=options["grid_cell_m"],
                                                bandwidth_m=settings.grid_bandwidth_m), seed=tie_seed),
        COUNTS: rank_segments(count_scores(index, train, snap_m=params.snap_m), seed=tie_seed),
    }
    common = {"snap_m": params.snap_m, "draws": options["bootstrap_draws"], "seed": options["seed"]}
    table = pd.concat([
        evaluate_rankings(index, parts.test, planned, coverages=coverages, **common),
        random_baseline(index, parts.test, coverages=coverages, snap_m=params.snap_m,
                        seeds=options["random_seeds"], seed=options["seed"]),
        evaluate_rankings(index, parts.test, baselines, coverages=coverages, **common),
        evaluate_sets(index, parts.test, sets, **common),
    ], ignore_index=True)
    _, too_far = snap_counts(index, parts.test, snap_m=params.snap_m)
    on_street = len(parts.test) - too_far
    flags = data_flags(points, parts.at, test_on_street=on_street)
    if not passage.any():
        notes.append("no Safe Passage was planned (no school in reach): passages are not measured")
    else:
        passage_pai = table[(table["kind"] == "set") & (table["method"] == PASSAGE_SET)]["pai"]
        hot_pai = table[(table["kind"] == "set") & (table["method"] == HOT_SET)]["pai"]
        if len(passage_pai) and len(hot_pai) and float(passage_pai.iloc[0]) < float(hot_pai.iloc[0]):
            notes.append("Safe Passages are chosen to AVOID risk: the safer path trades a little length for "
                         "fewer incidents met, so a low PAI on the passages is the plan working as meant, not a "
                         "failure; officers are placed by the covered segments and the hot segments")
    notes += list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    origins = rolling_origins(points, parts.at, settings.backtest_rolls if rolls is None else rolls)
    rolling, rolling_splits = rolling_backtest(
        index, points, origins, snap_m=params.snap_m, fallback=fallback, draws=options["bootstrap_draws"],
        seeds=options["random_seeds"], cell_m=options["grid_cell_m"], seed=options["seed"], select=select)
    if rolling_splits and min(s["test_incidents"] for s in rolling_splits) < settings.backtest_min_test:
        flags.append(f"each rolling split tests one month ({min(s['test_incidents'] for s in rolling_splits)}-"
                     f"{max(s['test_incidents'] for s in rolling_splits)} incidents): read them together, in the "
                     "pooled rows")
    options["rolls"] = len(rolling_splits)
    return Backtest(area, params, parts, plan, table, too_far, options, list(report.sources), notes,
                    selection=selection, rolling=rolling, rolling_splits=rolling_splits, flags=flags,
                    set_labels=set_labels)


def backtest_row(result: Backtest) -> dict[str, Any]:
    """Return a backtest as one flat row, to sit beside a scenario's coverage metrics.

    Keys: ``split_at``, ``test_incidents`` (on a street), and for each fixed set (hot
    segments, Safe Passage network, covered segments) ``<set> share``, ``<set> hit rate``
    (with ``low``/``high`` of its interval) and ``<set> PAI``. A comparison of scenarios
    runs :func:`backtest` per scenario with its plan parameters and
    ``extra_sets=coverage_sets(scenario.coverage)`` and adds this row to its table.
    """
    row: dict[str, Any] = {"split_at": f"{result.split.at:%Y-%m-%d}", "test_incidents": result.test_on_street}
    for record in result.table[result.table["kind"] == "set"].to_dict("records"):
        name = record["method"]
        row.update({f"{name} share": record["length_share"], f"{name} hit rate": record["hit_rate"],
                    f"{name} hit rate low": record["hit_rate_low"], f"{name} hit rate high": record["hit_rate_high"],
                    f"{name} PAI": record["pai"]})
    return row


def _filter_note(categories: Sequence[str], windows: Sequence[str], weekdays: Sequence[int]) -> str:
    """Return which incidents the backtest fits and counts, in words."""
    kinds = ", ".join(categories) + " incidents" if categories else "incidents of every kind"
    hours = "the whole day" if list(windows) == ["00:00-24:00"] else ", ".join(windows)
    days = ("every day" if sorted(set(weekdays)) == list(range(7))
            else "days " + ", ".join(map(str, weekdays)) + " (0 = Monday)")
    default = list(windows) == list(settings.backtest_windows) and list(weekdays) == list(settings.backtest_weekdays)
    return (f"{kinds}, {hours}, {days}"
            + (": not only the school-walk windows, so that enough incidents are left to test on" if default else ""))


# --------------------------------------------------------------------------- outputs

def write_backtest(result: Backtest, *, out_dir: str | Path | OutputSet | None = None) -> dict[str, Path]:
    """Write a backtest's table (CSV), curves (PNG) and setting (JSON); return the paths.

    Files go to ``out_dir`` (default ``settings.maps_dir / <area> / "backtest"``):
    ``backtest.csv``, ``backtest.png`` and ``backtest-summary.json``, written as one
    output set (:func:`passages._io.output_set`). Everything is rendered before the first
    file is written.
    """
    from passages._backtest_plot import curve_png

    default = settings.maps_dir / slug(result.area.slug, field="--area") / "backtest"
    payloads = {
        "table": ("backtest.csv", csv_bytes(result.table, float_format="%.6g")),
        "curve": ("backtest.png", curve_png(result)),
        "summary": ("backtest-summary.json",
                    (json.dumps(result.summary(), indent=2, allow_nan=False) + "\n").encode("utf-8")),
    }
    with writing_to(out_dir, default, owns=("backtest.csv", "backtest.png", "backtest-summary.json")) as out:
        return {key: out.write(name, data) for key, (name, data) in payloads.items()}

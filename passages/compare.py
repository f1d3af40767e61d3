"""Compare coverage scenarios: run them, tabulate their metrics, chart and map them.

:func:`run_scenarios` plans an area once per distinct set of plan parameters (scenarios
that differ only in their coverage keys share a plan and its :class:`CoverageModel`) and
covers it for every scenario. :func:`write_comparison` writes what command staff read:

* ``<name>.csv``: one row per scenario with the metrics of
  :func:`passages.coverage.coverage_metrics` (and :func:`rich_table` prints them);
* ``<name>-coverage.png``: the share of risk-weighted exposure watched against the
  number of officers, one line per scenario family, and the marginal gain of each added
  officer;
* ``<name>-<a>-vs-<b>.html``: two scenarios' plan maps side by side with their posts and
  loops, in one self-contained page (each map in an ``iframe`` with ``srcdoc``).
"""

from __future__ import annotations

import dataclasses
import html
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rich.table import Table
from shapely.geometry import Point

from passages import settings
from passages._errors import InputError
from passages._figures import literal_text
from passages._io import OutputSet, writing_to
from passages._names import csv_bytes, slug
from passages.areas import Area
from passages.coverage import Coverage, CoverageModel, cover
from passages.i18n import N_, check_lang, translator
from passages.plan import Plan, make_plan, map_layers, plan_credits
from passages.scenarios import PlanParameters, Scenario
from passages.streetindex import StreetIndex

#: The chart shows at least this many officers.
CHART_MIN_OFFICERS = 8

#: Columns of the comparison table, in order.
TABLE_COLUMNS = (
    "scenario", "mode", "officers", "windows", "cover_radius_m", "demand_share", "exposure_share", "watched_km",
    "passage_km", "officer_hours", "hot_segments", "hot_watched", "dosage_per_hot", "posts", "loops", "loop_km",
    "posts_gap",
)


@dataclass
class ScenarioRun:
    """One scenario run on one area.

    Attributes
    ----------
    scenario
        The scenario.
    plan
        Its plan (shared with the scenarios of equal plan parameters).
    coverage
        Where its officers go and what they watch.
    model
        The covering model of its plan and radius (shared like the plan).
    posts_gap
        In ``"posts"`` mode, ``1 - heuristic value / optimal value`` of its posts (0 = the
        heuristic found the optimum); ``None`` in the other modes or when not checked.
    """

    scenario: Scenario
    plan: Plan
    coverage: Coverage
    model: CoverageModel
    posts_gap: float | None = None


def run_scenarios(
    area: Area,
    scenarios: Sequence[Scenario],
    *,
    data_dir: str | Path | None = None,
    offline: bool = False,
    check_exact: bool = True,
    on_scenario: Callable[[str], None] | None = None,
    **plan_options: Any,
) -> list[ScenarioRun]:
    """Run every scenario on an area, in file order.

    Parameters
    ----------
    area
        The area.
    scenarios
        From :func:`passages.scenarios.read_scenarios`.
    data_dir, offline, plan_options
        Passed to :func:`passages.plan.make_plan`.
    check_exact
        Solve the posts of each ``"posts"`` scenario exactly too and report the heuristic's gap.
    on_scenario
        Called with each scenario's name as it starts, for progress display.
    """
    plans: dict[PlanParameters, Plan] = {}
    models: dict[tuple[PlanParameters, float], CoverageModel] = {}
    runs = []
    for scenario in scenarios:
        if on_scenario is not None:
            on_scenario(scenario.name)
        params = scenario.params
        if params not in plans:
            plans[params] = make_plan(area, params=params, data_dir=data_dir, offline=offline, **plan_options)
        plan = plans[params]
        key = (params, scenario.coverage.cover_radius_m)
        if key not in models:
            models[key] = CoverageModel(plan, radius_m=scenario.coverage.cover_radius_m)
        coverage = cover(plan, scenario.coverage, model=models[key])
        gap = None
        if check_exact and coverage.mode == "posts" and len(coverage.posts):
            heuristic = models[key].greedy(len(coverage.posts))
            optimum = models[key].exact(len(coverage.posts))
            gap = 1.0 - heuristic.value / optimum.value if optimum.value > 0 else 0.0
        runs.append(ScenarioRun(scenario, plan, coverage, models[key], gap))
    return runs


# --------------------------------------------------------------------------- the table


def metrics_table(runs: Sequence[ScenarioRun]) -> pd.DataFrame:
    """Return one row per scenario with the columns :data:`TABLE_COLUMNS`."""
    rows = []
    for run in runs:
        coverage = run.coverage
        rows.append({
            "scenario": run.scenario.name, "mode": coverage.mode, "officers": coverage.officers,
            "windows": " ".join(coverage.windows), "cover_radius_m": coverage.radius_m,
            **coverage.metrics, "posts_gap": run.posts_gap,
        })
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def table_csv(table: pd.DataFrame) -> bytes:
    """Return the table as CSV bytes, numbers rounded to 4 decimals (stable across runs)."""
    return csv_bytes(table.round(4))


def rich_table(table: pd.DataFrame, *, title: str) -> Table:
    """Return the comparison as a Rich table for the terminal."""
    out = Table(title=title, title_justify="left")
    headers = ("scenario", "mode", "officers", "windows", "demand watched", "exposure watched", "km watched",
               "officer-h", "hot watched", "visits/h hot", "posts gap")
    for header in headers:
        left = header in ("scenario", "mode", "windows")
        out.add_column(header, justify="left" if left else "right", no_wrap=header == "scenario")
    for row in table.to_dict("records"):
        dosage, gap = row["dosage_per_hot"], row["posts_gap"]
        out.add_row(
            str(row["scenario"]), str(row["mode"]), str(row["officers"]), str(row["windows"]),
            f"{row['demand_share']:.0%}", f"{row['exposure_share']:.0%}",
            f"{row['watched_km']:.1f} / {row['passage_km']:.1f}", f"{row['officer_hours']:g}",
            f"{row['hot_watched']} of {row['hot_segments']}",
            "-" if dosage is None or pd.isna(dosage) else f"{dosage:.2f}",
            "-" if gap is None or pd.isna(gap) else f"{gap:.2%}",
        )
    return out


# --------------------------------------------------------------------------- backtests


def backtest_table(runs: Sequence[ScenarioRun], *, split: str, data_dir: str | Path | None = None,
                   offline: bool = False) -> pd.DataFrame:
    """Return each scenario's backtest (:func:`passages.evaluate.backtest`) as one row.

    Risk is refitted on the dated incidents before ``split`` with the scenario's plan
    parameters, its officers placed with its coverage parameters, and their covered
    segments, the hot segments and the Safe Passage network measured on the incidents
    after it. Columns: ``scenario`` and those of :func:`passages.evaluate.backtest_row`.
    """
    from passages.evaluate import backtest, backtest_row, coverage_sets

    rows = []
    for run in runs:
        result = backtest(run.plan.area, split=split, params=run.scenario.params, data_dir=data_dir,
                          offline=offline, extra_sets=coverage_sets(run.scenario.coverage))
        rows.append({"scenario": run.scenario.name, **backtest_row(result)})
    return pd.DataFrame(rows)


def rich_backtest_table(table: pd.DataFrame, *, title: str) -> Table:
    """Return the scenarios' backtests as a Rich table: hit rate with its interval and PAI per set."""
    from passages.evaluate import COVERED_SET, HOT_SET, PASSAGE_SET

    out = Table(title=title, title_justify="left")
    out.add_column("scenario", no_wrap=True)
    out.add_column("test incidents", justify="right")
    for name in (COVERED_SET, HOT_SET, PASSAGE_SET):
        out.add_column(f"{name}: share, hit rate, PAI", justify="right")
    for row in table.to_dict("records"):
        cells = []
        for name in (COVERED_SET, HOT_SET, PASSAGE_SET):
            if f"{name} PAI" not in row or pd.isna(row[f"{name} PAI"]):
                cells.append("-")
                continue
            cells.append(f"{row[f'{name} share']:.1%}, {row[f'{name} hit rate']:.0%} "
                         f"[{row[f'{name} hit rate low']:.0%}-{row[f'{name} hit rate high']:.0%}], "
                         f"{row[f'{name} PAI']:.2f}")
        out.add_row(str(row["scenario"]), str(row["test_incidents"]), *cells)
    return out


# --------------------------------------------------------------------------- the chart


def coverage_curves(runs: Sequence[ScenarioRun], *, max_officers: int | None = None) -> dict[str, np.ndarray]:
    """Return the exposure share watched for 1..N officers, per scenario family.

    A family is the scenarios equal but for their number of officers; its label joins
    their names. ``N`` is ``max_officers``, default the largest of
    :data:`CHART_MIN_OFFICERS` and the scenarios' officers.
    """
    top = max_officers or max(CHART_MIN_OFFICERS, *(r.coverage.officers for r in runs))
    families: dict[tuple[Any, ...], list[ScenarioRun]] = {}
    for run in runs:
        key = (run.scenario.params, dataclasses.replace(run.scenario.coverage, officers=1))
        families.setdefault(key, []).append(run)
    curves = {}
    for (_, coverage_params), members in families.items():
        plan, model = members[0].plan, members[0].model
        shares = [cover(plan, dataclasses.replace(coverage_params, officers=k), model=model).metrics["exposure_share"]
                  for k in range(1, top + 1)]
        curves[", ".join(r.scenario.name for r in members)] = np.asarray(shares)
    return curves


def chart_png(runs: Sequence[ScenarioRun], curves: Mapping[str, np.ndarray], *, title: str) -> bytes:
    """Return the PNG chart: coverage against officers (top) and each officer's marginal gain (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    with literal_text():
        return _draw_chart(Figure(figsize=(9, 7), dpi=110, layout="constrained"), runs, curves, title=title)


def _draw_chart(figure: Any, runs: Sequence[ScenarioRun], curves: Mapping[str, np.ndarray], *, title: str) -> bytes:
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    names = list(curves)
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        shares = curves[name] * 100.0
        officers = np.arange(1, len(shares) + 1)
        color = f"C{i % 10}"
        top.plot(officers, shares, marker="o", markersize=3, color=color, label=name)
        for run in runs:
            if run.scenario.name in name.split(", "):
                k = run.coverage.officers
                top.plot([k], [shares[k - 1]], marker="o", markersize=9, markerfacecolor="none", color=color)
                top.annotate(run.scenario.name, (k, shares[k - 1]), textcoords="offset points", xytext=(6, -10),
                             fontsize=8, color=color)
        gains = np.diff(np.concatenate([[0.0], shares]))
        bottom.bar(officers - 0.4 + width * (i + 0.5), gains, width=width, color=color)
    top.set_ylabel("risk-weighted exposure watched (%)")
    top.set_ylim(0, 100)
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="lower right")
    top.set_title(title, fontsize=11, loc="left")
    bottom.set_xlabel("officers on duty")
    bottom.set_ylabel("gain of this officer (points)")
    bottom.grid(alpha=0.3, axis="y")
    if names:
        bottom.set_xticks(np.arange(1, len(curves[names[0]]) + 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


# --------------------------------------------------------------------------- the maps


def officer_layers(coverage: Coverage, index: StreetIndex) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return the posts (and loop stops) and the loops of a coverage as map layers in EPSG:4326.

    Posts are numbered by rank ("1", "2", ...), a loop's stops by officer and order
    ("3.1"). The frames have the columns :func:`passages.maps.plan_map` draws.
    """
    rows: list[dict[str, Any]] = [
        {"number": str(int(p.rank)), "officer": int(p.officer),
         "label": f"Post {int(p.rank)}: {p.corner} ({p.window})", "geometry": p.geometry}
        for p in coverage.posts.itertuples()
    ]
    loop_rows = []
    for beat in coverage.loops:
        for j, stop in enumerate(beat.stops, start=1):
            x, y = index.node_xy[index.node_positions([stop.node])[0]]
            rows.append({"number": f"{beat.officer}.{j}", "officer": beat.officer,
                         "label": f"Officer {beat.officer}, stop {j}: {stop.corner}, minutes "
                                  f"{stop.arrive_min:.0f}-{stop.leave_min:.0f} of each lap",
                         "geometry": Point(x, y)})
        streets = " > ".join(name for name, _ in beat.legs())
        loop_rows.append({"officer": beat.officer, "label": f"Officer {beat.officer}: {streets}",
                          "length_m": beat.length_m, "minutes": beat.minutes, "geometry": beat.geometry})
    points = gpd.GeoDataFrame(rows, columns=["number", "officer", "label", "geometry"], geometry="geometry",
                              crs=index.crs)
    loops = gpd.GeoDataFrame(loop_rows, columns=["officer", "label", "length_m", "minutes", "geometry"],
                             geometry="geometry", crs=index.crs)
    return points.to_crs(settings.input_crs), loops.to_crs(settings.input_crs)


def scenario_map_html(run: ScenarioRun, *, tiles: bool = True, lang: str = "en") -> str:
    """Return the self-contained HTML of one scenario's plan map with its posts and loops (words in ``lang``)."""
    from passages.maps import map_html, plan_map

    segments, passages, places = map_layers(run.plan)
    posts, loops = officer_layers(run.coverage, run.plan.index)
    fmap = plan_map(
        area=run.plan.area, segments=segments, passages=passages, places=places,
        title=f"{run.scenario.name}: {run.plan.area.name}", credits=plan_credits(run.plan), tiles=tiles,
        posts=posts, loops=loops, lang=lang,
    )
    return map_html(fmap).decode("utf-8")


#: How each coverage mode reads on the side-by-side page.
MODE_WORDS = {"posts": N_("posts"), "footbeats": N_("footbeats"), "both": N_("posts and footbeats")}


def _metrics_line(run: ScenarioRun, _: Callable[[str], str] = str) -> str:
    m = run.coverage.metrics
    dosage = _("no hot segment") if m["dosage_per_hot"] is None else _(
        "{visits} visits/h per hot segment").format(visits=f"{m['dosage_per_hot']:.2f}")
    mode = _(MODE_WORDS.get(run.coverage.mode, run.coverage.mode))
    return _("{officers} officers, {mode}, {windows}: {demand} of passage demand and {exposure} of risk exposure "
             "watched, {watched} of {total} km, {hours} officer-hours, {dosage}").format(
        officers=run.coverage.officers, mode=mode, windows=" ".join(run.coverage.windows),
        demand=f"{m['demand_share']:.0%}", exposure=f"{m['exposure_share']:.0%}", watched=f"{m['watched_km']:.2f}",
        total=f"{m['passage_km']:.2f}", hours=f"{m['officer_hours']:g}", dosage=dosage)


def side_by_side_html(first: ScenarioRun, second: ScenarioRun, *, tiles: bool = True, lang: str = "en") -> str:
    """Return one HTML page with two scenarios' maps side by side (stacked on a narrow screen).

    Each map is a whole self-contained map page inside an ``iframe srcdoc``, so the page
    needs no other file and no connection (but for the optional web tiles).
    """
    _ = translator(lang)
    columns = []
    for run in (first, second):
        srcdoc = html.escape(scenario_map_html(run, tiles=tiles, lang=lang), quote=True)
        columns.append(
            f'<section><h2>{html.escape(run.scenario.name)}</h2><p>{html.escape(_metrics_line(run, _))}</p>'
            f'<iframe title="{html.escape(run.scenario.name)}" srcdoc="{srcdoc}"></iframe></section>'
        )
    title = html.escape(_("{area}: {first} vs {second}").format(
        area=first.plan.area.name, first=first.scenario.name, second=second.scenario.name))
    style = ("body{margin:0;font:14px/1.35 system-ui,sans-serif}main{display:flex;flex-wrap:wrap;gap:6px;padding:6px}"
             "section{flex:1 1 420px;display:flex;flex-direction:column;height:92vh;min-height:480px}"
             "h1{font-size:17px;margin:8px}h2{font-size:15px;margin:2px 0}p{margin:2px 0 6px}"
             "iframe{flex:1;border:1px solid #bbb;width:100%}")
    return (f'<!DOCTYPE html>\n<html lang="{check_lang(lang)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{style}</style></head><body><h1>{title}</h1><main>{''.join(columns)}</main></body></html>\n")


# --------------------------------------------------------------------------- writing


def pick_pair(names: Sequence[str], chosen: Sequence[str] | None) -> tuple[str, str]:
    """Return the two scenario names to map side by side: ``chosen``, else the first two.

    Raises
    ------
    InputError
        ``chosen`` is not two names of ``names``, or there are fewer than two scenarios.
    """
    if not chosen:
        if len(names) < 2:
            raise InputError("a side-by-side map needs two scenarios", field="--maps",
                             fix="Add a second [scenarios.NAME] table to the scenario file.")
        return names[0], names[1]
    if len(chosen) != 2:
        raise InputError(f"expected two scenario names, got {len(chosen)}", field="--maps",
                         fix="Give two names separated by a comma, such as --maps posts-2,footbeats-2.")
    for name in chosen:
        if name not in names:
            raise InputError(f"no scenario named {name!r}", field="--maps",
                             fix="Scenarios in the file: " + ", ".join(names) + ".")
    return chosen[0], chosen[1]


def write_comparison(
    runs: Sequence[ScenarioRun],
    out_dir: str | Path | OutputSet,
    *,
    name: str = "compare",
    maps: Sequence[str] | None = None,
    tiles: bool = True,
    backtests: pd.DataFrame | None = None,
    lang: str = "en",
) -> dict[str, Path]:
    """Write the table (CSV), the chart (PNG) and the side-by-side map (HTML); return their paths.

    With ``backtests`` (:func:`backtest_table`), the CSV carries each scenario's backtest
    columns beside its coverage metrics.

    Everything is built first and then written as one output set
    (:func:`passages._io.output_set`, owning every ``<name>.csv`` / ``<name>-*`` file of
    the folder), so a failure leaves the previous comparison whole. ``name`` and the
    scenario names become file names through :func:`passages._names.slug`.
    """
    name = slug(name, field="comparison name (the scenario file's name)")
    by_name = {r.scenario.name: r for r in runs}
    first, second = (by_name[n] for n in pick_pair(list(by_name), maps))
    table = metrics_table(runs)
    if backtests is not None:
        table = table.merge(backtests, on="scenario", how="left")
    area = runs[0].plan.area
    curves = coverage_curves(runs)
    chart = chart_png(runs, curves, title=f"{area.name}: coverage by officers on duty ({name})")
    page = side_by_side_html(first, second, tiles=tiles, lang=lang)
    pair_name = f"{name}-{slug(first.scenario.name, field='scenario name')}-vs-" \
                f"{slug(second.scenario.name, field='scenario name')}.html"
    folder = out_dir.target if isinstance(out_dir, OutputSet) else Path(out_dir)
    with writing_to(out_dir, folder, owns=(f"{name}.csv", f"{name}-coverage.png", f"{name}-*-vs-*.html")) as out:
        return {
            "table": out.write(f"{name}.csv", table_csv(table)),
            "chart": out.write(f"{name}-coverage.png", chart),
            "maps": out.write(pair_name, page.encode("utf-8")),
        }

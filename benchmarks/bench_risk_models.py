"""Does the plan's risk beat every baseline? Backtests of the sample areas, split by split.

For each area the dated LAPD incidents (``settings.backtest_incidents``) are backtested:

* the **split asked for** (``passages backtest --area downtown --split 2020-09-01 --offline``:
  fitted before it, tested on everything after it);
* **rolling monthly splits** (:func:`passages.rolling.rolling_backtest`): at each origin the
  risk model is chosen by rolling-origin cross-validation on the incidents before it,
  fitted there and tested on the month after it; then all of them pooled.

For every split the plan's risk and each baseline (last period's counts, grid KDE, random)
are given at 1 %, 5 % and 20 % of street length (hit rate, PAI and its 95 % interval), with
the verdict of issue 11: the plan's PAI is at least the best baseline's, or within that
baseline's interval. ``--write`` updates ``benchmarks/risk_results.md``.

Usage::

    .venv/bin/python benchmarks/bench_risk_models.py [--areas downtown,south-central] [--write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import DEFAULT_DATA, machine_lines, replace_section  # noqa: E402

from passages import settings  # noqa: E402
from passages.areas import load_areas  # noqa: E402
from passages.evaluate import backtest, load_dated_incidents  # noqa: E402
from passages.network import load_network  # noqa: E402
from passages.risk_models import default_model  # noqa: E402
from passages.rolling import BASELINES, PLAN_RISK, rolling_backtest  # noqa: E402
from passages.streetindex import StreetIndex  # noqa: E402

LEVELS = (0.01, 0.05, 0.20)

#: Per area: the split of the single backtest and the first and last rolling origin.
CASES = {
    "downtown": {"split": "2020-09-01", "rolling": ("2020-02-01", "2020-12-01")},
    "south-central": {"split": "2020-07-01", "rolling": ("2020-03-01", "2020-12-01")},
}


def judge(table: pd.DataFrame) -> tuple[list[str], bool]:
    """Return one markdown cell per level (plan vs best baseline) and whether every level passes."""
    cells, ok = [], True
    for level in LEVELS:
        at = table[np.isclose(table["coverage"], level)]
        plan = at[at["method"] == PLAN_RISK].iloc[0]
        base = at[at["method"].isin(BASELINES)].sort_values("pai", ascending=False, kind="stable").iloc[0]
        passes = plan.pai >= base.pai - 1e-9 or plan.pai >= base.pai_low
        ok &= bool(passes)
        cells.append(f"{'yes' if passes else 'NO'} (best: {base.method} {base.pai:.1f})")
    return cells, ok


def rows_of(area: str, split: str, table: pd.DataFrame, n_test: int, model: str) -> list[str]:
    lines = []
    for method in (PLAN_RISK, *BASELINES):
        cells = []
        for level in LEVELS:
            r = table[(table["method"] == method) & np.isclose(table["coverage"], level)].iloc[0]
            cells.append(f"{r.hit_rate:.0%} · PAI {r.pai:.1f} [{r.pai_low:.1f}-{r.pai_high:.1f}]")
        lines.append(f"| {area} | {split} | {n_test} | {method} | " + " | ".join(cells) + " |")
    verdict, _ = judge(table)
    lines.append("| | | | *plan ≥ best baseline or within its interval?* | " + " | ".join(verdict) + " |")
    lines.append(f"| | | | *model* | {model} | | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--areas", default=",".join(CASES), help="areas, comma-separated")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--write", action="store_true", help="update benchmarks/risk_results.md")
    parser.add_argument("--results", type=Path, default=HERE / "risk_results.md", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    areas = load_areas()
    table_lines = [
        "| area | split (test) | test incidents | method | 1 % of streets | 5 % | 20 % |",
        "|---|---|---:|---|---|---|---|",
    ]
    summary: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        for slug in [s for s in args.areas.split(",") if s]:
            area, case = areas[slug], CASES[slug]
            single = backtest(area, split=case["split"], data_dir=args.data_dir, offline=True,
                              cache_dir=Path(cache), extra_sets={}, rolls=0)
            curves = single.table[single.table["kind"] == "curve"]
            model = single.selection.model.name if single.selection is not None else "-"
            table_lines += rows_of(slug, f"{case['split']} (all after)", curves, single.test_on_street, model)
            _, ok_single = judge(curves)
            flags = "; ".join(single.flags) or "none"
            summary.append(f"- {slug}, split {case['split']} ({single.test_on_street} test incidents): "
                           f"{'meets' if ok_single else 'DOES NOT MEET'} the target at 1, 5 and 20 %. "
                           f"{single.verdict()} Flags: {flags}.")

            graph = load_network(area, area.source_paths("network", args.data_dir)[0], offline=True,
                                 cache_dir=Path(cache))
            index = StreetIndex(graph)
            points, _ = load_dated_incidents([args.data_dir / rel for rel in settings.backtest_incidents], area=area,
                                             windows=settings.backtest_windows, weekdays=settings.backtest_weekdays)
            first, last = (pd.Timestamp(d) for d in case["rolling"])
            origins = list(pd.date_range(first, last, freq="MS"))
            rolling, facts = rolling_backtest(
                index, points, origins, snap_m=settings.snap_m, fallback=default_model(),
                draws=settings.bootstrap_draws, seeds=settings.random_seeds, cell_m=settings.grid_cell_m,
                seed=settings.seed)
            passed = 0
            for fact in facts:
                split_table = rolling[rolling["split"] == fact["split"]]
                table_lines += rows_of(slug, f"{fact['split']} (month)", split_table, fact["test_incidents"],
                                       fact["model"])
                passed += judge(split_table)[1]
            pooled = rolling[rolling["split"] == "pooled"]
            n_pooled = int(pooled["test_incidents"].iloc[0]) if len(pooled) else 0
            table_lines += rows_of(slug, f"pooled ({len(facts)} months)", pooled, n_pooled, "per split")
            _, ok_pooled = judge(pooled)
            summary.append(f"- {slug}, {len(facts)} rolling monthly splits ({facts[0]['split']} to "
                           f"{facts[-1]['split']}): the target is met at every level in {passed} of {len(facts)} "
                           f"splits, and {'met' if ok_pooled else 'NOT met'} pooled ({n_pooled} test incidents).")
    elapsed = time.perf_counter() - started
    print("\n".join(table_lines))
    print("\n".join(summary))
    print(f"({elapsed:.0f} s)")
    if args.write:
        body: list[Any] = [
            f"Command: `.venv/bin/python benchmarks/bench_risk_models.py --areas {args.areas} --write` "
            f"({elapsed:.0f} s)",
            "",
            *machine_lines(),
            "",
            "Dated LAPD incidents of every hour and day (`settings.backtest_incidents`). Each cell: hit "
            "rate · PAI [95 % interval] (bootstrap of the test incidents; random: 2.5-97.5 % of 200 seeded "
            "orders). The plan's risk model is chosen at each split by rolling-origin cross-validation on "
            "the incidents before it only (`passages.risk_models.select_model`, 4 monthly folds). The "
            "target (issue 11): the plan's PAI at least the best baseline's, or within that baseline's "
            "interval. Month splits hold few incidents each: read them with the pooled row.",
            "",
            *summary,
            "",
            *table_lines,
        ]
        replace_section(args.results, "Plan risk against the baselines", body)
        print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

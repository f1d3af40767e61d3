"""How much of what an officer reads is a street name: route sheets, footbeat laps, posts and stops.

For each sample area this plans offline (default parameters), covers the passages with
the scenarios of ``scenarios/officer-coverage.toml`` and reports:

* the share of the safer routes' length whose step in the route sheet has no street name
  (described only by what the way is: "footpath", "alley"; or "unnamed way");
* the same share on every footbeat lap (worst lap shown);
* the posts and stops not named by two streets or a named place ("near ...", "unnamed corner").

Usage::

    .venv/bin/python benchmarks/names_report.py [--areas downtown,south-la] [--write]

With ``--write`` the table replaces its section of ``benchmarks/names_results.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import DEFAULT_DATA, machine_lines, replace_section  # noqa: E402

from passages.areas import load_areas  # noqa: E402
from passages.coverage import cover  # noqa: E402
from passages.plan import make_plan  # noqa: E402
from passages.scenarios import read_scenarios  # noqa: E402

SAMPLES = ("south-la", "south-central", "downtown")
SCENARIOS = HERE.parent / "scenarios" / "officer-coverage.toml"


def unnamed_share(index, segments: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """Share of the length of ``segments`` (with repeats) that has no street name."""
    segments = np.asarray(segments, dtype=np.int64)
    length = index.segment_length[segments]
    if length.sum() <= 0:
        return 0.0
    unnamed = index.segment_name[segments] == ""
    return float(length[unnamed].sum() / length.sum())


def by_source(index, segments: np.ndarray) -> str:  # type: ignore[no-untyped-def]
    """Shares of the length of ``segments`` by where their walking name comes from."""
    segments = np.asarray(segments, dtype=np.int64)
    length = index.segment_length[segments]
    source = index.segment_name_source[segments]
    parts = [f"{label} {length[source == key].sum() / max(length.sum(), 1e-9):.0%}"
             for key, label in (("osm", "OSM"), ("beside", "beside"), ("crossing", "crossing"), ("near", "off"))]
    return ", ".join(parts)


def two_streets(name: str) -> bool:
    """Whether a corner reads as two streets ("A & B", or "A, 90 m from B")."""
    return " & " in name or " m from " in name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--areas", default=",".join(SAMPLES))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    areas = load_areas()
    scenarios = read_scenarios(SCENARIOS)
    lines = ["| area | route length m | unnamed in routes | route names from | laps | worst lap unnamed | posts | "
             "stops | corners not named by two streets |", "|---|---:|---:|---|---:|---:|---:|---:|---|"]
    for slug in [s for s in args.areas.split(",") if s]:
        plans = {}
        laps, posts, stops = [], [], []
        for scenario in scenarios:
            key = repr(scenario.params)
            if key not in plans:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    plans[key] = make_plan(areas[slug], params=scenario.params, data_dir=args.data_dir, offline=True)
            coverage = cover(plans[key], scenario.coverage)
            index = plans[key].index
            laps.extend(unnamed_share(index, beat.segments) for beat in coverage.loops)
            stops.extend(stop.corner for beat in coverage.loops for stop in beat.stops)
            posts.extend(coverage.posts["corner"].tolist() if len(coverage.posts) else [])
        plan = next(iter(plans.values()))
        index = plan.index
        safer = plan.route_set.safer_segments
        flat = np.concatenate(safer) if safer else np.empty(0, dtype=np.int64)
        route_share = unnamed_share(index, flat)
        odd = sorted({c for c in posts + stops if not two_streets(c)})
        lines.append(f"| {slug} | {index.segment_length[flat].sum():,.0f} | {route_share:.1%} | "
                     f"{by_source(index, flat)} | {len(laps)} | "
                     f"{max(laps, default=0):.1%} | {len(posts)} | {len(stops)} | "
                     f"{len(odd)}{': ' + '; '.join(odd) if odd else ''} |")
        print(lines[-1], flush=True)
    if args.write:
        body = [
            "Command: `.venv/bin/python benchmarks/names_report.py --write`", "", *machine_lines(), "",
            "Plans with default parameters, offline; footbeats and posts from every scenario of "
            "`scenarios/officer-coverage.toml`. 'Unnamed' is length with no named street within 60 m (shown "
            "as \"footpath\", \"alley\"...). Route names come from OSM, from the street a way runs beside "
            "(sidewalks), from the streets a crossing crosses and runs along, or name what a way is and the "
            "street it is off (\"alley off E 5th St\").", "", *lines,
        ]
        replace_section(HERE / "names_results.md", "Street names an officer reads", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

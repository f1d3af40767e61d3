"""Time and peak memory of risk scoring and routing on synthetic networks of growing size.

Each size runs in its own child process, so that its peak memory (the child's maximum
resident set size, ``ru_maxrss``) is its own. A child builds a synthetic network from a real
sample area (:mod:`passages.synthetic`: mirrored copies of the area's central square,
incidents resampled from the area's real ones with jitter), builds the
:class:`~passages.streetindex.StreetIndex`, scores every segment
(:func:`~passages.risk.score_segments`) and routes origin-destination pairs
(:func:`~passages.routes.plan_routes`: shortest and safer path of each). The pairs join a
random node to the node nearest a point 200-1,500 m away in a random direction: the
walking distances of a plan (home to school, school to stop).

The target of issue #5: at about 500,000 edges and 1,000,000 incidents, risk scoring plus
1,000 routes in at most 60 s and at most 4 GB peak memory, on the 2-core benchmark machine.

Usage::

    .venv/bin/python benchmarks/bench_scale.py                      # four sizes up to 500k edges
    .venv/bin/python benchmarks/bench_scale.py --sizes 20000,50000  # quicker
    .venv/bin/python benchmarks/bench_scale.py --write              # also update benchmarks/results.md
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import DEFAULT_DATA, machine_lines, replace_section  # noqa: E402

#: Target time (s) and peak memory (GiB) at the largest size.
TARGET_SECONDS = 60.0
TARGET_GIB = 4.0


def od_pairs_at_walking_distance(index: Any, count: int, *, seed: int) -> Any:
    """Return ``count`` synthetic origin-destination pairs 200-1,500 m apart (a plan's columns)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    origin = rng.integers(0, index.n_nodes, size=count)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=count)
    reach = rng.uniform(200.0, 1500.0, size=count)
    aim = index.node_xy[origin] + np.c_[reach * np.cos(angle), reach * np.sin(angle)]
    dest, _ = index.nearest_node_xy(aim)
    return pd.DataFrame({
        "pair_id": [f"S{i + 1:05d}" for i in range(count)], "purpose": "synthetic",
        "origin_id": [f"node-{n}" for n in index.node_ids[origin]], "origin_name": "synthetic origin",
        "origin_node": index.node_ids[origin], "dest_id": [f"node-{n}" for n in index.node_ids[dest]],
        "dest_name": "synthetic destination", "dest_kind": "synthetic", "dest_node": index.node_ids[dest],
        "demand": 1.0,
    })


def run_child(edges: int, incidents: int, routes: int, *, area_slug: str, data_dir: Path, seed: int) -> dict[str, Any]:
    """Measure one size in this process; return its figures."""
    from passages.areas import load_areas
    from passages.risk import score_segments
    from passages.routes import plan_routes
    from passages.streetindex import StreetIndex
    from passages.synthetic import synthetic_city

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:  # the benchmark leaves no cache behind
        city = synthetic_city(load_areas()[area_slug], target_edges=edges, incident_count=incidents,
                              data_dir=data_dir, seed=seed, cache_dir=cache)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    index = StreetIndex(city.graph)
    index_s = time.perf_counter() - started
    started = time.perf_counter()
    score = score_segments(index, city.incidents)
    risk_s = time.perf_counter() - started
    pairs = od_pairs_at_walking_distance(index, routes, seed=seed)
    started = time.perf_counter()
    route_set = plan_routes(index, pairs, score.risk_per_100m)
    routes_s = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "synthetic": bool(city.graph.graph.get("synthetic")),
        "source": city.graph.graph["source"],
        "tiles": f"{city.layout.columns} x {city.layout.rows}",
        "nodes": city.graph.number_of_nodes(), "edges": city.graph.number_of_edges(),
        "segments": index.n_segments, "incidents": len(city.incidents), "snapped": score.snapped,
        "routes": len(route_set.routes), "build_s": build_s, "index_s": index_s, "risk_s": risk_s,
        "routes_s": routes_s, "peak_gib": peak_kib / 2**20,
    }


def measure(edges: int, *, incidents_per_edge: float, routes: int, area_slug: str, data_dir: Path,
            seed: int) -> dict[str, Any]:
    """Run one size in a child process and return its figures."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(edges),
               "--incidents-per-edge", str(incidents_per_edge), "--routes", str(routes),
               "--area", area_slug, "--data-dir", str(data_dir), "--seed", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"size {edges} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    # the parent's view of its children's peak agrees with the child's own (Linux: KiB)
    figures["children_peak_gib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return figures


def table(rows: list[dict[str, Any]]) -> list[str]:
    """Return the results as markdown table lines."""
    lines = [
        "| target edges | nodes | edges | segments | incidents | routes | build network s | StreetIndex s "
        "| risk s | routes s | risk + routes s | peak GiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['target']:,} | {r['nodes']:,} | {r['edges']:,} | {r['segments']:,} | {r['incidents']:,} "
            f"| {r['routes']:,} | {r['build_s']:.1f} | {r['index_s']:.1f} | {r['risk_s']:.1f} | {r['routes_s']:.1f} "
            f"| **{r['risk_s'] + r['routes_s']:.1f}** | **{r['peak_gib']:.2f}** |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="60000,125000,250000,500000",
                        help="target directed-edge counts, comma-separated (default: four up to 500,000)")
    parser.add_argument("--incidents-per-edge", type=float, default=2.0,
                        help="synthetic incidents per edge (default 2: 1,000,000 at 500,000 edges)")
    parser.add_argument("--routes", type=int, default=1000, help="origin-destination pairs routed (default 1000)")
    parser.add_argument("--area", default="downtown", help="real sample area the network is built from")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="update the scale section of benchmarks/results.md")
    parser.add_argument("--results", type=Path, default=HERE / "results.md", help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        figures = run_child(args.child, round(args.child * args.incidents_per_edge), args.routes,
                            area_slug=args.area, data_dir=args.data_dir, seed=args.seed)
        print(json.dumps(figures))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    for edges in sizes:
        figures = measure(edges, incidents_per_edge=args.incidents_per_edge, routes=args.routes,
                          area_slug=args.area, data_dir=args.data_dir, seed=args.seed)
        figures["target"] = edges
        rows.append(figures)
        print(f"{edges:>9,} target edges: {figures['edges']:,} edges, {figures['incidents']:,} incidents, "
              f"risk {figures['risk_s']:.1f} s + routes {figures['routes_s']:.1f} s "
              f"= {figures['risk_s'] + figures['routes_s']:.1f} s, peak {figures['peak_gib']:.2f} GiB", flush=True)
    largest = rows[-1]
    total = largest["risk_s"] + largest["routes_s"]
    verdict = (f"At {largest['edges']:,} edges and {largest['incidents']:,} incidents: risk + {largest['routes']:,} "
               f"routes {total:.1f} s (target <= {TARGET_SECONDS:.0f} s), peak {largest['peak_gib']:.2f} GiB "
               f"(target <= {TARGET_GIB:.0f} GiB): "
               + ("met." if total <= TARGET_SECONDS and largest["peak_gib"] <= TARGET_GIB else "NOT met."))
    print(verdict)
    if args.write:
        body = [
            f"Command: `.venv/bin/python benchmarks/bench_scale.py --sizes {args.sizes} --write`",
            "",
            *machine_lines(),
            "",
            f"Networks (synthetic, no real place): {largest['source'].replace(str(args.data_dir), 'shared/data')}. "
            "Incidents resampled "
            f"from the real ones of `{args.area}` ({args.incidents_per_edge:g} per edge, 10 m jitter); "
            f"{args.routes:,} origin-destination pairs 200-1,500 m apart, each routed by its shortest and "
            "its safer path. One child process per size; peak = the child's maximum resident set size "
            "(everything: graph, index, incidents, results).",
            "",
            *table(rows),
            "",
            verdict,
        ]
        replace_section(args.results, "Scale", body)
        print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

The target of issue #14: the 1,000,000 incidents snapped and scored in at most half the
11.6 s of the table before it, at no higher peak memory (1.34 GiB), with identical results.
The risk stage is reported in two parts, *snap* (:meth:`~passages.streetindex.StreetIndex.snap_points`,
building its KD-tree on first use) and *score* (the rest of
:func:`~passages.risk.score_segments`: the network kernel). After the peak memory is read,
the child scores the same incidents again the way the package did before issue #14
(:func:`reference_snap_positions`: shapely's ``STRtree.query_nearest`` and
``line_locate_point``; :func:`reference_spread_positions`: the kernel routed incident chunk by
incident chunk on dense tiles) and checks that every incident has the same segment, that
distances and offsets agree to 1e-9 m and the risk per segment to 1e-12 (relative); it
stops with an error otherwise. ``--check-sample N`` checks N incidents only (quicker).

Usage::

    .venv/bin/python benchmarks/bench_scale.py                      # four sizes up to 500k edges
    .venv/bin/python benchmarks/bench_scale.py --sizes 20000,50000  # quicker
    .venv/bin/python benchmarks/bench_scale.py --write              # also update benchmarks/results.md
    .venv/bin/python benchmarks/bench_scale.py --check-sample 20000  # check a sample against the reference
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

#: Risk seconds and peak GiB at 500,000 target edges before issue #14 (the table it quotes).
BEFORE_RISK_S = 11.6
BEFORE_PEAK_GIB = 1.34

#: Largest gaps allowed between the package and the reference: metres (distance, offset)
#: and relative risk per segment.
SNAP_GAP_M = 1e-9
RISK_GAP = 1e-12

#: Incident positions per chunk and least tile side (m) of the reference kernel (the package's before #14).
REFERENCE_POSITION_CHUNK = 20_000
REFERENCE_MIN_TILE_M = 800.0


# -- the reference: snapping and the kernel as the package did them before issue #14 ---------


def reference_snap_points(index: Any, xy: Any, *, max_distance_m: float) -> tuple[Any, Any, Any]:
    """Segment, distance and offset of each point by shapely: ``STRtree.query_nearest``, ``line_locate_point``."""
    import numpy as np
    import shapely

    from passages._graph_search import first_of_ties
    from passages.streetindex import SNAP_CELL_M

    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    segment = np.full(len(xy), -1, dtype=np.int64)
    distance = np.full(len(xy), np.inf)
    offset = np.zeros(len(xy))
    if len(xy) == 0 or index.n_segments == 0:
        return segment, distance, offset
    cell = np.floor((xy - xy.min(axis=0)) / SNAP_CELL_M).astype(np.int64)
    order = np.lexsort((cell[:, 1], cell[:, 0]))
    points = np.asarray(shapely.points(xy), dtype=object)
    (sorted_idx, seg_idx), dist = index.segment_tree.query_nearest(
        points[order], max_distance=max_distance_m, return_distance=True, all_matches=True)
    sorted_idx, seg_idx, dist = first_of_ties(sorted_idx, seg_idx, dist)  # lowest segment of equally near ones
    point_idx = order[sorted_idx]
    segment[point_idx] = seg_idx
    distance[point_idx] = dist
    along = shapely.line_locate_point(index.segment_geometry[seg_idx], points[point_idx])
    geom_len = shapely.length(index.segment_geometry[seg_idx])
    scale = np.divide(index.segment_length[seg_idx], geom_len, out=np.ones_like(geom_len), where=geom_len > 0)
    offset[point_idx] = np.clip(along * scale, 0.0, index.segment_length[seg_idx])
    return segment, distance, offset


def reference_snap_positions(index: Any, xy: Any, *, snap_m: float) -> tuple[Any, Any]:
    """:func:`passages.risk.snap_positions` on :func:`reference_snap_points`."""
    segment, _, offset = reference_snap_points(index, xy, max_distance_m=snap_m)
    return segment, offset


def reference_spread_positions(index: Any, segment: Any, offset: Any, weight: Any, *, bandwidths_m: Any) -> Any:
    """:func:`passages.risk.spread_positions` as it was: chunks of incident positions, dense tiles of distances.

    For each chunk of positions (in spatial order), the distances from both ends of their
    segments to the segments within the radius, routed on square tiles of end nodes; per
    position the nearer way round to each segment, then the quartic kernel.
    """
    import numpy as np

    from passages.streetindex import ONE_BLOCK_ENTRIES, TILE_RADII

    bandwidths = np.asarray(list(bandwidths_m), dtype=float)
    mass = np.zeros((len(bandwidths), index.n_segments))
    segment = np.asarray(segment, dtype=np.int64)
    weight = np.asarray(weight, dtype=float)
    keep = weight != 0
    if not keep.any() or index.n_segments == 0:
        return mass
    positions, inverse = np.unique(np.stack([segment[keep].astype(float), np.asarray(offset, float)[keep]], axis=1),
                                   axis=0, return_inverse=True)
    pos_weight = np.bincount(np.asarray(inverse).reshape(-1), weights=weight[keep], minlength=len(positions))
    pos_seg, pos_off = positions[:, 0].astype(np.int64), positions[:, 1]
    radius = float(bandwidths.max())
    length = index.segment_length
    mid = 0.5 * (index.node_xy[index.segment_u[pos_seg]] + index.node_xy[index.segment_v[pos_seg]])
    cell = np.floor((mid - mid.min(axis=0)) / max(2 * radius, 50.0)).astype(np.int64)
    spatial = np.lexsort((pos_seg, cell[:, 1], cell[:, 0]))

    def node_segment_pairs(nodes: Any) -> tuple[Any, Any, Any]:
        parts = []
        small = len(np.unique(nodes)) * index.n_nodes <= ONE_BLOCK_ENTRIES
        tile_m = None if small else max(TILE_RADII * radius, REFERENCE_MIN_TILE_M)
        for block in index.local_distances(nodes, radius_m=radius, tile_m=tile_m):
            nearer = block.segment_distance()
            row, col = np.nonzero(nearer < radius)
            parts.append((block.sources[row], block.segments[col], nearer[row, col]))
        node, seg, dist = (np.concatenate(p) for p in zip(*parts, strict=True))
        order = np.argsort(node, kind="stable")
        return node[order], seg[order], dist[order]

    for start in range(0, len(spatial), REFERENCE_POSITION_CHUNK):
        chunk = spatial[start : start + REFERENCE_POSITION_CHUNK]
        seg, off, w = pos_seg[chunk], pos_off[chunk], pos_weight[chunk]
        ends_u, ends_v = index.segment_u[seg], index.segment_v[seg]
        node, near_seg, near_d = node_segment_pairs(np.concatenate([ends_u, ends_v]))
        bounds = np.searchsorted(node, np.arange(index.n_nodes + 1))
        owners, segs, dists = [], [], []
        for ends, lead in ((ends_u, off), (ends_v, length[seg] - off)):
            sizes = bounds[ends + 1] - bounds[ends]
            owner = np.repeat(np.arange(len(sizes)), sizes)
            at = np.arange(int(sizes.sum())) - (np.cumsum(sizes) - sizes)[owner] + bounds[ends][owner]
            owners.append(owner)
            segs.append(near_seg[at])
            dists.append(lead[owner] + near_d[at])
        owner, target, dist = np.concatenate(owners), np.concatenate(segs), np.concatenate(dists)
        dist[target == seg[owner]] = 0.0
        order = np.lexsort((dist, target, owner))
        owner, target, dist = owner[order], target[order], dist[order]
        first = np.r_[True, (owner[1:] != owner[:-1]) | (target[1:] != target[:-1])]
        owner, target, dist = owner[first], target[first], dist[first]
        for b, bandwidth in enumerate(bandwidths):
            near = dist < bandwidth
            o, t = owner[near], target[near]
            share = (1.0 - (dist[near] / bandwidth) ** 2) ** 2 * length[t]
            total = np.bincount(o, weights=share, minlength=len(chunk))
            empty = total <= 0
            part = share * (w / np.where(empty, 1.0, total))[o]
            mass[b] += np.bincount(t, weights=part, minlength=index.n_segments)
            mass[b] += np.bincount(seg[empty], weights=w[empty], minlength=index.n_segments)
    return mass


def check_against_reference(index: Any, incidents: Any, score: Any, snapped: tuple[Any, Any, Any],
                            sample: int | None, seed: int) -> dict[str, Any]:
    """Snap and score (a sample of) the incidents the reference way; return the largest gaps and its times."""
    import numpy as np
    import shapely

    from passages import risk, settings

    xy = shapely.get_coordinates(incidents.geometry.to_numpy())
    rows = np.arange(len(xy))
    if sample is not None and sample < len(xy):
        rows = np.sort(np.random.default_rng(seed).choice(len(xy), size=sample, replace=False))
    segment, distance, offset = (a[rows] for a in snapped)
    started = time.perf_counter()
    ref_segment, ref_distance, ref_offset = reference_snap_points(index, xy[rows], max_distance_m=settings.snap_m)
    ref_snap_s = time.perf_counter() - started
    both = (segment >= 0) & (ref_segment >= 0)
    figures: dict[str, Any] = {
        "checked": len(rows), "ref_snap_s": ref_snap_s,
        "segments_differ": int((segment != ref_segment).sum()),
        "distance_gap_m": float(np.abs(distance[both] - ref_distance[both]).max(initial=0.0)),
        "offset_gap_m": float(np.abs(offset[both] - ref_offset[both]).max(initial=0.0)),
    }
    ours = score if len(rows) == len(xy) else risk.score_segments(index, incidents.iloc[rows])
    saved = risk.snap_positions, risk.spread_positions
    risk.snap_positions, risk.spread_positions = reference_snap_positions, reference_spread_positions
    try:
        started = time.perf_counter()
        ref = risk.score_segments(index, incidents.iloc[rows])
        figures["ref_risk_s"] = time.perf_counter() - started
    finally:
        risk.snap_positions, risk.spread_positions = saved
    scale = np.maximum(np.abs(ref.risk_per_100m), 1e-300)
    figures["risk_gap"] = float((np.abs(ours.risk_per_100m - ref.risk_per_100m) / scale).max(initial=0.0))
    figures["same_hot"] = bool(np.array_equal(ours.hot, ref.hot))
    return figures


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


def run_child(edges: int, incidents: int, routes: int, *, area_slug: str, data_dir: Path, seed: int,
              check: bool = True, check_sample: int | None = None) -> dict[str, Any]:
    """Measure one size in this process; return its figures (and those of the check against the reference)."""
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
    # the snap's share of the risk stage: the index's snap_points, timed from inside score_segments
    snap_timing: dict[str, Any] = {"s": 0.0}
    snap_points = index.snap_points

    def timed_snap(xy: Any, *, max_distance_m: float) -> Any:
        started = time.perf_counter()
        snap_timing["result"] = snap_points(xy, max_distance_m=max_distance_m)
        snap_timing["s"] += time.perf_counter() - started
        return snap_timing["result"]

    index.snap_points = timed_snap  # type: ignore[method-assign]
    started = time.perf_counter()
    score = score_segments(index, city.incidents)
    risk_s = time.perf_counter() - started
    index.snap_points = snap_points  # type: ignore[method-assign]
    pairs = od_pairs_at_walking_distance(index, routes, seed=seed)
    started = time.perf_counter()
    route_set = plan_routes(index, pairs, score.risk_per_100m)
    routes_s = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, read before the check
    checked = check_against_reference(index, city.incidents, score, snap_timing["result"], check_sample, seed) \
        if check else {}
    return {
        "synthetic": bool(city.graph.graph.get("synthetic")),
        "source": city.graph.graph["source"],
        "tiles": f"{city.layout.columns} x {city.layout.rows}",
        "nodes": city.graph.number_of_nodes(), "edges": city.graph.number_of_edges(),
        "segments": index.n_segments, "incidents": len(city.incidents), "snapped": score.snapped,
        "routes": len(route_set.routes), "build_s": build_s, "index_s": index_s, "risk_s": risk_s,
        "snap_s": snap_timing["s"], "score_s": risk_s - snap_timing["s"],
        "routes_s": routes_s, "peak_gib": peak_kib / 2**20, **checked,
    }


def measure(edges: int, *, incidents_per_edge: float, routes: int, area_slug: str, data_dir: Path,
            seed: int, check_sample: int | None = None) -> dict[str, Any]:
    """Run one size in a child process and return its figures; stop if it disagrees with the reference."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(edges),
               "--incidents-per-edge", str(incidents_per_edge), "--routes", str(routes),
               "--area", area_slug, "--data-dir", str(data_dir), "--seed", str(seed)]
    if check_sample is not None:
        command += ["--check-sample", str(check_sample)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"size {edges} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    problems = disagreements(figures)
    if problems:
        raise SystemExit(f"size {edges}: the package and the reference disagree: " + "; ".join(problems))
    # the parent's view of its children's peak agrees with the child's own (Linux: KiB)
    figures["children_peak_gib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return figures


def disagreements(figures: dict[str, Any]) -> list[str]:
    """Return what differs between the package and the reference (nothing when they agree)."""
    problems = []
    if figures.get("segments_differ", 0):
        problems.append(f"{figures['segments_differ']} incidents snapped to another segment")
    if figures.get("distance_gap_m", 0.0) > SNAP_GAP_M or figures.get("offset_gap_m", 0.0) > SNAP_GAP_M:
        gap = max(figures["distance_gap_m"], figures["offset_gap_m"])
        problems.append(f"distances or offsets differ by up to {gap:.3g} m")
    if figures.get("risk_gap", 0.0) > RISK_GAP:
        problems.append(f"risk per segment differs (largest relative gap {figures['risk_gap']:.3g})")
    if not figures.get("same_hot", True):
        problems.append("other hot segments")
    return problems


def table(rows: list[dict[str, Any]]) -> list[str]:
    """Return the results as markdown table lines."""
    lines = [
        "| target edges | nodes | edges | segments | incidents | routes | build network s | StreetIndex s "
        "| snap s | score s | risk s | reference risk s | routes s | risk + routes s | peak GiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        reference = f"{r['ref_risk_s']:.1f}" if "ref_risk_s" in r and r["checked"] == r["incidents"] else "-"
        lines.append(
            f"| {r['target']:,} | {r['nodes']:,} | {r['edges']:,} | {r['segments']:,} | {r['incidents']:,} "
            f"| {r['routes']:,} | {r['build_s']:.1f} | {r['index_s']:.1f} | {r['snap_s']:.1f} | {r['score_s']:.1f} "
            f"| {r['risk_s']:.1f} | {reference} | {r['routes_s']:.1f} "
            f"| **{r['risk_s'] + r['routes_s']:.1f}** | **{r['peak_gib']:.2f}** |"
        )
    return lines


def check_line(r: dict[str, Any]) -> str:
    """Return one line saying what was checked against the reference at one size and the largest gaps."""
    if "checked" not in r:
        return f"- {r['target']:,} target edges: not checked against the reference"
    which = "every incident" if r["checked"] == r["incidents"] else f"{r['checked']:,} incidents (a random sample)"
    return (f"- {r['target']:,} target edges, {which}: {r['segments_differ']} on another segment; largest gap in "
            f"distance {r['distance_gap_m']:.2g} m, in offset {r['offset_gap_m']:.2g} m, in risk per segment "
            f"{r['risk_gap']:.2g} (relative); {'the same' if r['same_hot'] else 'OTHER'} hot segments; "
            f"reference snap {r['ref_snap_s']:.1f} s, snap + score {r['ref_risk_s']:.1f} s")


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
    parser.add_argument("--check-sample", type=int, default=None,
                        help="check only this many incidents (a random sample) against the reference (default: all)")
    parser.add_argument("--write", action="store_true", help="update the scale section of benchmarks/results.md")
    parser.add_argument("--results", type=Path, default=HERE / "results.md", help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        figures = run_child(args.child, round(args.child * args.incidents_per_edge), args.routes,
                            area_slug=args.area, data_dir=args.data_dir, seed=args.seed,
                            check_sample=args.check_sample)
        print(json.dumps(figures))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    for edges in sizes:
        figures = measure(edges, incidents_per_edge=args.incidents_per_edge, routes=args.routes,
                          area_slug=args.area, data_dir=args.data_dir, seed=args.seed, check_sample=args.check_sample)
        figures["target"] = edges
        rows.append(figures)
        print(f"{edges:>9,} target edges: {figures['edges']:,} edges, {figures['incidents']:,} incidents, "
              f"risk {figures['risk_s']:.1f} s (snap {figures['snap_s']:.1f} + score {figures['score_s']:.1f}) "
              f"+ routes {figures['routes_s']:.1f} s = {figures['risk_s'] + figures['routes_s']:.1f} s, "
              f"peak {figures['peak_gib']:.2f} GiB", flush=True)
        print(" " * 10 + check_line(figures)[2:], flush=True)
    largest = rows[-1]
    total = largest["risk_s"] + largest["routes_s"]
    verdict = (f"At {largest['edges']:,} edges and {largest['incidents']:,} incidents: risk + {largest['routes']:,} "
               f"routes {total:.1f} s (target <= {TARGET_SECONDS:.0f} s), peak {largest['peak_gib']:.2f} GiB "
               f"(target <= {TARGET_GIB:.0f} GiB): "
               + ("met." if total <= TARGET_SECONDS and largest["peak_gib"] <= TARGET_GIB else "NOT met."))
    print(verdict)
    scale_verdict = ""
    if largest["target"] == 500_000 and largest["incidents"] == 1_000_000:
        same = "checked" in largest and largest["checked"] == largest["incidents"]
        met = largest["risk_s"] <= BEFORE_RISK_S / 2 and largest["peak_gib"] <= BEFORE_PEAK_GIB and same
        reference = (f"; the reference way in this run {largest['ref_risk_s']:.1f} s, "
                     f"{largest['ref_risk_s'] / largest['risk_s']:.1f}x longer") if same else ""
        checked = "every incident checked against the reference" if same else "not every incident checked"
        scale_verdict = (f"Issue #14: 1,000,000 incidents snapped and scored in {largest['risk_s']:.1f} s "
                         f"(target <= half of {BEFORE_RISK_S} s{reference}), peak {largest['peak_gib']:.2f} GiB "
                         f"(target <= {BEFORE_PEAK_GIB} GiB), {checked}: " + ("met." if met else "NOT met."))
        print(scale_verdict)
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
            "Snap: `StreetIndex.snap_points` on every incident (its KD-tree built on first use); score: the rest of "
            "`score_segments` (the network kernel). Reference risk: the same incidents scored again in the same child "
            "the way the package did before issue #14 (shapely `STRtree.query_nearest` and `line_locate_point`; "
            "the kernel routed chunk by chunk on dense tiles), after the peak was read. Checked against it:",
            "",
            *[check_line(r) for r in rows],
            "",
            verdict,
            *([scale_verdict] if scale_verdict else []),
        ]
        replace_section(args.results, "Scale", body)
        print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

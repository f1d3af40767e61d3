"""Peak memory of reading a large weighted incident CSV, against the size of the file.

The script writes a weighted-points CSV (``LAT, LON, HOUR, WEIGHT``, the format of the
real hourly sample ``incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv``)
of 5,000,000 rows into a temporary folder, then runs
:func:`passages.incidents.load_incidents` on it for one sample area in a child process, so
that the peak memory measured (the child's maximum resident set size, ``ru_maxrss``) is that
of the read alone. The rows are drawn with replacement from the real sample's rows (seeded),
so the values, the share of rows inside an area and the file size per row are those of real
data; the file is deleted afterwards.

The target of issue #9: peak resident memory at most 3 x the file size. The peak includes
the interpreter and the libraries imported (numpy, pandas, geopandas, shapely, pyproj);
that baseline, measured in a second child that only imports them, is reported beside it.

Usage::

    .venv/bin/python benchmarks/bench_memory.py                  # 5,000,000 rows, downtown
    .venv/bin/python benchmarks/bench_memory.py --rows 200000    # quicker
    .venv/bin/python benchmarks/bench_memory.py --write          # also update benchmarks/memory_results.md
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

#: Target: peak resident memory of the read at most this many times the file size.
TARGET_RATIO = 3.0

#: The real weighted sample the rows are drawn from, relative to the shared data folder.
SAMPLE = "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv"

#: Rows written per block while generating the file (keeps the generator's memory small).
_BLOCK_ROWS = 500_000

_RESULTS_HEADER = """# Memory benchmark results

Written by `bench_memory.py --write`; every section says the command, the date and the
machine it was measured on. No test asserts these figures.
"""


def write_weighted_csv(path: Path, rows: int, *, sample: Path, seed: int) -> int:
    """Write ``rows`` weighted points drawn with replacement from ``sample``; return the size.

    Parameters
    ----------
    path
        The CSV written (``LAT,LON,HOUR,WEIGHT``; degrees, hour 0-23, incidents per point).
    rows
        Data rows written.
    sample
        A real weighted CSV whose rows are resampled (values kept as written there).
    seed
        Seed of the draw: the same seed gives the same file.

    Returns
    -------
    int
        Size of the file written, in bytes.
    """
    import numpy as np
    import pandas as pd

    real = pd.read_csv(sample, dtype=str)
    lines = (real["LAT"] + "," + real["LON"] + "," + real["HOUR"] + "," + real["WEIGHT"] + "\n").to_numpy()
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("LAT,LON,HOUR,WEIGHT\n")
        for start in range(0, rows, _BLOCK_ROWS):
            picked = rng.integers(0, len(lines), size=min(_BLOCK_ROWS, rows - start))
            handle.write("".join(lines[picked]))
    return path.stat().st_size


def run_child(path: Path | None, area_slug: str) -> dict[str, Any]:
    """Import the libraries (and read ``path`` if given) in this process; return its figures."""
    import geopandas  # noqa: F401
    import pandas  # noqa: F401
    import pyproj  # noqa: F401

    from passages.areas import load_areas
    from passages.incidents import load_incidents

    area = load_areas()[area_slug]
    figures: dict[str, Any] = {}
    if path is not None:
        started = time.perf_counter()
        result = load_incidents(path, area=area)
        figures.update(seconds=time.perf_counter() - started, rows_read=result.report.rows_read,
                       used=result.report.used, dropped=result.report.dropped)
    figures["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return figures


def measure(path: Path | None, area_slug: str) -> dict[str, Any]:
    """Run :func:`run_child` in a child process and return its figures."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(path or ""), "--area", area_slug]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the child failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="data rows of the file (default 5,000,000)")
    parser.add_argument("--area", default="downtown", help="sample area the incidents are read for")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="update benchmarks/memory_results.md")
    parser.add_argument("--results", type=Path, default=HERE / "memory_results.md", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(run_child(Path(args.child) if args.child else None, args.area)))
        return 0

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weighted_points.csv"
        size = write_weighted_csv(path, args.rows, sample=args.data_dir / SAMPLE, seed=args.seed)
        baseline = measure(None, args.area)
        read = measure(path, args.area)
    ratio = read["peak_bytes"] / size
    above = (read["peak_bytes"] - baseline["peak_bytes"]) / size
    mib = 2**20
    verdict = (f"{args.rows:,} rows, {size / mib:.1f} MiB: peak {read['peak_bytes'] / mib:.0f} MiB = "
               f"{ratio:.2f} x the file (target <= {TARGET_RATIO:g} x): "
               + ("met." if ratio <= TARGET_RATIO else "NOT met."))
    print(f"imports alone: {baseline['peak_bytes'] / mib:.0f} MiB; read {read['seconds']:.1f} s, "
          f"{read['used']:,} of {read['rows_read']:,} rows used")
    print(verdict)
    if args.write:
        command = "python benchmarks/bench_memory.py" + (f" --rows {args.rows}" if args.rows != 5_000_000 else "")
        body = [
            f"Command: `.venv/bin/python {command.removeprefix('python ')} --area {args.area} --write`",
            "",
            *machine_lines(),
            "",
            f"File: {args.rows:,} rows of `LAT,LON,HOUR,WEIGHT` drawn with replacement (seed {args.seed}) from "
            f"the rows of the real hourly sample `shared/data/{SAMPLE}`, written to a temporary folder. "
            f"Read with `load_incidents(file, area=load_areas()[{args.area!r}])` (default windows and weekdays) "
            "in a child process; peak = the child's maximum resident set size (`ru_maxrss`), interpreter "
            "and libraries included. The imports alone are measured in a second child.",
            "",
            "| rows | file MiB | imports alone MiB | peak MiB | peak / file | (peak - imports) / file "
            "| rows used | read s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {args.rows:,} | {size / mib:.1f} | {baseline['peak_bytes'] / mib:.0f} "
            f"| {read['peak_bytes'] / mib:.0f} | **{ratio:.2f}** | {above:.2f} | {read['used']:,} "
            f"| {read['seconds']:.1f} |",
            "",
            verdict,
        ]
        if not args.results.is_file():
            args.results.write_text(_RESULTS_HEADER, encoding="utf-8")
        replace_section(args.results, f"Weighted CSV, {args.rows:,} rows", body)
        print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Whole-process time and peak memory of the commands a user waits for, against an older commit.

What a planner waits for is the whole process: starting Python, importing the libraries,
reading the inputs, planning, drawing and writing. This script runs each command as a
child process several times and reports the median wall time and the child's peak
resident memory (``ru_maxrss`` from ``os.wait4``), for this checkout and for a reference
commit (by default :data:`BASE`, the last commit before the work of issue #14), checked
out with ``git archive`` into a temporary folder and run with the same Python, the same
libraries and the same data, in the same run. Each side runs in its own working folder,
so each keeps its own ``data/processed`` caches; every command is run once before it is
timed, so the caches are warm (the user's second plan).

Commands:

* ``passages --help``;
* ``passages plan --area downtown --offline``;
* ``passages brief scenarios/officer-coverage.toml --area downtown --offline`` (six
  scenarios; ``--brief-runs 0`` leaves it out).

``--help`` and plan are timed again for this checkout with the warm daemon running
(``passages daemon start``, :mod:`passages._daemon`): each command then runs in a fork of a
process that has the libraries imported. Their peak memory is the client's only (the work
runs in the daemon's child), so none is given for them.

Targets of issue #14: plan median at most 1.5 s and at most a quarter of the reference's;
``--help`` under 0.5 s; brief at most a third of the reference's.

Usage::

    .venv/bin/python benchmarks/bench_cli.py                   # 7 runs per command, brief 3
    .venv/bin/python benchmarks/bench_cli.py --runs 3 --brief-runs 1
    .venv/bin/python benchmarks/bench_cli.py --write           # also update benchmarks/results.md
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import DEFAULT_DATA, ROOT, machine_lines, replace_section  # noqa: E402

#: The last commit before issue #14's changes (whole-process figures measured against it).
BASE = "24396d6"

#: Targets: plan median (s), plan share of the reference, help median (s), brief share.
PLAN_TARGET_S = 1.5
PLAN_TARGET_SHARE = 0.25
HELP_TARGET_S = 0.5
BRIEF_TARGET_SHARE = 1 / 3


@dataclass
class Runs:
    """Wall times (s) and peak resident memory (MiB) of the timed runs of one command."""

    wall_s: list[float]
    peak_mib: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.wall_s)


def run_once(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run ``argv`` as a child; return its wall time (s) and peak resident memory (MiB)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:])} failed in {cwd} ({child.returncode}):\n"
                         + errors.decode("utf-8", "replace")[-3000:])
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def measure(argv: list[str], *, cwd: Path, env: dict[str, str], runs: int) -> Runs:
    """Run ``argv`` once to warm the caches, then ``runs`` times timed."""
    run_once(argv, cwd=cwd, env=env)
    timed = [run_once(argv, cwd=cwd, env=env) for _ in range(runs)]
    return Runs([w for w, _ in timed], [m for _, m in timed])


def checkout(commit: str, folder: Path) -> Path:
    """Extract ``commit`` of this repository into ``folder`` (``git archive``); return it."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def side_env(code_root: Path, data_dir: Path) -> dict[str, str]:
    """Return the environment that makes ``python -m passages`` run the code in ``code_root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSAGES_")}
    env.update(PYTHONPATH=str(code_root), PASSAGES_DATA=str(data_dir), PYTHONDONTWRITEBYTECODE="")
    return env


def check_side(code_root: Path, env: dict[str, str], cwd: Path) -> None:
    """Refuse to go on unless a child started in ``cwd`` imports ``passages`` from ``code_root``."""
    found = subprocess.run([sys.executable, "-c", "import passages; print(passages.__file__)"], env=env,
                           cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(code_root.resolve()):
        raise SystemExit(f"the child imported passages from {found}, not from {code_root}")


def commands(code_root: Path, out: Path, *, brief: bool) -> dict[str, list[str]]:
    python = [sys.executable, "-m", "passages"]
    chosen = {
        "passages --help": [*python, "--help"],
        "passages plan --area downtown --offline": [*python, "plan", "--area", "downtown", "--offline",
                                                    "--out", str(out / "plan")],
    }
    if brief:
        chosen["passages brief (6 scenarios) --area downtown --offline"] = [
            *python, "brief", str(code_root / "scenarios" / "officer-coverage.toml"), "--area", "downtown",
            "--offline", "--out", str(out / "brief")]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=BASE, help=f"reference commit (default {BASE})")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of --help and plan (default 7)")
    parser.add_argument("--brief-runs", type=int, default=3, help="timed runs of brief (default 3; 0 leaves it out)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--results", type=Path, default=HERE / "results.md", help="the results file --write updates")
    parser.add_argument("--write", action="store_true", help="update the section of benchmarks/results.md")
    args = parser.parse_args(argv)
    if not (args.data_dir / "osm").is_dir():
        raise SystemExit(f"no shared data in {args.data_dir}: give --data-dir or set PASSAGES_DATA")
    base_hash = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base],
                               capture_output=True, text=True, check=True).stdout.strip()
    head_hash = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                               capture_output=True, text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout.strip()
    results: dict[str, dict[str, Runs]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        base_root = checkout(args.base, Path(tmp) / "base-code")
        sides = {"this checkout": ROOT, f"reference {base_hash}": base_root}
        for side, code_root in sides.items():
            env = side_env(code_root, args.data_dir.resolve())
            work = Path(tmp) / side.replace(" ", "-")
            work.mkdir()
            check_side(code_root, env, work)
            for name, command in commands(code_root, work / "out", brief=args.brief_runs > 0).items():
                runs = args.brief_runs if name.startswith("passages brief") else args.runs
                print(f"{side}: {name} ({runs} runs) ...", file=sys.stderr, flush=True)
                results.setdefault(name, {})[side] = measure(command, cwd=work, env=env, runs=runs)
            if code_root == ROOT:
                measure_with_daemon(results, env, work, Path(tmp) / "daemon", runs=args.runs)
    lines = report(results, base_hash=base_hash, head=head_hash + (" with uncommitted changes" if dirty else ""),
                   runs=args.runs, brief_runs=args.brief_runs)
    print("\n".join(lines))
    if args.write:
        invoked = "`.venv/bin/python benchmarks/bench_cli.py " + " ".join(argv or sys.argv[1:]) + "`"
        replace_section(args.results, "Whole process (command line)",
                        [f"Command: {invoked}", "", *machine_lines(), "", *lines])
    return 0


#: Suffix of the commands timed with the warm daemon running.
DAEMON = " (warm daemon)"


def measure_with_daemon(results: dict[str, dict[str, Runs]], env: dict[str, str], work: Path, folder: Path, *,
                        runs: int) -> None:
    """Time ``--help`` and plan of this checkout again with ``passages daemon`` running."""
    env = {**env, "PASSAGES_DAEMON_DIR": str(folder)}
    python = [sys.executable, "-m", "passages"]
    subprocess.run([*python, "daemon", "start"], env=env, cwd=work, check=True, capture_output=True)
    try:
        for name, command in commands(ROOT, work / "out-daemon", brief=False).items():
            print(f"this checkout: {name}{DAEMON} ({runs} runs) ...", file=sys.stderr, flush=True)
            results[name + DAEMON] = {"this checkout": measure(command, cwd=work, env=env, runs=runs)}
    finally:
        subprocess.run([*python, "daemon", "stop"], env=env, cwd=work, check=False, capture_output=True)


def report(results: dict[str, dict[str, Runs]], *, base_hash: str, head: str, runs: int,
           brief_runs: int) -> list[str]:
    """Return the markdown table and the verdicts."""
    mine, ref = "this checkout", f"reference {base_hash}"
    lines = [
        f"Each command run as a child process (`python -m passages ...`) once to warm the caches, then "
        f"{runs} times ({brief_runs} for brief) timed; median wall time, and the largest peak resident "
        f"memory of the child (`ru_maxrss`). This checkout: {head}; reference: {base_hash} (the last "
        "commit before issue #14), extracted with `git archive` and run with the same Python, libraries "
        "and data, in the same run.",
        "",
        "| command | this checkout s (median) | min - max | peak MiB | reference s (median) | peak MiB | share |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, sides in results.items():
        a, b = sides[mine], results[name.removesuffix(DAEMON)][ref]
        peak = "-" if name.endswith(DAEMON) else f"{max(a.peak_mib):.0f}"
        lines.append(f"| `{name}` | **{a.median:.2f}** | {min(a.wall_s):.2f} - {max(a.wall_s):.2f} | "
                     f"{peak} | {b.median:.2f} | {max(b.peak_mib):.0f} | "
                     f"**{a.median / b.median:.2f}** |")
    lines.append("")
    plan = results["passages plan --area downtown --offline"]
    help_ = results["passages --help"]
    verdicts = [
        _verdict(f"plan median {plan[mine].median:.2f} s", plan[mine].median <= PLAN_TARGET_S,
                 f"target <= {PLAN_TARGET_S} s"),
        _verdict(f"plan share of the reference {plan[mine].median / plan[ref].median:.2f}",
                 plan[mine].median <= PLAN_TARGET_SHARE * plan[ref].median, f"target <= {PLAN_TARGET_SHARE}"),
        _verdict(f"--help median {help_[mine].median:.2f} s", help_[mine].median < HELP_TARGET_S,
                 f"target < {HELP_TARGET_S} s"),
    ]
    warm_plan = results.get("passages plan --area downtown --offline" + DAEMON)
    if warm_plan is not None:
        warm_share = warm_plan[mine].median / plan[ref].median
        verdicts += [
            _verdict(f"plan with the warm daemon, median {warm_plan[mine].median:.2f} s",
                     warm_plan[mine].median <= PLAN_TARGET_S, f"target <= {PLAN_TARGET_S} s"),
            _verdict(f"plan with the warm daemon, share of the reference {warm_share:.2f}",
                     warm_share <= PLAN_TARGET_SHARE, f"target <= {PLAN_TARGET_SHARE}"),
        ]
    brief = next((v for k, v in results.items() if k.startswith("passages brief")), None)
    if brief is not None:
        share = brief[mine].median / brief[ref].median
        verdicts.append(_verdict(f"brief share of the reference {share:.2f}", share <= BRIEF_TARGET_SHARE,
                                 f"target <= {BRIEF_TARGET_SHARE:.2f}"))
    return lines + [f"- {v}" for v in verdicts]


def _verdict(what: str, met: bool, target: str) -> str:
    return f"{what} ({target}): {'met' if met else 'NOT MET'}"


if __name__ == "__main__":
    raise SystemExit(main())

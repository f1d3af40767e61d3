"""Smoke runs of the benchmark scripts at a tiny size (the real runs are not tests: see benchmarks/)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up by name
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_plan_benchmark_agrees_with_the_reference_and_writes_its_table(shared_data: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results.md"
    # the script stops with an error when passages and the osmnx/networkx reference disagree
    assert load("bench_plan").main(["--areas", "south-la", "--repeat", "1", "--data-dir", str(shared_data),
                                    "--results", str(results), "--write"]) == 0
    text = results.read_text(encoding="utf-8")
    assert "## Whole plan against the reference" in text
    assert "| south-la |" in text and "**whole plan**" in text and "- machine:" in text
    assert "same results: every place on the same node" in capsys.readouterr().out


def test_scale_benchmark_measures_a_child_process_and_keeps_other_sections(shared_data: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    results.write_text("# Benchmark results\n\n## Whole plan against the reference\n\nkept\n", encoding="utf-8")
    assert load("bench_scale").main(["--sizes", "3000", "--routes", "20", "--incidents-per-edge", "1",
                                     "--data-dir", str(shared_data), "--results", str(results), "--write"]) == 0
    text = results.read_text(encoding="utf-8")
    assert "## Whole plan against the reference\n\nkept" in text
    assert "## Scale" in text and "| 3,000 |" in text and "synthetic" in text


def test_cli_benchmark_times_both_sides_in_child_processes(shared_data: Path, tmp_path: Path) -> None:
    if not (BENCHMARKS.parent / ".git").exists():
        pytest.skip("bench_cli checks the reference commit out with git: not a git checkout")
    results = tmp_path / "results.md"
    assert load("bench_cli").main(["--base", "HEAD", "--runs", "1", "--brief-runs", "0", "--data-dir",
                                   str(shared_data), "--results", str(results), "--write"]) == 0
    text = results.read_text(encoding="utf-8")
    assert "## Whole process (command line)" in text and "- machine:" in text
    assert "| `passages plan --area downtown --offline` |" in text and "| `passages --help` |" in text
    assert "plan share of the reference" in text
    assert "| `passages plan --area downtown --offline (warm daemon)` |" in text
    assert "plan with the warm daemon, median" in text

"""Smoke run of ``benchmarks/bench_service_replan.py`` at a tiny size (the real run is not a test).

The script starts the service, warms downtown and checks its answers against cold plans;
it exits 1 when the p95 goal is missed, which a loaded test machine may do: only the
checks and the section it writes are tested here, never a time.
"""

from __future__ import annotations

from pathlib import Path

from test_benchmarks import load


def test_replan_benchmark_checks_its_answers_and_writes_its_section(shared_data: Path, tmp_path: Path) -> None:
    results = tmp_path / "service_replan_results.md"
    results.write_text("# Service re-plan results\n\n## Another section\n\nkept\n", encoding="utf-8")
    # the script stops with an error (SystemExit) when an answer differs from its cold plan
    assert load("bench_service_replan").main(["--requests", "4", "--data-dir", str(shared_data),
                                              "--results", str(results), "--write"]) in (0, 1)
    text = results.read_text(encoding="utf-8")
    assert "## Another section\n\nkept" in text and "## What-if re-plans of downtown" in text
    assert "- machine:" in text and "| `risk_lambda` | 1 |" in text and "| `windows` | 1 |" in text
    assert text.count("Answers checked equal to a cold `make_plan`") == 1

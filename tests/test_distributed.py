"""Plans fanned out on Dask give the serial results byte for byte, each graph loaded once per worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

from passages.areas import load_areas  # noqa: E402
from passages.cli import app  # noqa: E402
from passages.distributed import (  # noqa: E402
    NetworkCache,
    PlanJob,
    cache_stats,
    plan_jobs,
    run_on_client,
    run_serial,
    using_cache,
    write_outputs,
)

SCENARIOS = """
[scenarios.morning]
windows = ["07:00-08:30"]

[scenarios.afternoon]
windows = ["14:00-16:00"]
bandwidth_m = 300
risk_lambda = 4.0
"""


@pytest.fixture(scope="module")
def cluster_address() -> Iterator[str]:
    """A one-worker, one-thread cluster on loopback, in this process."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None, memory_limit="2GiB") as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def sample_jobs(shared_data: Path) -> list[PlanJob]:
    areas = load_areas()
    return plan_jobs([areas[s] for s in ("south-la", "south-central", "downtown")], data_dir=shared_data, offline=True,
                     tiles=False)


@pytest.fixture(scope="module")
def serial_outputs(sample_jobs: list[PlanJob]) -> list:
    return run_serial(sample_jobs)


def test_cluster_gives_the_serial_summaries_byte_for_byte(cluster_address: str, sample_jobs: list[PlanJob],
                                                          serial_outputs: list) -> None:
    with distributed.Client(cluster_address) as client:
        fanned = run_on_client(client, sample_jobs)
    assert [(o.slug, o.name) for o in fanned] == [("south-la", "plan"), ("south-central", "plan"),
                                                  ("downtown", "plan")]
    for serial, dask in zip(serial_outputs, fanned, strict=True):
        assert dask.summary_json == serial.summary_json
        assert dask.summary()["routes"]["routed"] > 0


def test_a_worker_loads_each_graph_once_for_all_its_scenarios(cluster_address: str, shared_data: Path,
                                                              tmp_path: Path) -> None:
    scenario = tmp_path / "two.toml"
    scenario.write_text(SCENARIOS, encoding="utf-8")
    areas = load_areas()
    jobs = plan_jobs([areas["south-la"]], scenario=scenario, data_dir=shared_data, offline=True, tiles=False)
    assert [(j.area.slug, j.name) for j in jobs] == [("south-la", "morning"), ("south-la", "afternoon")]
    with distributed.Client(cluster_address) as client:
        fanned = run_on_client(client, jobs)  # registers a fresh cache on the worker
        stats = list(cache_stats(client).values())
    assert stats == [{"graphs": 1, "loads": 1, "hits": 1}]
    serial = run_serial(jobs)
    assert [o.summary_json for o in fanned] == [o.summary_json for o in serial]
    # the two scenarios really differ: the afternoon one is another plan
    assert fanned[0].summary()["parameters"]["windows"] != fanned[1].summary()["parameters"]["windows"]


def test_cache_hands_out_copies_so_a_plan_cannot_touch_the_next(shared_data: Path) -> None:
    area = load_areas()["south-la"]
    source = area.source_paths("network", shared_data)[0]
    cache = NetworkCache()
    first = cache.load(area, source, offline=True)
    first.graph["touched"] = True
    next(iter(first.edges(data=True)))[2]["risk"] = 99.0
    second = cache.load(area, source, offline=True)
    assert "touched" not in second.graph
    assert all("risk" not in d for _, _, d in second.edges(data=True))
    assert cache.stats() == {"graphs": 1, "loads": 1, "hits": 1}
    # outside using_cache, plans load their networks as before
    with using_cache(cache):
        pass
    assert cache.stats()["hits"] == 1


def test_cli_plans_all_sample_areas_on_a_scheduler(cluster_address: str, shared_data: Path, tmp_path: Path,
                                                   serial_outputs: list) -> None:
    result = CliRunner().invoke(app, ["plan", "--all-areas", "--offline", "--data-dir", str(shared_data),
                                      "--scheduler", cluster_address, "--out", str(tmp_path), "--no-tiles"])
    assert result.exit_code == 0, result.output
    for serial in serial_outputs:
        written = tmp_path / serial.slug / "plan-summary.json"
        assert written.read_bytes() == serial.summary_json
        assert (tmp_path / serial.slug / "plan.html").stat().st_size > 10_000
        assert serial.slug in result.output
    assert not list(tmp_path.rglob("*.tmp"))


def test_cli_refuses_unclear_requests_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(app, ["plan", "--all-areas", "--area", "south-la", "--out", str(tmp_path)])
    assert both.exit_code == 2 and "--all-areas" in both.output
    neither = runner.invoke(app, ["plan", "--offline"])
    assert neither.exit_code == 2 and "--area" in neither.output
    one_network = runner.invoke(app, ["plan", "--all-areas", "--network", str(tmp_path / "x.osm")])
    assert one_network.exit_code == 2 and "--network" in one_network.output
    assert not any(tmp_path.iterdir())


def test_outputs_are_written_where_the_serial_run_writes_them(serial_outputs: list, tmp_path: Path) -> None:
    written = write_outputs(serial_outputs[:1], out_dir=tmp_path)
    assert written[0]["summary"] == tmp_path / "south-la" / "plan-summary.json"
    assert json.loads(written[0]["summary"].read_text())["area"] == "south-la"
    alone = write_outputs(serial_outputs[:1], out_dir=tmp_path / "one", per_area=False)
    assert alone[0]["map"] == tmp_path / "one" / "plan.html"


def test_compare_scenarios_on_the_cluster_give_the_serial_table(cluster_address: str, shared_data: Path,
                                                                tmp_path: Path) -> None:
    compare = pytest.importorskip("passages.compare", reason="passages compare is not there yet")
    from passages.distributed import run_scenarios_on_cluster
    from passages.scenarios import read_scenarios

    scenario = tmp_path / "officers.toml"
    scenario.write_text('[scenarios.two-morning]\nwindows = ["07:00-08:30"]\nofficers = 2\n\n'
                        '[scenarios.four-morning]\nwindows = ["07:00-08:30"]\nofficers = 4\n\n'
                        '[scenarios.two-afternoon]\nwindows = ["14:00-16:00"]\nofficers = 2\n', encoding="utf-8")
    scenarios = read_scenarios(scenario)
    area = load_areas()["south-la"]
    serial = compare.run_scenarios(area, scenarios, data_dir=shared_data, offline=True)
    fanned = run_scenarios_on_cluster(area, scenarios, scheduler=cluster_address, data_dir=shared_data, offline=True)
    assert [r.scenario.name for r in fanned] == ["two-morning", "four-morning", "two-afternoon"]
    # same plan parameters: planned once, in one task (its copies come back equal)
    assert fanned[0].plan.summary() == fanned[1].plan.summary() == serial[0].plan.summary()
    assert compare.metrics_table(fanned).equals(compare.metrics_table(serial))

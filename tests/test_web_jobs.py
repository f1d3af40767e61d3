"""The job queue: a real plan in a worker process equals the CLI's; failures and restarts leave nothing half-done."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from passages._errors import InputError
from passages.web import jobs
from passages.web.config import ServiceConfig
from passages.web.models import AuditEvent, Run
from passages.web.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _service(tmp_path: Path, data_dir: Path | None = None, **options: object) -> tuple[ServiceConfig, Store]:
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path}/service.db", artefact_dir=tmp_path / "artefacts",
                           data_dir=data_dir or tmp_path / "no-data", workers=1, **options)  # type: ignore[arg-type]
    store = Store(config.database_url)
    store.migrate()
    return config, store


def _run(store: Store, run_id: int) -> Run:
    with store.session() as session:
        run = session.get(Run, run_id)
    assert run is not None
    return run


def test_worker_plans_south_la_as_the_cli_does(tmp_path: Path, shared_data: Path) -> None:
    """A run in a worker process writes the artefact layout; its summary is the CLI's, byte for byte."""
    data = shared_data.resolve()
    cli_cwd = tmp_path / "cli"
    cli_cwd.mkdir()
    env = {**os.environ, "PASSAGES_DATA": str(data), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "passages", "plan", "--area", "south-la", "--offline",
                           "--data-dir", str(data), "--out", str(cli_cwd / "out")],
                          cwd=cli_cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    cli_summary = (cli_cwd / "out" / "plan-summary.json").read_bytes()

    config, store = _service(tmp_path, data)
    run_id = jobs.create_run(store, config, area_slug="south-la", toml_text=jobs.scenario_toml({"plan": {}}),
                             created_by="tester")
    queue = jobs.JobQueue(config, cache_dir=tmp_path / "cache")
    queue.start(store)
    try:
        states = jobs.wait_for(store, [run_id], timeout=300)
    finally:
        queue.stop()
    run = _run(store, run_id)
    assert states[run_id] == "done", run.error
    folder = jobs.run_folder(config.artefact_dir, run_id)
    assert (folder / "scenarios" / "plan" / "plan-summary.json").read_bytes() == cli_summary
    for name in ("plan.html", "metrics.json", "community.html", "officers/officers.html", "officers/briefing.pdf",
                 "officers/plan.gpkg"):
        assert f"scenarios/plan/{name}" in run.outputs
        assert (folder / "scenarios" / "plan" / name).is_file()
    assert not (folder / "compare").exists()  # one scenario: nothing to compare
    assert run.steps_done == run.steps_total == len(jobs.RUN_STEPS)
    assert run.step == "done"
    assert run.summary["plan"]["passage_km"] > 0 and run.summary["plan"]["metrics"]["scenario"] == "plan"
    assert "inputs/scenarios.toml" in run.input_hashes
    assert any(key.startswith("data/osm/") for key in run.input_hashes)
    assert all(len(digest) == 64 for digest in run.input_hashes.values())
    assert run.parameters["plan"]["officers"] >= 1
    community = (folder / "scenarios" / "plan" / "community.html").read_text(encoding="utf-8")
    assert "Risk per 100 m" not in community and "Hot segment" not in community
    with store.session() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "run")) is not None


def test_a_bad_uploaded_incident_file_fails_the_run_and_leaves_nothing(tmp_path: Path, shared_data: Path) -> None:
    """The job reads the planner's file: the run ends failed with one line, and no artefact exists."""
    config, store = _service(tmp_path, shared_data)
    upload = jobs.Upload("incidents", ".csv", b"foo,bar\n1,2\n")
    run_id = jobs.create_run(store, config, area_slug="south-la", toml_text=jobs.scenario_toml({"plan": {}}),
                             created_by="tester", uploads=[upload], validate=False)
    assert jobs.claim_next(store) == run_id
    jobs.execute_run(store, run_id, artefact_dir=config.artefact_dir, data_dir=shared_data)
    run = _run(store, run_id)
    assert run.state == "failed"
    assert "incident format" in run.error and "\n" not in run.error
    assert run.outputs == [] and run.summary == {}
    folder = jobs.run_folder(config.artefact_dir, run_id)
    assert sorted(p.name for p in folder.iterdir()) == ["inputs"]  # the inputs only, never served
    assert not list((config.artefact_dir / "runs").glob(".*"))  # no staging folder


def test_a_bad_upload_is_refused_before_the_run_when_checked(tmp_path: Path) -> None:
    """With the readers' check (the pages' way), a bad file is one InputError and no run is made."""
    config, store = _service(tmp_path)
    upload = jobs.Upload("incidents", ".csv", b"foo,bar\n1,2\n")
    with pytest.raises(InputError, match="incident format"):
        jobs.create_run(store, config, area_slug="south-la", toml_text=jobs.scenario_toml({"plan": {}}),
                        created_by="tester", uploads=[upload])
    with store.session() as session:
        assert session.scalar(select(Run)) is None
    assert not (config.artefact_dir / "runs").exists() or not list((config.artefact_dir / "runs").iterdir())
    assert not list((config.artefact_dir / "incoming").iterdir())


def test_restart_fails_a_running_job_and_removes_its_partial_outputs(tmp_path: Path) -> None:
    """A 'running' row (its server died) becomes failed with the reason; staging and outputs go; queued stays."""
    config, store = _service(tmp_path)
    toml_text = jobs.scenario_toml({"plan": {"officers": 2}})
    running = jobs.create_run(store, config, area_slug="south-la", toml_text=toml_text, created_by="tester")
    queued = jobs.create_run(store, config, area_slug="downtown", toml_text=toml_text, created_by="tester")
    assert jobs.claim_next(store) == running
    folder = jobs.run_folder(config.artefact_dir, running)
    staging = folder.parent / f".{running}.staging-abc123"
    (staging / "scenarios" / "plan").mkdir(parents=True)
    (staging / "scenarios" / "plan" / "plan.html").write_text("half a map")
    (folder / "scenarios" / "plan").mkdir(parents=True)  # as if the swap had happened just before the kill
    (folder / "scenarios" / "plan" / "plan.html").write_text("a map nobody recorded")

    found = jobs.recover(store, config)

    assert found == {"failed": [running], "queued": [queued]}
    run = _run(store, running)
    assert run.state == "failed" and run.error == jobs.RECOVERY_REASON and run.outputs == []
    assert not staging.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["inputs"]
    assert _run(store, queued).state == "queued"
    again = jobs.rerun(store, config, running, created_by="tester")
    new = _run(store, again)
    assert new.state == "queued" and new.area_slug == "south-la"
    assert (jobs.inputs_folder(config.artefact_dir, again) / "scenarios.toml").read_text() == toml_text


def test_claims_are_exclusive(tmp_path: Path) -> None:
    """Each queued run is claimed once, oldest first."""
    config, store = _service(tmp_path)
    ids = [jobs.create_run(store, config, area_slug="south-la", toml_text=jobs.scenario_toml({"plan": {}}),
                           created_by="tester") for _ in range(3)]
    assert [jobs.claim_next(store) for _ in range(4)] == [*ids, None]


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "../evil", "a/b", ".hidden", ""])
def test_hostile_scenario_names_are_refused(tmp_path: Path, name: str) -> None:
    """A scenario name becomes a folder only as a slug: anything else is one InputError."""
    config, store = _service(tmp_path)
    with pytest.raises(InputError, match="cannot be used in a file name"):
        jobs.create_run(store, config, area_slug="south-la", toml_text=jobs.scenario_toml({name: {}}),
                        created_by="tester")
    with pytest.raises(InputError):
        jobs.create_run(store, config, area_slug="../x", toml_text=jobs.scenario_toml({"plan": {}}),
                        created_by="tester")


def test_scenario_toml_is_read_back_as_given(tmp_path: Path) -> None:
    """The form's mapping goes through the scenario reader unchanged (same keys, same checks)."""
    from passages.scenarios import read_scenarios

    table = {"morning": {"officers": 3, "mode": "footbeats", "windows": ["07:00-08:30"], "risk_lambda": 2.5,
                         "weekdays": [0, 1, 2]}}
    path = tmp_path / "s.toml"
    path.write_text(jobs.scenario_toml(table), encoding="utf-8")
    [scenario] = read_scenarios(path)
    assert scenario.name == "morning" and scenario.coverage.officers == 3 and scenario.params.risk_lambda == 2.5
    assert jobs.scenario_table([scenario])["morning"]["windows"] == ["07:00-08:30"]
    path.write_text(jobs.scenario_toml({"x": {"officers": 500}}), encoding="utf-8")
    with pytest.raises(InputError, match="officers"):
        read_scenarios(path)

"""Planner pages through the real app (fastapi TestClient) with real logins: forms, CSRF, escaping, files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from passages.web import auth, jobs
from passages.web.app import MAP_CSP, create_app
from passages.web.config import ServiceConfig
from passages.web.models import AuditEvent, Run
from passages.web.store import Store

PASSWORD = "a-long-test-password"


@pytest.fixture()
def service(tmp_path: Path) -> tuple[ServiceConfig, Store, TestClient]:
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path}/service.db", artefact_dir=tmp_path / "artefacts",
                           data_dir=tmp_path / "no-data", max_upload_bytes=50_000)
    store = Store(config.database_url)
    store.migrate()
    with store.session() as session:
        for name, role in (("plan1", "planner"), ("cmd1", "command"), ("off1", "officer")):
            auth.add_user(session, name, role, password=PASSWORD, areas=("south-la",) if role == "officer" else ())
    return config, store, TestClient(create_app(config, store))


def login(client: TestClient, username: str) -> str:
    """Log in through the form; return the session's CSRF token (from a page's meta tag)."""
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None
    answer = client.post("/login", data={"username": username, "password": PASSWORD, "login_csrf": token.group(1),
                                         "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    home = client.get("/")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', home.text)
    assert csrf is not None and csrf.group(1)
    return csrf.group(1)


def runs(store: Store) -> list[Run]:
    with store.session() as session:
        return list(session.scalars(select(Run).order_by(Run.id)))


def test_a_planner_queues_a_plan_from_the_form_and_watches_it(service: tuple[ServiceConfig, Store, TestClient]
                                                             ) -> None:
    _config, store, client = service
    csrf = login(client, "plan1")
    form = client.get("/plan")
    assert form.status_code == 200 and "south-la" in form.text and 'name="officers"' in form.text
    answer = client.post("/plan", data={"csrf_token": csrf, "area": "south-la", "scenario_name": "morning-posts",
                                        "officers": "3", "mode": "posts", "windows": "07:00-08:30"},
                         follow_redirects=False)
    assert answer.status_code == 303
    [run] = runs(store)
    assert answer.headers["location"] == f"/runs/{run.id}"
    assert run.state == "queued" and run.created_by == "plan1" and run.area_slug == "south-la"
    assert run.parameters["morning-posts"]["officers"] == 3
    assert run.parameters["morning-posts"]["windows"] == ["07:00-08:30"]
    page = client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert 'src="/static/progress.js"' in page.text and "reload this page" in page.text
    assert 'data-api="/api/runs/1"' in page.text and "<iframe" not in page.text
    data = client.get(f"/api/runs/{run.id}").json()
    assert data["state"] == "queued" and data["outputs"] == [] and data["steps"] == list(jobs.RUN_STEPS)
    assert client.get("/api/runs").json()[0]["id"] == run.id
    assert "morning-posts" in client.get("/runs").text
    with store.session() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "run"))
        assert event is not None and event.username == "plan1" and "south-la" in event.target
    assert client.get("/static/progress.js").status_code == 200


def test_post_plan_without_the_csrf_token_is_refused(service: tuple[ServiceConfig, Store, TestClient]) -> None:
    _config, store, client = service
    login(client, "plan1")
    answer = client.post("/plan", data={"area": "south-la"}, follow_redirects=False)
    assert answer.status_code == 403
    answer = client.post("/plan", data={"area": "south-la", "csrf_token": "forged"}, follow_redirects=False)
    assert answer.status_code == 403
    assert client.post("/api/runs", json={"area": "south-la"}).status_code == 403
    assert runs(store) == []


def test_json_api_queues_with_the_csrf_header(service: tuple[ServiceConfig, Store, TestClient]) -> None:
    _config, store, client = service
    csrf = login(client, "plan1")
    answer = client.post("/api/runs", json={"area": "downtown", "scenarios": {"a": {"officers": 2}, "b": {}}},
                         headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 201, answer.text
    assert answer.json()["state"] == "queued" and answer.json()["scenarios"] == ["a", "b"]
    bad = client.post("/api/runs", json={"area": "downtown", "scenarios": {"a": {"officers": 0}}},
                      headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 400 and "officers" in bad.json()["detail"]
    assert len(runs(store)) == 1


@pytest.mark.parametrize("name", ["<script>alert('x')</script>", "../../etc", "a b"])
def test_hostile_scenario_names_are_refused_and_escaped(service: tuple[ServiceConfig, Store, TestClient],
                                                        name: str) -> None:
    config, store, client = service
    csrf = login(client, "plan1")
    answer = client.post("/plan", data={"csrf_token": csrf, "area": "south-la", "scenario_name": name})
    assert answer.status_code == 400
    assert "cannot be used in a file name" in answer.text
    assert "<script>alert" not in answer.text  # shown, never run
    assert runs(store) == []
    assert not (config.artefact_dir / "runs").exists()


def test_hostile_area_and_bad_values_are_said_on_the_form(service: tuple[ServiceConfig, Store, TestClient]) -> None:
    _config, store, client = service
    csrf = login(client, "plan1")
    answer = client.post("/plan", data={"csrf_token": csrf, "area": "south-la", "custom_area": "<b>x</b>/../y"})
    assert answer.status_code == 400 and "<b>x</b>" not in answer.text and "&lt;b&gt;" in answer.text
    answer = client.post("/plan", data={"csrf_token": csrf, "area": "south-la", "officers": "many"})
    assert answer.status_code == 400 and "whole number" in answer.text
    answer = client.post("/plan", data={"csrf_token": csrf, "area": "south-la", "risk_lambda": "1e999"})
    assert answer.status_code == 400 and "finite" in answer.text
    assert runs(store) == []


def test_uploads_are_checked_by_the_readers_and_size_limited(service: tuple[ServiceConfig, Store, TestClient]
                                                             ) -> None:
    config, store, client = service
    csrf = login(client, "plan1")
    bad = client.post("/plan", data={"csrf_token": csrf, "area": "south-la"},
                      files={"incidents": ("x.csv", b"foo,bar\n1,2\n", "text/csv")})
    assert bad.status_code == 400 and "incident format" in bad.text
    big = client.post("/plan", data={"csrf_token": csrf, "area": "south-la"},
                      files={"incidents": ("x.csv", b"a" * (config.max_upload_bytes + 1), "text/csv")})
    assert big.status_code == 400 and "larger than" in big.text
    odd = client.post("/plan", data={"csrf_token": csrf, "area": "south-la"},
                      files={"incidents": ("../../x.sh", b"#!/bin/sh\n", "text/plain")})
    assert odd.status_code == 400 and "must end in" in odd.text
    toml = client.post("/plan", data={"csrf_token": csrf, "area": "south-la"},
                       files={"scenario_file": ("s.toml", b'[scenarios."../up"]\nofficers = 2\n', "text/plain")})
    assert toml.status_code == 400 and "cannot be used in a file name" in toml.text
    good = client.post("/plan", data={"csrf_token": csrf, "area": "south-la"}, follow_redirects=False,
                       files={"scenario_file": ("mine.toml", b"[scenarios.one]\nofficers = 2\n[scenarios.two]\n"
                                                b"officers = 4\n", "text/plain")})
    assert good.status_code == 303
    [run] = runs(store)
    assert list(run.parameters) == ["one", "two"]
    assert sorted(p.name for p in jobs.inputs_folder(config.artefact_dir, run.id).iterdir()) == ["scenarios.toml"]
    assert not list((config.artefact_dir / "incoming").iterdir())


def _finished_run(config: ServiceConfig, store: Store, state: str) -> int:
    run_id = jobs.create_run(store, config, area_slug="south-la", toml_text=jobs.scenario_toml({"a": {}}),
                             created_by="plan1")
    folder = jobs.run_folder(config.artefact_dir, run_id) / "scenarios" / "a"
    folder.mkdir(parents=True)
    (folder / "plan.html").write_text("<html><script>map()</script></html>")
    (folder / "plan-summary.json").write_text("{}")
    with store.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.state = state
        run.outputs = ["scenarios/a/plan.html", "scenarios/a/plan-summary.json"]
        run.summary = {"a": {"passage_km": 1.5, "routes": 3, "metrics": {"officers": 2}}}
    return run_id


def test_run_files_are_served_only_from_the_outputs_of_a_done_run(service: tuple[ServiceConfig, Store, TestClient]
                                                                  ) -> None:
    config, store, client = service
    login(client, "plan1")
    run_id = _finished_run(config, store, "done")
    page = client.get(f"/runs/{run_id}")
    assert f'src="/runs/{run_id}/files/scenarios/a/plan.html"' in page.text and "1.5 km" in page.text
    answer = client.get(f"/runs/{run_id}/files/scenarios/a/plan.html")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == MAP_CSP
    assert client.get(f"/runs/{run_id}/files/scenarios/a/plan-summary.json").headers["content-type"] == \
        "application/json"
    for path in ("inputs/scenarios.toml", "scenarios/a/../../inputs/scenarios.toml", "%2e%2e/%2e%2e/service.db",
                 "scenarios/a/nothing.html"):
        assert client.get(f"/runs/{run_id}/files/{path}").status_code == 404, path


def test_a_failed_run_shows_no_plan(service: tuple[ServiceConfig, Store, TestClient]) -> None:
    config, store, client = service
    csrf = login(client, "plan1")
    run_id = _finished_run(config, store, "failed")
    with store.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.error = "<b>bad</b> file"
    page = client.get(f"/runs/{run_id}")
    assert "<iframe" not in page.text and "&lt;b&gt;bad&lt;/b&gt; file" in page.text
    assert client.get(f"/runs/{run_id}/files/scenarios/a/plan.html").status_code == 404
    data = client.get(f"/api/runs/{run_id}").json()
    assert data["summary"] == {} and data["outputs"] == []
    again = client.post(f"/runs/{run_id}/again", data={"csrf_token": csrf}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/runs/{run_id + 1}"
    assert runs(store)[-1].state == "queued"


def test_roles(service: tuple[ServiceConfig, Store, TestClient]) -> None:
    _config, _store, client = service
    assert client.get("/api/runs").status_code == 401
    assert client.get("/plan", follow_redirects=False).status_code == 303
    csrf = login(client, "cmd1")
    assert client.get("/runs").status_code == 200
    assert client.get("/plan").status_code == 403
    assert client.post("/plan", data={"csrf_token": csrf, "area": "south-la"}).status_code == 403
    officer = TestClient(client.app)
    login(officer, "off1")
    assert officer.get("/runs").status_code == 403
    assert officer.get("/api/runs").status_code == 403

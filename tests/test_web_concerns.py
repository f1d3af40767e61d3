"""The community form of concerns: pending until a planner accepts, then in the area's next plan.

Nothing of the sender is stored (no address, browser, account, session, time of day), floods
get 429 and the limit recovers, bad fields get one line saying what to fix.
"""

# ruff: noqa: F811 - the fixtures of test_web_pages are imported by name

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_web_pages import (  # noqa: F401 - fixtures
    HOSTILE,
    Service,
    audit_lines,
    client_for,
    csrf_of,
    service,
    web_root,
)

from passages.web import jobs, reports
from passages.web.models import ConcernReport


def _form(client: Any, area: str = "south-la", lang: str = "") -> dict[str, str]:
    """The community page's form: its token and the first listed place."""
    page = client.get(f"/community/{area}" + (f"?lang={lang}" if lang else ""))
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    place = re.search(r'<option value="(-?[\d.]+,-?[\d.]+)"', page.text)
    assert token is not None and place is not None, "no form on the community page"
    return {"csrf_token": token.group(1), "place": place.group(1)}


def _send(client: Any, area: str = "south-la", **fields: str) -> Any:
    form = _form(client, area)
    data = {"csrf_token": form["csrf_token"], "place": form["place"], "category": "dark at night",
            "note": "no light by the gate", **fields}
    return client.post(f"/community/{area}/concerns", data=data, follow_redirects=False)


def _rows(service: Service) -> list[ConcernReport]:
    from sqlalchemy import select

    with service.store.session() as session:
        return list(session.scalars(select(ConcernReport)))


def _public_and_officer_text(service: Service, client_for: Any) -> str:
    anonymous, officer, command = client_for(), client_for("officer1"), client_for("command1")
    texts = [anonymous.get(url).text for url in ("/community", "/community/south-la", "/community/south-la/print",
                                                 "/api/community/south-la", "/api/community/south-la/pickmap",
                                                 "/community/south-la/map")]
    texts += [officer.get(url).text for url in ("/officer", "/officer/south-la", "/api/officer/south-la",
                                                "/officer/south-la/files/officers.html")]
    texts += [command.get(url).text for url in ("/history", "/history/south-la", "/api/history/south-la")]
    return "\n".join(texts)


def test_a_report_is_stored_pending_and_shown_to_nobody(service: Service, client_for: Any) -> None:
    sent = _send(client_for(), note="gate by the park, unlit " + HOSTILE[:20])
    assert sent.status_code == 303 and sent.headers["location"] == "/community/south-la/thanks"
    assert "report" not in sent.headers["location"] and "id" not in sent.headers["location"]
    thanks = client_for().get("/community/south-la/thanks")
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    [row] = _rows(service)
    assert row.state == "pending" and row.category == "dark at night" and row.area_slug == "south-la"
    assert re.fullmatch(r"[0-9a-f]{32}", row.id)
    assert "unlit" not in _public_and_officer_text(service, client_for)
    # not in a plan: a run queued now has no concerns file, and no file is written for the area
    run_id = jobs.create_run(service.store, service.config, area_slug="south-la",
                             toml_text=jobs.scenario_toml({"plan": {}}), created_by="planner1", validate=False)
    assert not (jobs.inputs_folder(service.config.artefact_dir, run_id) / jobs.CONCERNS_FILE).exists()
    assert reports.existing_area_file(service.config.artefact_dir, "south-la") is None
    # the planner sees it; command staff and officers may not open the list
    planner = client_for("planner1")
    page = planner.get("/concerns")
    assert page.status_code == 200 and "unlit" in page.text and row.id in page.text
    assert "&lt;script" in page.text and "<script>alert" not in page.text
    assert [r["id"] for r in planner.get("/api/concerns").json()["pending"]] == [row.id]
    assert client_for("command1").get("/api/concerns").status_code == 403
    assert client_for("officer1").get("/concerns").status_code == 403


def test_an_accepted_report_is_in_the_next_plan(service: Service, client_for: Any) -> None:
    assert _send(client_for()).status_code == 303
    [row] = _rows(service)
    planner = client_for("planner1")
    token = csrf_of(planner)
    assert planner.post(f"/concerns/{row.id}/accept", data={}, follow_redirects=False).status_code == 403  # no CSRF
    answer = planner.post(f"/concerns/{row.id}/accept", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/concerns"
    [row] = _rows(service)
    assert row.state == "accepted" and row.decided_by == "planner1"
    [event] = audit_lines(service, "concern")
    assert event.username == "planner1" and row.id[:12] in event.target and "south-la" in event.target
    assert event.detail == "accepted: dark at night"
    # a second decision on it finds nothing
    assert planner.post(f"/concerns/{row.id}/reject", data={"csrf_token": token}).status_code == 404
    # the area's concerns file, read by the plan's reader
    from passages.concerns import read_concerns

    path = reports.existing_area_file(service.config.artefact_dir, "south-la")
    assert path is not None
    frame = read_concerns(path)
    assert list(frame["category"]) == ["dark at night"] and frame["note"].iloc[0] == "no light by the gate"
    # still nothing on the public or officer pages
    assert "no light by the gate" not in _public_and_officer_text(service, client_for)
    # the next plan of the area has it (on the planner's map too)
    run_id = jobs.create_run(service.store, service.config, area_slug="south-la",
                             toml_text=jobs.scenario_toml({"plan": {}}), created_by="planner1")
    jobs.execute_run(service.store, run_id, artefact_dir=service.config.artefact_dir,
                     data_dir=service.config.data_dir)
    with service.store.session() as session:
        from passages.web.models import Run

        run = session.get(Run, run_id)
        assert run is not None and run.state == "done", run.error if run else None
        assert "inputs/concerns.geojson" in run.input_hashes
    folder = jobs.run_folder(service.config.artefact_dir, run_id) / "scenarios" / "plan"
    summary = json.loads((folder / "plan-summary.json").read_text(encoding="utf-8"))
    assert summary["concerns"]["read"] == 1
    assert "Community concerns" in (folder / "plan.html").read_text(encoding="utf-8")
    assert "Community concerns" not in (folder / "community.html").read_text(encoding="utf-8")
    map_page = planner.get(f"/runs/{run_id}/files/scenarios/plan/plan.html")
    assert map_page.status_code == 200 and "Community concerns" in map_page.text


def test_the_what_if_inputs_change_with_the_concerns_file(service: Service, client_for: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from passages.areas import load_areas
    from passages.web.pages_planner import warm_inputs

    warm = service.app.state.whatif
    read: list[Any] = []
    monkeypatch.setattr(warm, "_read", lambda area: read.append(warm._place_sources(area)) or object())
    area = load_areas()["south-la"]
    _, before, _ = warm.get(area)
    assert read == [None] and not any("concerns" in name for name in before)
    assert _send(client_for()).status_code == 303
    [row] = _rows(service)
    planner = client_for("planner1")
    planner.post(f"/concerns/{row.id}/accept", data={"csrf_token": csrf_of(planner)})
    _, after, again = warm.get(area)
    assert again and len(read) == 2 and read[1] is not None
    assert any(name.endswith("south-la.geojson") for name in after)
    assert warm_inputs  # the planner pages' accessor builds the same inputs


def test_a_rejected_report_is_deleted_and_never_appears(service: Service, client_for: Any) -> None:
    assert _send(client_for(), note="rejected one").status_code == 303
    [row] = _rows(service)
    planner = client_for("planner1")
    answer = planner.post(f"/concerns/{row.id}/reject", data={"csrf_token": csrf_of(planner)},
                          headers={"Accept": "application/json"})
    assert answer.status_code == 200 and answer.json()["state"] == "rejected"
    assert _rows(service) == []
    assert "rejected one" not in planner.get("/concerns").text
    assert reports.existing_area_file(service.config.artefact_dir, "south-la") is None
    [event] = audit_lines(service, "concern")
    assert event.detail == "rejected: dark at night"
    run_id = jobs.create_run(service.store, service.config, area_slug="south-la",
                             toml_text=jobs.scenario_toml({"plan": {}}), created_by="planner1", validate=False)
    assert not (jobs.inputs_folder(service.config.artefact_dir, run_id) / jobs.CONCERNS_FILE).exists()


def test_nothing_about_the_sender_is_stored(service: Service) -> None:
    from fastapi.testclient import TestClient

    address, agent = "203.0.113.77", "Mozilla/5.0 (UniqueAgentMarker 7f3a)"
    with TestClient(service.app, client=(address, 51234)) as client:
        form = _form(client)
        answer = client.post("/community/south-la/concerns", headers={"User-Agent": agent},
                             data={**form, "category": "fast traffic", "note": "cars race here"},
                             follow_redirects=False)
    assert answer.status_code == 303
    assert "set-cookie" not in {k.lower() for k in answer.headers}  # nothing handed out with the report
    columns = set(ConcernReport.__table__.columns.keys())
    assert columns == {"id", "area_slug", "lat", "lon", "category", "note", "day", "state", "decided_by",
                       "decided_on"}
    assert audit_lines(service, "concern") == []  # sending is not audited (the log keeps addresses)
    database = Path(service.config.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as connection:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "concern_reports" in tables
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):  # table names from SQLite itself
                text = " ".join(str(v) for v in row)
                assert address not in text and "UniqueAgentMarker" not in text, table
        (day, note) = connection.execute("SELECT day, note FROM concern_reports").fetchone()
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(day)) and note == "cars race here"  # the day only
    for path in database.parent.glob(database.name + "*"):  # the file and its write-ahead log
        data = path.read_bytes()
        assert address.encode() not in data and b"UniqueAgentMarker" not in data, path


def test_a_flood_gets_429_and_the_limit_recovers(service: Service, client_for: Any) -> None:
    now = [1000.0]
    service.app.state.report_limits = reports.ReportLimits(clock=lambda: now[0])
    client = client_for()
    for _ in range(reports.CLIENT_BURST):
        assert _send(client).status_code == 303
    refused = _send(client)
    assert refused.status_code == 429 and "Too many reports" in refused.text
    assert len(_rows(service)) == reports.CLIENT_BURST
    now[0] += reports.CLIENT_REFILL_S + 1
    assert _send(client).status_code == 303
    # the area's own bucket holds against many senders
    limits = reports.ReportLimits(clock=lambda: now[0], area_burst=5, area_per_hour=60)
    allowed = [limits.allow("south-la", f"10.0.0.{i}") for i in range(8)]
    assert allowed == [True] * 5 + [False] * 3
    assert limits.allow("downtown", "10.0.0.99")  # another area has its own
    now[0] += 60.0  # one more a minute
    assert limits.allow("south-la", "10.0.0.200") and not limits.allow("south-la", "10.0.0.201")
    # the senders' key rotates: every bucket forgotten, nothing kept of the address
    key = limits._key
    now[0] += reports.ROTATE_S
    limits.allow("downtown", "10.0.0.7")
    assert limits._key != key and len(limits._clients) == 1
    assert all(isinstance(k, bytes) and b"10.0.0" not in k for k in limits._clients)


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"place": "", "lat": "", "lon": ""}, 400, "Mark the place on the map"),
    ({"place": "", "lat": "40.7128", "lon": "-74.0060"}, 400, "outside this area"),
    ({"place": "", "lat": "nan", "lon": "-118.28"}, 400, "must be numbers"),
    ({"place": "", "lat": "1e999", "lon": "-118.28"}, 400, "must be numbers"),
    ({"place": "", "lat": "34.0", "lon": ""}, 400, "must be numbers"),
    ({"place": "91,-118"}, 400, "must be numbers"),
    ({"category": "graffiti"}, 400, "listed kinds of concern"),
    ({"category": HOSTILE}, 400, "listed kinds of concern"),
    ({"note": "x" * 121}, 400, "at most 120 characters"),
    ({"note": "x" * 2001}, 422, ""),
])
def test_bad_input_is_refused_with_one_line(service: Service, client_for: Any, fields: dict[str, str], status: int,
                                            message: str) -> None:
    answer = _send(client_for(), **fields)
    assert answer.status_code == status, answer.text[:300]
    if message:
        [line] = re.findall(r'<p class="error" role="alert" id="report-error">([^<]*)</p>', answer.text)
        assert message in line
        assert "<script>alert" not in answer.text
    assert _rows(service) == []


def test_the_form_in_spanish_and_its_errors(service: Service, client_for: Any) -> None:
    client = client_for()
    page = client.get("/community/south-la?lang=es")
    assert "Cuéntenos sobre un lugar" in page.text and "oscuro de noche" in page.text
    form = _form(client, lang="es")
    answer = client.post("/community/south-la/concerns", data={**form, "category": "nope", "lang": "es"})
    assert answer.status_code == 400 and "Elija uno de los tipos" in answer.text
    sent = client.post("/community/south-la/concerns", follow_redirects=False,
                       data={**form, "category": "dogs", "lang": "es"})
    assert sent.headers["location"] == "/community/south-la/thanks?lang=es"
    assert "Gracias" in client.get(sent.headers["location"]).text


def test_the_form_refuses_a_forged_or_missing_token(service: Service, client_for: Any) -> None:
    client = client_for()
    form = _form(client)
    data = {"place": form["place"], "category": "dogs"}
    assert client.post("/community/south-la/concerns", data={**data, "csrf_token": "forged"}).status_code == 403
    assert client.post("/community/south-la/concerns", data=data).status_code == 422
    other = client_for()  # a page of another site posting with its own token: no matching cookie here
    assert other.post("/community/south-la/concerns", data={**data, **form}).status_code == 403
    assert _rows(service) == []
    # a logged-in visitor's form carries the session's token, checked by the gate
    planner = client_for("planner1")
    assert _send(planner).status_code == 303
    # an area with no publication (or none at all) has no form and takes nothing
    assert client.post("/community/downtown/concerns", data={**data, **form}).status_code == 404
    assert client.get("/community/downtown/thanks").status_code == 404
    assert client.get("/api/community/downtown/pickmap").status_code == 404


def test_the_pick_map_data_and_leaflet_are_served_from_here(service: Service, client_for: Any) -> None:
    client = client_for()
    data = client.get("/api/community/south-la/pickmap").json()
    assert set(data) == {"bounds", "outline", "passages", "places"}
    assert data["passages"] and data["places"] and len(data["outline"][0]) > 10
    assert set(data["places"][0]) == {"name", "kind", "lat", "lon"}
    script = client.get("/vendor/leaflet.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert client.get("/vendor/leaflet.css").status_code == 200
    page = client.get("/community/south-la").text
    assert '<script src="/vendor/leaflet.js"' in page and "<script>" not in page
    assert "/vendor/leaflet" not in client.get("/community/south-la/print").text

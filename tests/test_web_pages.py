"""The officer, command, community and admin pages of the service, driven in-process (httpx).

The runs are made here, not by the job queue: the real pipeline runs once per test session
(two scenarios of ``scenarios/officer-coverage.toml`` on south-la) and its writers fill a
run folder of the artefact layout; the Run rows are inserted directly. The helpers of this
module (:func:`seeded_service`, :func:`log_in`) serve the role and browser tests too.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("posts-2-morning", "footbeats-2-morning")
PASSWORD = "correct horse battery staple"
#: The accounts of a seeded service: name -> (role, areas).
ACCOUNTS = {"admin1": ("admin", ()), "planner1": ("planner", ()), "command1": ("command", ()),
            "officer1": ("officer", ("south-la",)), "officer2": ("officer", ("downtown",)),
            "victim": ("officer", ("south-la",))}
HOSTILE = '<script>alert("x")</script>'

_BUILT: dict[str, Path] = {}


def _community_page(plan: Any, lang: str = "en") -> bytes:
    """The community map as the job queue writes it."""
    from passages.web.jobs import community_map

    return community_map(plan, lang=lang)


def built_run(shared_data: Path, root: Path) -> Path:
    """Return a run folder of the artefact layout for south-la, made once per session."""
    if "south-la" in _BUILT:
        return _BUILT["south-la"]
    from passages._io import output_set
    from passages.areas import load_areas
    from passages.briefing import write_officer_pack
    from passages.compare import metrics_table, run_scenarios, write_comparison
    from passages.plan import write_plan
    from passages.scenarios import read_scenarios

    chosen = [s for s in read_scenarios(ROOT / "scenarios" / "officer-coverage.toml") if s.name in SCENARIOS]
    runs = run_scenarios(load_areas()["south-la"], chosen, data_dir=shared_data, check_exact=False)
    table = metrics_table(runs)
    folder = root / "south-la-run"
    with output_set(folder, owns=("*",)) as out:
        for run, row in zip(runs, table.to_dict("records"), strict=True):
            scenario = out.subset(f"scenarios/{run.scenario.name}")
            write_plan(run.plan, out_dir=scenario)
            clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            scenario.write("metrics.json", json.dumps(clean).encode("utf-8"))
            scenario.write("community.html", _community_page(run.plan))
            scenario.write("community-es.html", _community_page(run.plan, lang="es"))
            write_officer_pack(run, scenario.subset("officers"))
        write_comparison(runs, out.subset("compare"))
    _BUILT["south-la"] = folder
    return folder


def outputs_of(folder: Path) -> list[str]:
    """The relative paths of a run folder's files (what Run.outputs lists)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.name.startswith("."))


@dataclass
class Service:
    """A seeded service: its app, store, config and the ids of its runs."""

    app: Any
    store: Any
    config: Any
    runs: dict[str, int]


def add_run(service: Service, area: str, folder: Path, *, state: str = "done") -> int:
    """Insert a Run of ``area`` whose files are those of ``folder`` (copied into the artefact folder)."""
    from passages.web.models import Run, utcnow
    from passages.web.publish import run_dir

    summary = {}
    for scenario in SCENARIOS if state == "done" else ():
        plan = json.loads((folder / "scenarios" / scenario / "plan-summary.json").read_text(encoding="utf-8"))
        summary[scenario] = {"passage_km": plan.get("passage_km"), "routes": plan["routes"]["routed"],
                             "metrics": json.loads((folder / "scenarios" / scenario / "metrics.json").read_text())}
    with service.store.session() as session:
        run = Run(area_slug=area, kind="compare", parameters={}, input_hashes={}, state=state, step=state,
                  created_by="planner1", created_at=utcnow(), outputs=outputs_of(folder) if state == "done" else [],
                  summary=summary)
        session.add(run)
        session.flush()
        run_id = run.id
    target = run_dir(service.config, run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, target, symlinks=False)
    return run_id


def seeded_service(tmp_path: Path, shared_data: Path, run_root: Path, **config: Any) -> Service:
    """A service with the accounts of :data:`ACCOUNTS`, south-la published twice, downtown unpublished.

    Runs: ``south-la`` (done, v1 = posts, v2 = footbeats), ``downtown`` (done, never
    published), ``queued`` (south-la, not done).
    """
    from passages.web import auth
    from passages.web.app import create_app
    from passages.web.config import ServiceConfig
    from passages.web.publish import publish
    from passages.web.store import Store

    folder = built_run(shared_data, run_root)
    settings = ServiceConfig(database_url=f"sqlite:///{tmp_path / 'passages.db'}",
                             artefact_dir=tmp_path / "artefacts", data_dir=shared_data, **config)
    store = Store(settings.database_url)
    store.migrate()
    with store.session() as session:
        for name, (role, areas) in ACCOUNTS.items():
            auth.add_user(session, name, role, password=PASSWORD, areas=areas)
    service = Service(create_app(settings, store), store, settings, {})
    service.runs["south-la"] = add_run(service, "south-la", folder)
    service.runs["downtown"] = add_run(service, "downtown", folder)
    service.runs["queued"] = add_run(service, "south-la", folder, state="queued")
    with store.session() as session:
        publish(session, settings, service.runs["south-la"], SCENARIOS[0], by="command1")
    with store.session() as session:
        publish(session, settings, service.runs["south-la"], SCENARIOS[1], by="planner1", note="loops instead")
    return service


def log_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log ``client`` in through the login form; return the answer to the form."""
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None
    return client.post("/login", data={"username": username, "password": password, "login_csrf": token.group(1),
                                       "next": "/"}, follow_redirects=False)


def csrf_of(client: Any) -> str:
    """The CSRF token of the client's session (from the start page's meta tag)."""
    found = re.search(r'name="csrf-token" content="([^"]*)"', client.get("/").text)
    assert found is not None and found.group(1)
    return found.group(1)


@pytest.fixture(scope="session")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web")


@pytest.fixture
def service(shared_data: Path, tmp_path: Path, web_root: Path) -> Service:
    return seeded_service(tmp_path, shared_data, web_root)


@pytest.fixture
def client_for(service: Service) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    made: list[Any] = []

    def make(username: str | None = None) -> Any:
        client = TestClient(service.app, raise_server_exceptions=True)
        made.append(client)
        if username is not None:
            assert log_in(client, username).status_code == 303
        return client

    yield make
    for client in made:
        client.close()


def audit_lines(service: Service, action: str) -> list[Any]:
    from passages.web import audit

    with service.store.session() as session:
        return list(audit.recent(session, action=action, limit=1000))


# --------------------------------------------------------------------------- officers


def test_officer_sees_the_pack_of_their_area_only(service: Service, client_for: Any) -> None:
    officer = client_for("officer1")
    home = officer.get("/officer")
    assert home.status_code == 200 and "/officer/south-la" in home.text and "Version 2" in home.text
    assert officer.get("/api/officer").json()["packs"][0]["version"] == 2
    pack = officer.get("/officer/south-la")
    assert pack.status_code == 200
    assert 'src="/officer/south-la/files/officers.html"' in pack.text
    assert "briefing.pdf" in pack.text and "officer1.gpx" in pack.text  # v2 is the footbeats scenario
    assert re.search(r"briefing-officer1-\d{4}\.png", pack.text)
    assert "<script" not in pack.text  # the page runs no script of its own inline
    data = officer.get("/api/officer/south-la").json()
    assert data["version"] == 2 and data["scenario"] == SCENARIOS[1]
    assert {f["kind"] for f in data["files"]} == {"map", "briefing", "page", "gpx"}
    assert not any(f["name"].endswith((".gpkg", ".geojson", ".csv")) for f in data["files"])
    # another area, published or not, and an unknown one: one answer
    other = client_for("officer2")
    assert other.get("/officer").status_code == 200 and "/officer/south-la" not in other.get("/officer").text
    for path in ("/officer/south-la", "/officer/downtown", "/officer/nowhere", "/api/officer/south-la",
                 "/officer/south-la/files/officers.html", "/officer/downtown/files/officers.html"):
        assert other.get(path).status_code == 404, path
    assert officer.get("/officer/downtown").status_code == 404


def test_pack_files_are_served_audited_and_the_map_saves_for_offline(service: Service, client_for: Any) -> None:
    from passages.web.app import MAP_CSP

    officer = client_for("officer1")
    shown = officer.get("/officer/south-la/files/officers.html")
    assert shown.status_code == 200 and shown.headers["content-security-policy"] == MAP_CSP
    assert "attachment" not in shown.headers.get("content-disposition", "")
    saved = officer.get("/officer/south-la/files/officers.html?download=1")
    assert saved.headers["content-disposition"].startswith("attachment")
    assert "officers.html" in saved.headers["content-disposition"]
    assert saved.content == shown.content and b"Footbeat loops" in saved.content
    assert officer.get("/officer/south-la/files/briefing.pdf").content.startswith(b"%PDF")
    gpx = officer.get("/officer/south-la/files/officer1.gpx?download=1")
    assert gpx.status_code == 200 and b"<gpx" in gpx.content
    for name in ("plan.gpkg", "plan-posts.geojson", "posts.gpx", "metrics.json", "%2E%2E",
                 "..%2F..%2Fcompare%2Fcompare.csv"):
        assert officer.get(f"/officer/south-la/files/{name}").status_code == 404, name
    lines = audit_lines(service, "download")
    assert len(lines) == 4 and all(line.username == "officer1" for line in lines)
    assert {line.detail for line in lines} == {"opened", "saved"}
    assert lines[0].target == "south-la v2 officer1.gpx"


# --------------------------------------------------------------------------- command staff


def test_compare_page_shows_the_table_chart_and_maps(service: Service, client_for: Any) -> None:
    command = client_for("command1")
    run_id = service.runs["south-la"]
    page = command.get(f"/runs/{run_id}/compare")
    assert page.status_code == 200
    for scenario in SCENARIOS:
        assert f"<td>{scenario}</td>" in page.text
    assert f'action="/runs/{run_id}/publish"' in page.text and 'name="csrf_token"' in page.text
    data = command.get(f"/api/runs/{run_id}/compare").json()
    assert [row["scenario"] for row in data["rows"]] == list(SCENARIOS)
    assert command.get(data["chart"]).content.startswith(b"\x89PNG")
    maps = command.get(data["side_by_side"])
    assert maps.status_code == 200 and b"srcdoc" in maps.content
    table = command.get(data["table_csv"])
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [row["scenario"] for row in rows] == list(SCENARIOS)
    assert command.get(f"/runs/{service.runs['queued']}/compare").status_code == 404
    assert command.get("/runs/999/compare").status_code == 404


def test_publish_makes_a_new_version_and_history_says_who_and_when(service: Service, client_for: Any) -> None:
    command = client_for("command1")
    run_id = service.runs["south-la"]
    token = csrf_of(command)
    answer = command.post(f"/runs/{run_id}/publish", data={"scenario": SCENARIOS[0], "note": "back to posts",
                                                           "csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/history/south-la")
    history = command.get("/api/history/south-la").json()
    assert [v["version"] for v in history["versions"]] == [3, 2, 1]
    assert [v["published_by"] for v in history["versions"]] == ["command1", "planner1", "command1"]
    assert history["versions"][0]["in_force_until"] is None
    assert history["versions"][1]["in_force_until"] == history["versions"][0]["in_force_from"]
    today = history["versions"][0]["in_force_from"]
    on = command.get(f"/api/history?on={today}").json()
    assert [(r["area"], r["version"]) for r in on["in_force_on"]] == [("south-la", 3)]
    page = command.get("/history/south-la")
    assert "back to posts" in page.text and "/history/south-la/diff?a=2&amp;b=3" in page.text
    assert command.get("/history").status_code == 200
    (line,) = audit_lines(service, "publish")[:1]
    assert line.username == "command1" and line.target == "south-la v3"
    # the officers now get version 3
    officer = client_for("officer1")
    assert officer.get("/api/officer/south-la").json()["version"] == 3
    # a run not done, or a scenario it does not have, is refused
    for run, scenario in ((service.runs["queued"], SCENARIOS[0]), (run_id, "no-such-scenario"),
                          (run_id, "../../etc")):
        refused = command.post(f"/runs/{run}/publish", data={"scenario": scenario, "csrf_token": token})
        assert refused.status_code == 400
    assert len(audit_lines(service, "publish")) == 3  # the two of the seed, and this one


def test_diff_says_what_moved_between_two_versions(service: Service, client_for: Any) -> None:
    planner = client_for("planner1")
    diff = planner.get("/api/history/south-la/diff?a=1&b=2").json()
    assert diff["a"]["scenario"] == SCENARIOS[0] and diff["b"]["scenario"] == SCENARIOS[1]
    assert diff["passage_km"]["a"] == diff["passage_km"]["b"] > 1 and diff["passage_km"]["added"] == 0
    assert {row["change"] for row in diff["posts"]} == {"removed"}  # posts gave way to loops
    assert {row["change"] for row in diff["loops"]} == {"added"}
    metrics = {row["metric"]: row for row in diff["metrics"]}
    assert metrics["mode"]["a"] == "posts" and metrics["mode"]["b"] == "footbeats"
    share = metrics["demand_share"]
    assert share["change"] == pytest.approx(share["b"] - share["a"], abs=1e-3)
    same = planner.get("/api/history/south-la/diff?a=2&b=2").json()
    assert {row["change"] for row in same["loops"]} == {"same"}
    page = planner.get("/history/south-la/diff?a=1&b=2")
    assert page.status_code == 200 and "removed" in page.text
    assert planner.get("/history/south-la/diff?a=1&b=9").status_code == 404
    assert planner.get("/history/downtown").status_code == 404
    assert planner.get("/history/south-la/1/map").headers["content-security-policy"].startswith("default-src 'none'")


# --------------------------------------------------------------------------- community


def test_community_page_in_english_and_spanish_with_no_officers_or_risk(service: Service, client_for: Any) -> None:
    from passages.maps import HOT_COLOR, OFFICER_COLORS, RISK_COLORS

    visitor = client_for()
    home = visitor.get("/community")
    assert home.status_code == 200 and "/community/south-la" in home.text and "/community/downtown" not in home.text
    page = visitor.get("/community/south-la")
    assert page.status_code == 200 and 'src="/community/south-la/map"' in page.text
    assert "Streets of the Safe Passages" in page.text and "Schools" in page.text
    spanish = visitor.get("/community/south-la?lang=es")
    assert "Pasajes Seguros" in spanish.text and "Calles de los Pasajes Seguros" in spanish.text
    assert 'lang="es"' in spanish.text and 'src="/community/south-la/map?lang=es"' in spanish.text
    spanish_map = visitor.get("/community/south-la/map?lang=es")
    assert spanish_map.status_code == 200 and '<html lang="es">' in spanish_map.text and "Leyenda" in spanish_map.text
    for name in ("Rondas a pie", "Puestos y paradas", "Tramos calientes", "Calles por riesgo"):
        assert name not in spanish_map.text, name
    printable = visitor.get("/community/south-la/print?lang=es")
    assert printable.status_code == 200 and "printable" in printable.text
    served = visitor.get("/community/south-la/map")
    assert served.status_code == 200 and "Safe Passages" in served.text
    text = served.text.lower()
    for name in ("Footbeat loops", "Posts and stops", "Hot segments", "Streets by risk", 'class="pp-officer'):
        assert name.lower() not in text, name
    for colour in (*RISK_COLORS, HOT_COLOR, *OFFICER_COLORS):
        assert colour.lower() not in text, colour
    data = visitor.get("/api/community/south-la").json()
    assert set(data) == {"area", "area_name", "version", "updated", "map", "streets", "places"}
    for word in ("post", "loop", "risk", "hot", "officer"):
        assert word not in json.dumps(data).lower().replace("passages", ""), word
    assert visitor.get("/community/downtown").status_code == 404  # not published
    assert visitor.get("/community/downtown/map").status_code == 404


def test_a_community_map_showing_officers_is_never_served(service: Service, client_for: Any) -> None:
    from passages.web.publish import run_dir

    community = run_dir(service.config, service.runs["south-la"]) / "scenarios" / SCENARIOS[1] / "community.html"
    officers = community.parent / "officers" / "officers.html"
    community.write_bytes(officers.read_bytes())
    visitor = client_for()
    assert visitor.get("/community/south-la/map").status_code == 404
    assert visitor.get("/api/community/south-la").json()["map"] is None


# --------------------------------------------------------------------------- admin


def test_admin_manages_accounts_and_policies(service: Service, client_for: Any) -> None:
    admin = client_for("admin1")
    token = csrf_of(admin)
    added = admin.post("/admin/users", data={"username": "newcop", "role": "officer", "areas": ["south-la"],
                                             "csrf_token": token})
    assert added.status_code == 200
    password = re.search(r'<code class="once">([^<]+)</code>', added.text)
    assert password is not None
    assert admin.get("/admin/users").text.count(password.group(1)) == 0  # shown once only
    users = {u["username"]: u for u in admin.get("/api/admin/users").json()["users"]}
    assert users["newcop"]["areas"] == ["south-la"] and users["newcop"]["must_change_password"]
    assert admin.post("/admin/users", data={"username": "x", "role": "officer", "areas": ["../etc"],
                                            "csrf_token": token}).status_code == 400
    assert admin.post("/admin/users/newcop/disable", data={"csrf_token": token}).status_code == 200
    fresh = client_for()
    assert log_in(fresh, "newcop", password.group(1)).status_code == 401  # disabled
    admin.post("/admin/users/newcop/enable", data={"csrf_token": token})
    reset = admin.post("/admin/users/newcop/reset", data={"csrf_token": token})
    new_password = re.search(r'<code class="once">([^<]+)</code>', reset.text)
    assert new_password is not None and new_password.group(1) != password.group(1)
    assert log_in(client_for(), "newcop", new_password.group(1)).headers["location"] == "/password"
    enrolled = admin.post("/admin/users/newcop/totp", data={"csrf_token": token})
    assert "otpauth://totp/" in enrolled.text
    assert admin.post("/admin/users/admin1/disable", data={"csrf_token": token}).status_code == 400
    assert admin.post("/admin/policy", data={"role": "command", "require_totp": "on",
                                             "csrf_token": token}).status_code == 200
    assert admin.get("/api/admin/users").json()["policies"]["command"] is True
    assert log_in(client_for(), "command1").headers["location"] == "/login/totp"
    events = admin.get("/api/admin/audit").json()["events"]
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)  # newest first
    assert {"user", "policy", "login"} <= {e["action"] for e in events}
    assert admin.get("/api/admin/audit?action=policy").json()["events"][0]["target"] == "command"
    page = admin.get("/admin/audit")
    assert page.status_code == 200 and "<form" in page.text and 'method="post"' not in page.text.split("<main>")[1]

"""Who may use what: the whole route table walked for each role and for an anonymous visitor.

Also: CSRF refusal on every state-changing route, lockout after 5 bad passwords, idle
expiry, injection attempts (markup in a scenario, area and place name; ``..`` in every path
parameter) and an officer's reach (nothing of an area not assigned, nothing unpublished).
"""

# ruff: noqa: F811 - the fixtures of test_web_pages are imported by name

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from typing import Any

import pytest
from test_web_pages import (  # noqa: F401 - fixtures
    HOSTILE,
    PASSWORD,
    SCENARIOS,
    Service,
    add_run,
    audit_lines,
    client_for,
    log_in,
    service,
    web_root,
)

from passages.web.routing import ANYONE, route_table, undeclared_routes

#: One account of each role (officer1 is assigned south-la, which is published).
ACCOUNT_OF = {"admin": "admin1", "planner": "planner1", "command": "command1", "officer": "officer1"}

#: A value for each path parameter of the route table (others get "1").
PARAMETERS = {"run_id": "1", "area": "south-la", "name": "briefing.pdf", "scenario": SCENARIOS[0],
              "username": "victim", "version": "1", "path": "compare/compare.csv"}

#: Query strings some routes need.
QUERIES = {"command_diff": "?a=1&b=2", "api_command_diff": "?a=1&b=2"}


def _url(path: str, name: str, value: str | None = None) -> str:
    filled = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: value if value is not None else PARAMETERS.get(m.group(1), "1"),
                    path)
    return filled + QUERIES.get(name, "")


def _request(client: Any, method: str, url: str, *, token: str | None) -> Any:
    headers = {"X-CSRF-Token": token} if token else {}
    return client.request(method, url, headers=headers, follow_redirects=False)


def test_only_the_static_files_state_no_roles(service: Service) -> None:
    assert undeclared_routes(service.app) == ["/static"]
    names = [name for _, _, name, _ in route_table(service.app)]
    assert len(names) == len(set(names))


def test_route_table_matrix_for_every_role_and_anonymous(service: Service, client_for: Any) -> None:
    table = route_table(service.app)
    assert len(table) > 40
    anonymous = client_for()
    for method, path, name, roles in table:
        url = _url(path, name)
        answer = _request(anonymous, method, url, token=None)
        if ANYONE in roles:
            assert answer.status_code not in (401, 403), (method, url)
        elif path.startswith("/api/"):
            assert answer.status_code == 401, (method, url)
        else:
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), (method, url)
    for role, username in ACCOUNT_OF.items():
        reader = client_for(username)
        token = re.search(r'name="csrf-token" content="([^"]+)"', reader.get("/").text).group(1)  # type: ignore[union-attr]
        for method, path, name, roles in table:
            url = _url(path, name)
            if method == "GET":
                answer = _request(reader, method, url, token=None)
            else:  # a state-changing call ends nothing of the reader's session: a session of its own
                own = client_for(username)
                own_token = re.search(r'name="csrf-token" content="([^"]+)"', own.get("/").text)
                answer = _request(own, method, url, token=own_token.group(1) if own_token else token)
            allowed = ANYONE in roles or role in roles
            if allowed:
                assert answer.status_code not in (401, 403), (role, method, url, answer.status_code)
            else:
                assert answer.status_code == 403, (role, method, url, answer.status_code)


def test_every_state_changing_route_refuses_a_missing_csrf_token(service: Service, client_for: Any) -> None:
    posts = [(m, p, n, r) for m, p, n, r in route_table(service.app) if m not in ("GET", "HEAD", "OPTIONS")]
    assert {"command_publish", "admin_user_add", "admin_policy", "logout", "login"} <= {n for _, _, n, _ in posts}
    for method, path, name, roles in posts:
        role = next((r for r in ("admin", "command", "planner", "officer") if r in roles), "admin")
        client = client_for(ACCOUNT_OF[role]) if ANYONE not in roles else client_for()
        answer = client.request(method, _url(path, name), data={"csrf_token": "forged", "username": "admin1",
                                                                 "password": PASSWORD, "scenario": SCENARIOS[0]},
                                follow_redirects=False)
        assert answer.status_code == 403, (method, path, answer.status_code)
    assert len(audit_lines(service, "publish")) == 2  # only the seed's


def test_an_officer_gets_nothing_of_another_area_nor_anything_unpublished(service: Service,
                                                                          client_for: Any) -> None:
    officer = client_for("officer2")  # assigned downtown, which has a done run but no publication
    nothing = officer.get("/officer/nowhere").text
    for url in ("/officer/downtown", "/api/officer/downtown", "/officer/downtown/files/briefing.pdf",
                "/officer/south-la", "/api/officer/south-la", "/officer/south-la/files/officers.html",
                "/officer/south-la/files/briefing.pdf"):
        answer = officer.get(url)
        assert answer.status_code == 404, url
        assert answer.text == nothing or "/api/" in url  # the same answer, whatever the reason
    assert officer.get("/api/officer").json() == {"packs": []}
    for url in ("/runs/1/compare", "/runs/2/compare/chart.png", "/history", "/api/history/south-la",
                "/history/south-la/1/map", "/admin/users", "/runs/1/files/compare/compare.csv"):
        assert officer.get(url).status_code == 403, url
    assert audit_lines(service, "download") == []


def test_five_bad_passwords_lock_the_account(service: Service, client_for: Any) -> None:
    client = client_for()
    for _ in range(5):
        assert log_in(client, "victim", "wrong password!").status_code == 401
    refused = log_in(client, "victim", PASSWORD)
    assert refused.status_code == 401 and "locked" in refused.text
    attempts = [e for e in audit_lines(service, "login") if e.username == "victim"]
    assert [e.outcome for e in attempts][::-1] == ["bad-password"] * 5 + ["locked"]


def test_an_idle_session_ends(service: Service, client_for: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from passages.web import auth

    client = client_for("command1")
    assert client.get("/api/history").status_code == 200
    later = auth.utcnow() + timedelta(minutes=service.config.session_idle_minutes + 1)
    monkeypatch.setattr(auth, "utcnow", lambda: later)
    assert client.get("/api/history").status_code == 401
    assert client.get("/history", follow_redirects=False).headers["location"].startswith("/login")


def _hostile_run(service: Service) -> int:
    """A done run of an area ``evil`` whose names are markup: area, scenario, place, street."""
    from passages.web.publish import run_dir

    source = run_dir(service.config, service.runs["south-la"])
    folder = service.config.artefact_dir / "hostile-source"
    shutil.copytree(source, folder)
    for scenario in SCENARIOS:
        base = folder / "scenarios" / scenario
        summary = json.loads((base / "plan-summary.json").read_text())
        summary["area_name"] = HOSTILE
        (base / "plan-summary.json").write_text(json.dumps(summary))
        metrics = json.loads((base / "metrics.json").read_text())
        metrics["scenario"] = HOSTILE
        (base / "metrics.json").write_text(json.dumps(metrics))
        for layer, field in (("places", "name"), ("passages", "name"), ("posts", "corner"), ("loops", "streets")):
            path = base / "officers" / f"plan-{layer}.geojson"
            data = json.loads(path.read_text())
            for feature in data["features"]:
                feature["properties"][field] = HOSTILE
            path.write_text(json.dumps(data))
    table = (folder / "compare" / "compare.csv").read_text().splitlines()
    table[1] = HOSTILE.replace(",", ";") + table[1][table[1].index(","):]
    (folder / "compare" / "compare.csv").write_text("\n".join(table) + "\n")
    run_id = add_run(service, "evil", folder)
    shutil.rmtree(folder)
    return run_id


def test_markup_in_names_is_shown_escaped_everywhere(service: Service, client_for: Any) -> None:
    from passages.web import auth
    from passages.web.publish import publish

    run_id = _hostile_run(service)
    with service.store.session() as session:
        publish(session, service.config, run_id, SCENARIOS[0], by="command1", note=HOSTILE)
        publish(session, service.config, run_id, SCENARIOS[1], by="command1")
        auth.add_user(session, "evilcop", "officer", password=PASSWORD, areas=("evil",))
    pages = {
        "evilcop": ["/officer", "/officer/evil", "/api/officer/evil"],
        "command1": [f"/runs/{run_id}/compare", "/history", "/history/evil", "/history/evil/diff?a=1&b=2",
                     f"/api/runs/{run_id}/compare", "/api/history/evil/diff?a=1&b=2"],
        "admin1": ["/admin/audit", "/admin/users"],
    }
    seen_escaped = 0
    for username, urls in pages.items():
        client = client_for(username)
        for url in urls:
            answer = client.get(url)
            assert answer.status_code == 200, url
            if "/api/" in url:  # data, never a page: the browser is told so and told not to guess
                assert answer.headers["content-type"] == "application/json"
                assert answer.headers["x-content-type-options"] == "nosniff"
                continue
            assert "<script>alert" not in answer.text, url
            seen_escaped += "&lt;script&gt;" in answer.text
    for url in ("/community", "/community/evil", "/community/evil/print?lang=es"):
        answer = client_for().get(url)
        assert answer.status_code == 200 and "<script>alert" not in answer.text, url
        assert "&lt;script&gt;" in answer.text, url
    assert seen_escaped >= 6


# (a bare "/.." is folded away by every client before it is sent: only the encoded forms reach the server)
@pytest.mark.parametrize("value", ["%2E%2E", ".%2E", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%5c%2e%2e", "....%2F..%2Fx"])
def test_dot_dot_in_any_path_parameter_is_refused(service: Service, client_for: Any, value: str) -> None:
    clients = {role: client_for(username) for role, username in ACCOUNT_OF.items()}
    clients[ANYONE] = client_for()
    for method, path, name, roles in route_table(service.app):
        if "{" not in path or method != "GET":
            continue
        role = next(r for r in (ANYONE, "admin", "command", "planner", "officer") if r in roles)
        for parameter in re.findall(r"\{(\w+)(?::\w+)?\}", path):
            url = re.sub(r"\{" + parameter + r"(:\w+)?\}", value, path)
            url = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PARAMETERS.get(m.group(1), "1"), url) + QUERIES.get(name, "")
            answer = clients[role].get(url, follow_redirects=False)
            assert answer.status_code in (400, 404, 405, 422), (url, answer.status_code)
            assert "root:" not in answer.text


def test_the_what_if_re_plan_is_for_planners_and_admins_only(service: Service, client_for: Any) -> None:
    """``POST /api/plan/whatif`` answers posts and loops: only roles that may already open officer maps ask."""
    [(method, roles)] = [(m, r) for m, p, n, r in route_table(service.app) if n == "api_plan_whatif"]
    assert method == "POST" and set(roles) == {"admin", "planner"}
    body = {"area": "downtown", "parameters": {"officers": 0}}  # refused before anything is read
    assert client_for().post("/api/plan/whatif", json=body).status_code == 401
    for role, username in ACCOUNT_OF.items():
        client = client_for(username)
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)  # type: ignore[union-attr]
        answer = client.post("/api/plan/whatif", json=body, headers={"X-CSRF-Token": token})
        if role in roles:
            assert answer.status_code == 400 and "officers" in answer.json()["detail"], role
        else:
            assert answer.status_code == 403, role
    assert service.app.state.whatif.areas() == []


def test_the_community_concern_routes_and_their_roles(service: Service) -> None:
    """The residents' form is public; reading and deciding on the reports is for planners and admins only."""
    expected = {
        ("POST", "/community/{area}/concerns", "community_concern_send", (ANYONE,)),
        ("GET", "/community/{area}/thanks", "community_concern_thanks", (ANYONE,)),
        ("GET", "/api/community/{area}/pickmap", "api_community_pickmap", (ANYONE,)),
        ("GET", "/vendor/leaflet.js", "vendor_leaflet_js", (ANYONE,)),
        ("GET", "/vendor/leaflet.css", "vendor_leaflet_css", (ANYONE,)),
        ("GET", "/concerns", "concerns_page", ("admin", "planner")),
        ("GET", "/api/concerns", "api_concerns", ("admin", "planner")),
        ("POST", "/concerns/{report_id}/accept", "concern_accept", ("admin", "planner")),
        ("POST", "/concerns/{report_id}/reject", "concern_reject", ("admin", "planner")),
    }
    table = set(route_table(service.app))
    assert expected <= table
    assert {row for row in table if "concern" in row[2] or row[1].startswith("/vendor/")} == expected - {
        ("GET", "/api/community/{area}/pickmap", "api_community_pickmap", (ANYONE,))}

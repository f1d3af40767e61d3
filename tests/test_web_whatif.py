"""Planners' what-if re-plans (``POST /api/plan/whatif``) from inputs kept warm in the web process.

The answers are checked against a cold :func:`make_plan` (and :func:`cover`) of the same
parameters on the real data; the kept inputs are read again when a file's bytes change
(even with its size and modification time kept); every parameter is checked with a 400
naming it; only planners (and admins) may ask, with the CSRF header.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from passages.web import auth, whatif
from passages.web.app import create_app
from passages.web.config import ServiceConfig
from passages.web.store import Store

PASSWORD = "a-long-test-password"
ACCOUNTS = {"plan1": "planner", "admin1": "admin", "cmd1": "command", "off1": "officer"}
URL = "/api/plan/whatif"


def make_app(tmp_path: Path, data_dir: Path, **options: Any) -> Any:
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path}/service.db", artefact_dir=tmp_path / "artefacts",
                           data_dir=data_dir, **options)
    store = Store(config.database_url)
    store.migrate()
    with store.session() as session:
        for name, role in ACCOUNTS.items():
            auth.add_user(session, name, role, password=PASSWORD, areas=("downtown",) if role == "officer" else ())
    return create_app(config, store)


def login(client: TestClient, username: str) -> str:
    """Log in through the form; return the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None
    answer = client.post("/login", data={"username": username, "password": PASSWORD, "login_csrf": token.group(1),
                                         "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/").text)
    assert csrf is not None
    return csrf.group(1)


@dataclasses.dataclass
class Planner:
    client: TestClient
    csrf: str
    app: Any

    def ask(self, body: Any, **options: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf}
        if isinstance(body, bytes | str):
            return self.client.post(URL, content=body, headers={**headers, "content-type": "application/json"})
        return self.client.post(URL, json=body, headers=headers, **options)


@pytest.fixture(scope="module")
def planner(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planner]:
    app = make_app(tmp_path_factory.mktemp("whatif"), shared_data)
    with TestClient(app) as client:
        yield Planner(client, login(client, "plan1"), app)


def cold_figures(area: str, data_dir: Path, parameters: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The plan and figures a cold make_plan gives (the pipeline run from the files)."""
    from passages.areas import load_areas
    from passages.plan import make_plan
    from passages.scenarios import PlanParameters

    params = PlanParameters.from_mapping({k: v for k, v in parameters.items() if k in whatif.PLAN_KEYS})
    plan = make_plan(load_areas()[area], params=params, data_dir=data_dir, offline=True)
    return plan, whatif.plan_figures(plan)


def test_a_planner_re_plans_downtown_as_a_cold_plan_would(planner: Planner, shared_data: Path) -> None:
    from passages.coverage import CoverageModel, cover
    from passages.scenarios import CoverageParameters

    body = {"area": "downtown", "parameters": {"risk_lambda": 3, "max_detour": 0.3, "windows": ["07:00-09:00"],
                                               "officers": 3, "mode": "posts"}}
    first = planner.ask(body)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["area"] == "downtown" and answer["changed"] == ["risk_lambda", "max_detour", "windows", "officers",
                                                                  "mode"]
    assert answer["parameters"]["risk_lambda"] == 3.0 and answer["parameters"]["windows"] == ["07:00-09:00"]
    plan, figures = cold_figures("downtown", shared_data, body["parameters"])
    assert answer["figures"] == figures
    summary = plan.summary()
    assert figures["passage_km"] == summary["passage_km"]
    assert figures["hot_segments"] == summary["risk"]["hot_segments"]
    assert figures["routes"] == summary["routes"]["routed"]
    assert figures["mean_detour_ratio"] == summary["routes"]["mean_detour_ratio"]
    assert figures["exposure_safer"] == summary["routes"]["exposure_safer"]
    assert 0 < figures["exposure_reduction"] < 1
    coverage = cover(plan, CoverageParameters(officers=3), model=CoverageModel(plan))
    assert answer["coverage"] == whatif.coverage_figures(coverage)
    assert len(answer["coverage"]["posts"]) == 3 and answer["coverage"]["posts"][0]["corner"]
    assert answer["notes"] == plan.notes
    assert any(name.startswith("data/incidents/") for name in answer["inputs"]["input_hashes"])

    # another value: answered from the kept inputs, equal to its cold plan too
    again = planner.ask({"area": "downtown", "parameters": {"risk_lambda": 0.5, "officers": 2, "mode": "footbeats"}})
    assert again.status_code == 200 and again.json()["inputs"]["read_now"] is False
    plan, figures = cold_figures("downtown", shared_data, {"risk_lambda": 0.5})
    assert again.json()["figures"] == figures
    loops = again.json()["coverage"]["loops"]
    assert len(loops) == 2 and all(loop["length_km"] > 0 and loop["stops"] >= 1 for loop in loops)
    # no officers asked about: no coverage, and nothing read again
    plain = planner.ask({"area": "downtown", "parameters": {"windows": "14:00-16:00"}}).json()
    assert plain["coverage"] is None and plain["inputs"]["read_now"] is False
    assert planner.app.state.whatif.areas() == ["downtown"]
    assert planner.app.state.whatif.loads == 1


BAD_REQUESTS: list[tuple[Any, str]] = [
    (b"{not json", "not JSON"),
    ([1, 2], "must be a JSON object"),
    ({}, "no area given"),
    ({"area": 7}, "no area given"),
    ({"area": "atlantis"}, "unknown area 'atlantis'"),
    ({"area": "downtown", "scenario": "x"}, "unknown field 'scenario'"),
    ({"area": "downtown", "parameters": [1]}, "parameters must be a JSON object"),
    ({"area": "downtown", "parameters": {"lambda": 2}}, "field 'lambda': unknown key. Known keys: snap_m"),
    ({"area": "downtown", "parameters": {"radius_m": 2000}}, "walking radius cannot change"),
    ({"area": "downtown", "parameters": {"risk_lambda": 150}}, "'risk_lambda': must be from 0 to 100"),
    ({"area": "downtown", "parameters": {"risk_lambda": "high"}}, "'risk_lambda': expected a number"),
    ({"area": "downtown", "parameters": {"risk_lambda": True}}, "'risk_lambda': expected a number"),
    ('{"area": "downtown", "parameters": {"max_detour": NaN}}', "'max_detour': must be a finite number"),
    ('{"area": "downtown", "parameters": {"max_detour": 1e999}}', "'max_detour': must be a finite number"),
    ({"area": "downtown", "parameters": {"max_detour": -0.1}}, "'max_detour': must be from 0 to 5"),
    ({"area": "downtown", "parameters": {"officers": 0}}, "'officers': must be at least 1"),
    ({"area": "downtown", "parameters": {"officers": 51}}, "'officers': must be from 1 to 50"),
    ({"area": "downtown", "parameters": {"officers": 2.5}}, "'officers': expected a whole number"),
    ({"area": "downtown", "parameters": {"officers": 10**400}}, "'officers': must be a finite number"),
    ({"area": "downtown", "parameters": {"links_per_kind": 10**400}}, "'links_per_kind': must be a finite number"),
    ({"area": "downtown", "parameters": {"mode": "fly"}}, "'mode': unknown mode 'fly'"),
    ({"area": "downtown", "parameters": {"windows": ["25:00-26:00"]}}, "'windows': bad time window"),
    ({"area": "downtown", "parameters": {"windows": ["09:00-08:00"]}}, "ends before it starts"),
    ({"area": "downtown", "parameters": {"windows": []}}, "no time window given"),
    ({"area": "downtown", "parameters": {"windows": [f"0{h}:00-0{h}:30" for h in range(10)] + ["10:00-11:00"] * 3}},
     "13 windows given, more than 12"),
    ({"area": "downtown", "parameters": {"weekdays": [9]}}, "9 is not a weekday number"),
    ({"area": "downtown", "parameters": {"categories": ["nope"]}}, "unknown category 'nope'"),
    ({"area": "downtown", "parameters": {"mode": "footbeats", "stop_minutes": 100, "windows": ["07:00-08:00"]}},
     "cannot hold"),
]


def test_every_parameter_is_checked_with_a_400_naming_it(planner: Planner) -> None:
    for body, message in BAD_REQUESTS:
        answer = planner.ask(body)
        assert answer.status_code == 400, (body, answer.text)
        assert message in answer.json()["detail"], (body, answer.json()["detail"])
    huge = planner.ask('{"area": "downtown", "parameters": {"x": "' + "a" * whatif.MAX_BODY_BYTES + '"}}')
    assert huge.status_code == 413


def test_a_plan_left_without_incidents_is_a_422(planner: Planner) -> None:
    answer = planner.ask({"area": "downtown", "parameters": {"windows": ["03:00-03:01"], "categories": ["violent"]}})
    assert answer.status_code == 422 and "no incident" in answer.json()["detail"]


def test_only_planners_and_admins_may_ask_and_only_with_the_csrf_header(planner: Planner) -> None:
    body = {"area": "downtown", "parameters": {"risk_lambda": 2}}
    assert planner.client.post(URL, json=body).status_code == 403  # no CSRF header
    assert planner.client.post(URL, json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    with TestClient(planner.app) as anonymous:
        assert anonymous.post(URL, json=body).status_code == 401
    for username, status in (("cmd1", 403), ("off1", 403), ("admin1", 200)):
        with TestClient(planner.app) as client:
            token = login(client, username)
            answer = client.post(URL, json=body, headers={"X-CSRF-Token": token})
            assert answer.status_code == status, (username, answer.text)
    from passages.web.routing import route_table

    assert [(m, p, r) for m, p, n, r in route_table(planner.app) if n == "api_plan_whatif"] == [
        ("POST", URL, ("admin", "planner"))]


def _copy_area_data(shared: Path, target: Path, area: str) -> None:
    """Copy the files an area is planned from (shapefiles with their companions) under ``target``."""
    from passages.areas import load_areas
    from passages.plan import input_files

    for path in input_files(load_areas()[area], data_dir=shared).paths():
        parts = sorted(path.parent.glob(path.stem + ".*")) if path.suffix == ".shp" else [path]
        for part in parts:
            copy = target / part.relative_to(shared)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(part, copy)


def test_changed_input_bytes_are_read_again_never_answered_from_memory(shared_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _copy_area_data(shared_data, data, "downtown")
    app = make_app(tmp_path, data)
    body = {"area": "downtown", "parameters": {"risk_lambda": 2.5}}
    with TestClient(app) as client:
        csrf = login(client, "plan1")

        def ask() -> dict[str, Any]:
            answer = client.post(URL, json=body, headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        first = ask()
        assert first["inputs"]["read_now"] is True and ask()["inputs"]["read_now"] is False
        # the same size and modification time, other bytes: the weights' first digit halved
        incidents = data / "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv"
        before = incidents.stat()
        text = incidents.read_bytes()
        changed = re.sub(rb"^([^,]+,[^,]+,\d+,)([2-9])\.", lambda m: m.group(1) + str(int(m.group(2)) // 2).encode()
                         + b".", text, flags=re.MULTILINE)
        assert changed != text and len(changed) == len(text)
        incidents.write_bytes(changed)
        os.utime(incidents, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert (incidents.stat().st_size, incidents.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        second = ask()
        assert second["inputs"]["read_now"] is True
        assert second["inputs"]["input_hashes"] != first["inputs"]["input_hashes"]
        assert second["figures"]["incident_weight"] < first["figures"]["incident_weight"]
        assert second["figures"] == cold_figures("downtown", data, body["parameters"])[1]
        assert app.state.whatif.loads == 2 and app.state.whatif.areas() == ["downtown"]
        # a file gone: one line naming it, and nothing answered from memory
        incidents.unlink()
        gone = client.post(URL, json=body, headers={"X-CSRF-Token": csrf})
        assert gone.status_code == 400 and "crime_points_by_hour.csv" in gone.json()["detail"]
        assert "file not found" in gone.json()["detail"]


class _Stub:
    """Stands for an area's PlanInputs in the cache tests (no file read)."""

    def __init__(self, slug: str) -> None:
        self.slug = slug

    def is_current(self) -> bool:
        return True


def test_the_cache_keeps_few_areas_and_reads_each_once_for_many_threads(shared_data: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from passages.areas import load_areas

    warm = whatif.WarmInputs(shared_data, size=2)
    reads: list[str] = []

    def read(area: Any) -> _Stub:
        reads.append(area.slug)
        time.sleep(0.2)  # long enough for every thread to be waiting for it
        return _Stub(area.slug)

    monkeypatch.setattr(warm, "_read", read)
    areas = load_areas()
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(warm.get(areas["downtown"])[0])) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads == ["downtown"] and len({id(r) for r in results}) == 1
    warm.get(areas["south-la"])
    warm.get(areas["downtown"])  # used again: south-la is now the least recent
    warm.get(areas["south-central"])
    assert warm.areas() == ["downtown", "south-central"]
    assert reads == ["downtown", "south-la", "south-central"]
    warm.get(areas["south-la"])  # dropped before, so read again
    assert reads[-1] == "south-la"


def test_a_failed_read_is_not_kept(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from passages._errors import EmptyResultError
    from passages.areas import load_areas

    warm = whatif.WarmInputs(shared_data, size=2)
    calls = []

    def failing(area: Any) -> Any:
        calls.append(area.slug)
        raise EmptyResultError("no street")

    monkeypatch.setattr(warm, "_read", failing)
    for _ in range(2):
        with pytest.raises(EmptyResultError):
            warm.get(load_areas()["downtown"])
    assert calls == ["downtown", "downtown"] and warm.areas() == []


def test_the_keys_a_what_if_takes_are_the_scenario_keys() -> None:
    from passages.scenarios import LIMITS, CoverageParameters, PlanParameters

    assert set(whatif.PLAN_KEYS) == {f.name for f in dataclasses.fields(PlanParameters)} - {"radius_m"}
    assert set(whatif.COVERAGE_KEYS) == {f.name for f in dataclasses.fields(CoverageParameters)}
    assert set(LIMITS) - {"radius_m"} <= {*whatif.PLAN_KEYS, *whatif.COVERAGE_KEYS}


def test_areas_named_at_start_up_are_read_in_the_background(shared_data: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    started = threading.Event()

    def fake_read(self: whatif.WarmInputs, area: Any) -> _Stub:
        read.append(area.slug)
        started.set()
        return _Stub(area.slug)

    monkeypatch.setattr(whatif.WarmInputs, "_read", fake_read)
    app = make_app(tmp_path, shared_data, warm_areas=("downtown",))
    assert started.wait(30)
    for _ in range(100):
        if app.state.whatif.areas():
            break
        threading.Event().wait(0.05)
    assert read == ["downtown"] and app.state.whatif.areas() == ["downtown"]

"""Command staff's pages: compare a run's scenarios, publish one, read the history and diffs.

Command staff and admins use them; planners may look and publish too (the issue: a plan is
published "only by a planner's or commander's explicit action").
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from passages._errors import InputError
from passages._names import clean_name
from passages.web._serving import area_slug, bad_request, config_of, file_response, not_found, store_of
from passages.web.app import MAP_CSP, client_address
from passages.web.models import Publication, Run
from passages.web.publish import (
    diff_versions,
    history,
    in_force_on,
    publish,
    read_json,
    run_file,
    scenario_names,
)
from passages.web.routing import current_login, route
from passages.web.templating import render

__all__ = ["router"]

router = APIRouter()

#: Who may read comparisons and the history.
VIEW_ROLES = ["command", "admin", "planner"]

#: Who may publish a scenario to officers.
PUBLISH_ROLES = ["command", "planner", "admin"]

#: Columns of the comparison shown on the page, with their headings (the CSV has them all).
SHOWN_COLUMNS = (
    ("scenario", "Scenario"), ("mode", "Mode"), ("officers", "Officers"), ("windows", "Windows"),
    ("demand_share", "Walkers watched"), ("exposure_share", "Risk exposure watched"),
    ("watched_km", "km watched"), ("passage_km", "km of passage"), ("officer_hours", "Officer-hours"),
    ("hot_watched", "Hot segments watched"), ("posts", "Posts"), ("loops", "Loops"), ("loop_km", "Loop km"),
)

_SHARES = {"demand_share", "exposure_share"}


def _cell(column: str, value: Any) -> str:
    """One table cell as text: shares as percentages, numbers rounded."""
    if value in (None, ""):
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return clean_name(value)[:200]
    if column in _SHARES:
        return f"{number:.0%}"
    return f"{number:g}" if number == int(number) else f"{number:.2f}"


def _done_run(request: Request, run_id: int) -> Run | None:
    with store_of(request).session() as session:
        run = session.get(Run, run_id)
    return run if run is not None and run.state == "done" else None


def _compare_file(run: Run, suffix: str) -> str | None:
    """The listed comparison file of a run ending in ``suffix`` (``.csv``, ``-coverage.png``, ``.html``)."""
    for relative in run.outputs or []:
        relative = str(relative)
        if relative.startswith("compare/") and "/" not in relative[len("compare/"):] and relative.endswith(suffix):
            return relative
    return None


def comparison(request: Request, run: Run) -> dict[str, Any]:
    """The comparison of a run's scenarios: table rows, files, scenarios to publish."""
    config = config_of(request)
    rows: list[dict[str, Any]] = []
    table = _compare_file(run, ".csv")
    path = run_file(config, run, table) if table else None
    if path is not None:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = [dict(row) for row in csv.DictReader(io.StringIO(handle.read(2_000_000)))]
    else:
        rows = [read_json(config, run, f"scenarios/{name}/metrics.json") for name in scenario_names(run)]
    names = scenario_names(run)
    summary = read_json(config, run, f"scenarios/{names[0]}/plan-summary.json") if names else {}
    base = f"/runs/{run.id}/compare"
    return {
        "run_id": run.id, "area": run.area_slug,
        "area_name": clean_name(summary.get("area_name"), default=run.area_slug)[:200],
        "columns": [c for c, _ in SHOWN_COLUMNS],
        "rows": [{c: row.get(c) for c in (*(c for c, _ in SHOWN_COLUMNS), *row.keys())} for row in rows],
        "scenarios": names,
        "chart": f"{base}/chart.png" if _compare_file(run, "-coverage.png") else None,
        "side_by_side": f"{base}/maps.html" if _compare_file(run, ".html") else None,
        "table_csv": f"{base}/compare.csv" if table else None,
        "maps": {name: f"{base}/map/{name}" for name in names
                 if f"scenarios/{name}/officers/officers.html" in (run.outputs or [])},
    }


@route(router, "GET", "/runs/{run_id}/compare", roles=VIEW_ROLES, name="command_compare")
def compare_page(request: Request, run_id: int) -> Response:
    """A run's scenarios side by side: the table, the chart, the maps, and the form to publish one."""
    run = _done_run(request, run_id)
    if run is None:
        return not_found(request)
    data = comparison(request, run)
    table = [[_cell(c, row.get(c)) for c, _ in SHOWN_COLUMNS] for row in data["rows"]]
    login = current_login(request)
    return render(request, "compare.html", {"data": data, "headings": [h for _, h in SHOWN_COLUMNS],
                                            "table": table,
                                            "can_publish": login is not None and login.role in PUBLISH_ROLES})


@route(router, "GET", "/api/runs/{run_id}/compare", roles=VIEW_ROLES, name="api_command_compare",
       response_class=JSONResponse)
def api_compare(request: Request, run_id: int) -> Response:
    """JSON of :func:`compare_page`."""
    run = _done_run(request, run_id)
    return not_found(request) if run is None else JSONResponse(comparison(request, run))


def _serve_compare(request: Request, run_id: int, suffix: str, *, download: bool = False,
                   csp: str | None = None) -> Response:
    run = _done_run(request, run_id)
    relative = _compare_file(run, suffix) if run is not None else None
    path = run_file(config_of(request), run, relative) if run is not None and relative else None
    if path is None:
        return not_found(request)
    return file_response(path, name=path.name, download=download, csp=csp)


@route(router, "GET", "/runs/{run_id}/compare/chart.png", roles=VIEW_ROLES, name="command_compare_chart",
       response_class=Response)
def compare_chart(request: Request, run_id: int) -> Response:
    """The comparison chart (PNG): coverage by officers on duty."""
    return _serve_compare(request, run_id, "-coverage.png")


@route(router, "GET", "/runs/{run_id}/compare/compare.csv", roles=VIEW_ROLES, name="command_compare_csv",
       response_class=Response)
def compare_csv(request: Request, run_id: int) -> Response:
    """The comparison table (CSV, every column), as a download."""
    return _serve_compare(request, run_id, ".csv", download=True)


@route(router, "GET", "/runs/{run_id}/compare/maps.html", roles=VIEW_ROLES, name="command_compare_maps",
       response_class=Response)
def compare_maps(request: Request, run_id: int) -> Response:
    """Two scenarios' maps side by side (self-contained HTML)."""
    return _serve_compare(request, run_id, ".html", csp=MAP_CSP)


@route(router, "GET", "/runs/{run_id}/compare/map/{scenario}", roles=VIEW_ROLES, name="command_scenario_map",
       response_class=Response)
def scenario_map(request: Request, run_id: int, scenario: str) -> Response:
    """One scenario's officers map (posts and loops)."""
    run = _done_run(request, run_id)
    if run is None or scenario not in scenario_names(run):
        return not_found(request)
    path = run_file(config_of(request), run, f"scenarios/{scenario}/officers/officers.html")
    return not_found(request) if path is None else file_response(path, name="officers.html", csp=MAP_CSP)


def _publish(request: Request, run_id: int, scenario: str, note: str) -> Publication:
    login = current_login(request)
    assert login is not None
    with store_of(request).session() as session:
        return publish(session, config_of(request), run_id, scenario, by=login.username, note=note,
                       address=client_address(request))


@route(router, "POST", "/runs/{run_id}/publish", roles=PUBLISH_ROLES, name="command_publish")
def publish_form(request: Request, run_id: int, scenario: str = Form(..., max_length=64),
                 note: str = Form("", max_length=500)) -> Response:
    """Publish one scenario of a done run to the officers of its area (a new, immutable version)."""
    try:
        publication = _publish(request, run_id, scenario, note)
    except InputError as exc:
        return bad_request(request, exc.problem)
    return RedirectResponse(f"/history/{publication.area_slug}?published={publication.version}", status_code=303)


@route(router, "POST", "/api/runs/{run_id}/publish", roles=PUBLISH_ROLES, name="api_command_publish",
       response_class=JSONResponse)
def api_publish(request: Request, run_id: int, scenario: str = Form(..., max_length=64),
                note: str = Form("", max_length=500)) -> Response:
    """JSON of :func:`publish_form`: the new version (needs the ``X-CSRF-Token`` header)."""
    try:
        publication = _publish(request, run_id, scenario, note)
    except InputError as exc:
        return bad_request(request, exc.problem)
    return JSONResponse({"area": publication.area_slug, "version": publication.version,
                         "run_id": publication.run_id, "scenario": publication.scenario}, status_code=201)


def _history(request: Request, area: str | None, on: str | None) -> dict[str, Any] | None:
    slug = area_slug(area) if area is not None else None
    if area is not None and slug is None:
        return None
    with store_of(request).session() as session:
        rows = history(session, slug)
    if area is not None and not rows:
        return None
    day: date | None = None
    if on:
        try:
            day = date.fromisoformat(on)
        except ValueError:
            day = None
    in_force = []
    if day is not None:
        for name in sorted({r["area"] for r in rows}):
            found = in_force_on([r for r in rows if r["area"] == name], day)
            if found is not None:
                in_force.append(found)
    return {"area": slug, "versions": rows[::-1], "on": day.isoformat() if day else None, "in_force_on": in_force}


@route(router, "GET", "/history", roles=VIEW_ROLES, name="command_history")
def history_page(request: Request, on: str | None = None) -> Response:
    """Every published version of every area: when each was in force and who published it."""
    data = _history(request, None, on)
    return render(request, "history.html", {"data": data})


@route(router, "GET", "/api/history", roles=VIEW_ROLES, name="api_command_history", response_class=JSONResponse)
def api_history(request: Request, on: str | None = None) -> dict[str, Any] | None:
    """JSON of :func:`history_page` (``?on=YYYY-MM-DD``: the versions in force that day)."""
    return _history(request, None, on)


@route(router, "GET", "/history/{area}", roles=VIEW_ROLES, name="command_area_history")
def area_history_page(request: Request, area: str, on: str | None = None) -> Response:
    """The versions of one area, newest first, with a form to see what changed between two."""
    data = _history(request, area, on)
    return not_found(request) if data is None else render(request, "history.html", {"data": data})


@route(router, "GET", "/api/history/{area}", roles=VIEW_ROLES, name="api_command_area_history",
       response_class=JSONResponse)
def api_area_history(request: Request, area: str, on: str | None = None) -> Response:
    """JSON of :func:`area_history_page`."""
    data = _history(request, area, on)
    return not_found(request) if data is None else JSONResponse(data)


def _diff(request: Request, area: str, a: int, b: int) -> dict[str, Any] | None:
    slug = area_slug(area)
    if slug is None:
        return None
    with store_of(request).session() as session:
        try:
            return diff_versions(config_of(request), session, slug, a, b)
        except LookupError:
            return None


@route(router, "GET", "/history/{area}/diff", roles=VIEW_ROLES, name="command_diff")
def diff_page(request: Request, area: str, a: int, b: int) -> Response:
    """What changed between two versions: km of passage, posts and loops moved, coverage metrics."""
    data = _diff(request, area, a, b)
    return not_found(request) if data is None else render(request, "diff.html", {"data": data})


@route(router, "GET", "/api/history/{area}/diff", roles=VIEW_ROLES, name="api_command_diff",
       response_class=JSONResponse)
def api_diff(request: Request, area: str, a: int, b: int) -> Response:
    """JSON of :func:`diff_page`."""
    data = _diff(request, area, a, b)
    return not_found(request) if data is None else JSONResponse(data)


@route(router, "GET", "/history/{area}/{version}/map", roles=VIEW_ROLES, name="command_version_map",
       response_class=Response)
def version_map(request: Request, area: str, version: int) -> Response:
    """The officers map of one published version (posts and loops)."""
    slug = area_slug(area)
    with store_of(request).session() as session:
        from sqlalchemy import select

        publication = session.scalar(select(Publication).where(Publication.area_slug == slug,
                                                                Publication.version == version)) if slug else None
        run = session.get(Run, publication.run_id) if publication is not None else None
    if publication is None or run is None:
        return not_found(request)
    path = run_file(config_of(request), run, f"scenarios/{publication.scenario}/officers/officers.html")
    return not_found(request) if path is None else file_response(path, name="officers.html", csp=MAP_CSP)

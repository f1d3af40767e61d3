"""Planner pages: plan an area, watch the run, read its map, summary and downloads.

* ``GET /plan``: the form (an area; the plan and scenario keys of the TOML scenarios, or
  a scenario file; optional incident, school and area files). ``POST /plan`` queues a run
  (audit ``run``) and sends the planner to ``GET /runs/{id}``.
* ``GET /runs/{id}``: progress step by step without reloading (``static/progress.js``
  polls ``GET /api/runs/{id}``), then, for a run that is done and only then, the plan map,
  the summary and the files.
* ``GET /runs/{id}/files/{path}``: one file of a finished run, only if ``path`` is one of
  the run's recorded outputs (the path is looked up, never joined).
* ``POST /api/plan/whatif``: re-plan an area at once with changed parameters, from its
  inputs kept in memory (:mod:`passages.web.whatif`), and answer the figures a planner
  compares (with the officers' posts and loops when officers are asked about); nothing is
  stored, queued or written.

Every page's data is also JSON under ``/api``.
"""

from __future__ import annotations

import json
import math
from pathlib import PurePosixPath
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from passages._errors import InputError
from passages.web import jobs, whatif
from passages.web.config import ServiceConfig
from passages.web.models import Run
from passages.web.routing import current_login, route
from passages.web.store import Store
from passages.web.templating import render

__all__ = ["router"]

router = APIRouter()

PLANNERS = ["admin", "planner"]
READERS = ["admin", "planner", "command"]

#: Content types of the files a run writes, by ending.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".json": "application/json", ".csv": "text/csv; charset=utf-8",
    ".png": "image/png", ".pdf": "application/pdf", ".gpx": "application/gpx+xml",
    ".gpkg": "application/geopackage+sqlite3", ".geojson": "application/geo+json",
}

#: Files shown in the browser; every other file is a download.
INLINE = (".html", ".png", ".pdf", ".json")

#: Keys that are lists in a scenario, written comma-separated in the form.
LIST_KEYS = ("windows", "categories", "weekdays")

#: Keys that are whole numbers.
COUNT_KEYS = ("links_per_kind", "officers", "stops_per_loop", "laps")


def _keys() -> list[dict[str, Any]]:
    """The scenario keys the form offers: name, group, default, unit."""
    import dataclasses

    from passages.scenarios import LIMITS, CoverageParameters, PlanParameters

    rows = []
    for group, cls in (("plan", PlanParameters), ("coverage", CoverageParameters)):
        defaults = cls()
        for item in dataclasses.fields(cls):
            value = getattr(defaults, item.name)
            shown = ", ".join(str(v) for v in value) if isinstance(value, tuple) else ("" if value is None else value)
            low, high, unit = LIMITS.get(item.name, (None, None, ""))
            rows.append({"key": item.name, "group": group, "default": str(shown), "unit": unit,
                         "range": f"{low:g} to {high:g}" if low is not None and high is not None else ""})
    return rows


def _areas(config: ServiceConfig) -> list[dict[str, Any]]:
    from passages.areas import load_areas

    return [{"slug": a.slug, "name": a.name, "kind": a.kind, "local_network": a.offline}
            for a in load_areas().values()]


def form_scenario(values: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Return the scenario name and keys a form gives (blank fields keep the defaults).

    Values are parsed as their key's type (lists comma-separated); ranges and names are
    checked by :func:`passages.scenarios.read_scenarios` like a file's.

    Raises
    ------
    InputError
        A value is not a number where one is needed.
    """
    name = values.get("scenario_name", "").strip() or "plan"
    keys: dict[str, Any] = {}
    for row in _keys():
        key = row["key"]
        text = values.get(key, "").strip()
        if not text:
            continue
        if key in LIST_KEYS:
            parts = [p.strip() for p in text.split(",") if p.strip()]
            if key == "weekdays":
                try:
                    keys[key] = [int(p) for p in parts]
                except ValueError:
                    raise InputError(f"expected day numbers, got {text[:40]!r}", field=key,
                                     fix="Give days as numbers 0 (Monday) to 6, separated by commas.") from None
            else:
                keys[key] = parts
        elif key == "mode":
            keys[key] = text
        else:
            try:
                number = int(text) if key in COUNT_KEYS else float(text)
            except ValueError:
                kind = "a whole number" if key in COUNT_KEYS else "a number"
                raise InputError(f"expected {kind}, got {text[:40]!r}", field=key,
                                 fix=f"Give {key} as {kind}.") from None
            if isinstance(number, float) and not math.isfinite(number):
                raise InputError(f"must be a finite number, got {text[:40]!r}", field=key,
                                 fix=f"Give {key} as a number.")
            keys[key] = number
    return name, keys


async def _read_upload(item: UploadFile, limit: int, what: str) -> bytes:
    data = await item.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"the {what} file is larger than {limit:,} bytes", field=what,
                         fix="Upload a smaller file (cut it to the area and the period).")
    return data


def _run_json(run: Run) -> dict[str, Any]:
    """A run as the API gives it: its results only when it is done."""
    done = run.state == "done"
    files = {}
    if done:
        for name in run.summary:
            base = f"/runs/{run.id}/files/scenarios/{name}"
            files[name] = {"map": f"{base}/plan.html", "summary": f"{base}/plan-summary.json",
                           "community": f"{base}/community.html", "officers": f"{base}/officers/officers.html"}
    return {
        "id": run.id, "area": run.area_slug, "kind": run.kind, "state": run.state, "step": run.step,
        "steps_done": run.steps_done, "steps_total": run.steps_total, "steps": list(jobs.RUN_STEPS),
        "error": run.error, "created_by": run.created_by,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "parameters": run.parameters, "input_hashes": run.input_hashes,
        "summary": run.summary if done else {}, "outputs": list(run.outputs) if done else [],
        "scenarios": list(run.summary) if done else list(run.parameters),
        "links": files, "compare": f"/runs/{run.id}/compare" if done and len(run.summary) >= 2 else None,
    }


def _get_run(request: Request, run_id: int) -> Run:
    store: Store = request.app.state.store
    with store.session() as session:
        run = session.get(Run, run_id)
    if run is None:
        raise InputError(f"no run {run_id}", field="run", fix="See the list of runs.")
    return run


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


# --------------------------------------------------------------------------- planning


@route(router, "GET", "/plan", roles=PLANNERS, name="plan_page")
def plan_page(request: Request) -> Response:
    """The planning form: an area, the scenario keys (or a scenario file), optional files."""
    config: ServiceConfig = request.app.state.config
    return render(request, "plan.html", {"areas": _areas(config), "keys": _keys(), "error": "", "values": {},
                                         "max_upload_mb": config.max_upload_bytes / 1e6,
                                         "whatif_keys": (*whatif.PLAN_KEYS, *whatif.COVERAGE_KEYS)})


@route(router, "GET", "/api/plan/options", roles=PLANNERS, name="api_plan_options", response_class=JSONResponse)
def api_plan_options(request: Request) -> dict[str, Any]:
    """What the planning form offers: the areas, the scenario keys with defaults and ranges, the upload limit."""
    config: ServiceConfig = request.app.state.config
    return {"areas": _areas(config), "keys": _keys(), "max_upload_bytes": config.max_upload_bytes,
            "uploads": {k: list(v) for k, v in jobs.UPLOAD_KINDS.items()}}


@route(router, "POST", "/plan", roles=PLANNERS, name="plan_create")
async def plan_create(request: Request) -> Response:
    """Queue a run from the form (audit ``run``) and go to its page; a bad input is said on the form."""
    config: ServiceConfig = request.app.state.config
    store: Store = request.app.state.store
    login = current_login(request)
    assert login is not None
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        uploads: list[jobs.Upload] = []
        toml_text = ""
        for kind in ("incidents", "schools", "areas", "scenario_file"):
            for item in form.getlist(kind):
                if not isinstance(item, UploadFile) or not item.filename:
                    continue
                data = await _read_upload(item, config.max_upload_bytes, kind)
                if kind == "scenario_file":
                    if not (item.filename or "").lower().endswith(".toml"):
                        raise InputError("the scenario file must end in .toml", field="scenario_file",
                                         fix="Upload a TOML scenario file (see scenarios/ in the repository).")
                    try:
                        toml_text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        raise InputError("the scenario file is not UTF-8 text", field="scenario_file",
                                         fix="Save it as UTF-8.") from None
                else:
                    uploads.append(jobs.Upload(kind, jobs.upload_suffix(kind, item.filename), data))
        if not toml_text:
            name, keys = form_scenario(values)
            toml_text = jobs.scenario_toml({name: keys})
        area = values.get("custom_area", "").strip() or values.get("area", "").strip()
        run_id = await run_in_threadpool(jobs.create_run, store, config, area_slug=area, toml_text=toml_text,
                                         created_by=login.username, uploads=uploads, address=_address(request))
    except InputError as exc:
        return render(request, "plan.html", {"areas": _areas(config), "keys": _keys(), "error": str(exc),
                                             "values": values, "max_upload_mb": config.max_upload_bytes / 1e6,
                                             "whatif_keys": (*whatif.PLAN_KEYS, *whatif.COVERAGE_KEYS)},
                      status_code=400)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@route(router, "POST", "/api/runs", roles=PLANNERS, name="api_run_create", response_class=JSONResponse,
       status_code=201)
async def api_run_create(request: Request) -> Response:
    """Queue a run from JSON: ``{"area": slug, "scenarios": {name: {key: value}}}`` or ``"scenario_toml": text``.

    Answers 201 with the run; 400 with the one-line message for a bad input.
    """
    config: ServiceConfig = request.app.state.config
    store: Store = request.app.state.store
    login = current_login(request)
    assert login is not None
    body = await request.body()
    if len(body) > config.max_upload_bytes:
        return JSONResponse({"detail": "the request is too large"}, status_code=413)
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        return JSONResponse({"detail": "the body is not JSON"}, status_code=400)
    if not isinstance(payload, dict):
        return JSONResponse({"detail": "the body must be a JSON object"}, status_code=400)
    try:
        toml_text = payload.get("scenario_toml")
        if not isinstance(toml_text, str) or not toml_text:
            table = payload.get("scenarios") or {"plan": {}}
            toml_text = jobs.scenario_toml(table)
        area = payload.get("area")
        run_id = await run_in_threadpool(jobs.create_run, store, config, area_slug=area if isinstance(area, str)
                                         else "", toml_text=toml_text, created_by=login.username,
                                         address=_address(request))
    except InputError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    return JSONResponse(_run_json(_get_run(request, run_id)), status_code=201)


# --------------------------------------------------------------------------- what if


def warm_inputs(request: Request) -> whatif.WarmInputs:
    """The app's warm inputs (made on first use when the app was built without them)."""
    state = request.app.state
    warm: whatif.WarmInputs | None = getattr(state, "whatif", None)
    if warm is None:
        config: ServiceConfig = state.config
        import functools

        from passages.web.reports import existing_area_file

        warm = state.whatif = whatif.WarmInputs(config.data_dir, size=config.whatif_areas,
                                                concerns=functools.partial(existing_area_file, config.artefact_dir))
    return warm


@route(router, "POST", "/api/plan/whatif", roles=PLANNERS, name="api_plan_whatif", response_class=JSONResponse)
async def api_plan_whatif(request: Request) -> Response:
    """Re-plan an area with changed parameters at once, from its inputs kept in memory; nothing is stored.

    Body: ``{"area": slug, "parameters": {key: value}}`` with any plan key but ``radius_m``
    and any coverage key (``officers``, ``mode``, ...); keys not given keep their defaults.
    Answers 200 with the figures (km of passage, hot segments, routes, mean detour, risk
    exposure of the shortest and safer paths and its reduction) and, when a coverage key is
    given, the officers' coverage metrics, posts and loops; 400 with the one-line message
    naming the key for a bad request; 422 when no incident or no walk is left to plan; 413
    for a body over 64 KB. The first what-if of an area reads its inputs (seconds).
    Needs the ``X-CSRF-Token`` header.
    """
    from passages._errors import EmptyResultError, PassagesError

    body = await request.body()
    if len(body) > whatif.MAX_BODY_BYTES:
        return JSONResponse({"detail": "the request is too large"}, status_code=413)
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        return JSONResponse({"detail": "the body is not JSON"}, status_code=400)
    try:
        answer = await run_in_threadpool(whatif.what_if, warm_inputs(request), payload)
    except InputError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    except EmptyResultError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    except PassagesError as exc:
        return JSONResponse({"detail": f"the inputs of the area could not be read: {exc}"}, status_code=503)
    return JSONResponse(answer)


# --------------------------------------------------------------------------- runs


@route(router, "GET", "/runs", roles=READERS, name="runs_page")
def runs_page(request: Request) -> Response:
    """Every run, newest first: area, state, who ran it, when."""
    return render(request, "runs.html", {"runs": _list_runs(request)})


def _list_runs(request: Request, limit: int = 500) -> list[Run]:
    store: Store = request.app.state.store
    with store.session() as session:
        return list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))


@route(router, "GET", "/api/runs", roles=READERS, name="api_runs", response_class=JSONResponse)
def api_runs(request: Request) -> list[dict[str, Any]]:
    """Every run (newest first, at most 500), as ``GET /api/runs/{id}`` gives each."""
    return [_run_json(run) for run in _list_runs(request)]


@route(router, "GET", "/api/runs/{run_id}", roles=READERS, name="api_run", response_class=JSONResponse)
def api_run(request: Request, run_id: int) -> dict[str, Any]:
    """One run: state, step, steps done of the total, error; summary, outputs and links once done."""
    return _run_json(_get_run(request, run_id))


@route(router, "GET", "/runs/{run_id}", roles=READERS, name="run_page")
def run_page(request: Request, run_id: int, scenario: str = "") -> Response:
    """A run: its progress while it runs; its map, summary and files once done; the error if it failed."""
    run = _get_run(request, run_id)
    data = _run_json(run)
    names = list(run.summary) if run.state == "done" else []
    chosen = scenario if scenario in names else (names[0] if names else "")
    downloads: list[tuple[str, str]] = []
    if run.state == "done":
        downloads = [(path, f"/runs/{run.id}/files/{path}") for path in run.outputs]
    current = 0
    for index, name in enumerate(jobs.RUN_STEPS):
        if run.step.startswith(name):
            current = index
    return render(request, "run.html", {"run": run, "data": data, "scenarios": names, "chosen": chosen,
                                        "summary": run.summary.get(chosen, {}) if chosen else {},
                                        "downloads": downloads, "steps": jobs.RUN_STEPS, "current": current})


@route(router, "POST", "/runs/{run_id}/again", roles=PLANNERS, name="run_again")
def run_again(request: Request, run_id: int) -> Response:
    """Queue a new run with this run's inputs (audit ``run``) and go to it."""
    login = current_login(request)
    assert login is not None
    new_id = jobs.rerun(request.app.state.store, request.app.state.config, run_id, created_by=login.username,
                        address=_address(request))
    return RedirectResponse(f"/runs/{new_id}", status_code=303)


@route(router, "POST", "/api/runs/{run_id}/again", roles=PLANNERS, name="api_run_again",
       response_class=JSONResponse, status_code=201)
def api_run_again(request: Request, run_id: int) -> Response:
    """Queue a new run with this run's inputs; answers 201 with the new run."""
    login = current_login(request)
    assert login is not None
    new_id = jobs.rerun(request.app.state.store, request.app.state.config, run_id, created_by=login.username,
                        address=_address(request))
    return JSONResponse(_run_json(_get_run(request, new_id)), status_code=201)


@route(router, "GET", "/runs/{run_id}/files/{path:path}", roles=READERS, name="run_file", response_class=Response)
def run_file(request: Request, run_id: int, path: str) -> Response:
    """One file of a finished run, if ``path`` is one of its recorded outputs (maps get the map CSP)."""
    from passages.web.app import MAP_CSP

    config: ServiceConfig = request.app.state.config
    run = _get_run(request, run_id)
    stored = next((entry for entry in run.outputs if entry == path), None) if run.state == "done" else None
    if stored is None:
        return JSONResponse({"detail": "no such file in this run"}, status_code=404)
    relative = PurePosixPath(stored)
    file = jobs.run_folder(config.artefact_dir, run.id).joinpath(*relative.parts)
    if not file.is_file():
        return JSONResponse({"detail": "the file is gone"}, status_code=404)
    suffix = relative.suffix.lower()
    headers: dict[str, str] = {}
    if suffix == ".html":
        headers["Content-Security-Policy"] = MAP_CSP
    disposition = "inline" if suffix in INLINE else "attachment"
    return FileResponse(file, media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"), headers=headers,
                        filename=relative.name, content_disposition_type=disposition)

"""The community form of concerns, and the planners' page that accepts or rejects them.

Residents (no login), on the public page of an area with published Safe Passages
(``/community/{area}``, :mod:`passages.web.pages_community`):

* ``POST /community/{area}/concerns``: a place (tapped on the small map, chosen from the
  listed places, or typed as latitude and longitude), a category of
  :data:`passages.concerns.CATEGORIES` and an optional note; stored pending
  (:mod:`passages.web.reports`), then ``303`` to ``GET /community/{area}/thanks``. A bad
  field answers 400 with the form and one line saying what to fix; a flood 429.
  The form's anti-forgery token is the login form's kind: a random value in a
  ``SameSite=Strict`` cookie (path ``/community``) and in the form, which must match; a
  logged-in visitor's session token is checked instead (by the route gate).
* ``GET /api/community/{area}/pickmap``: what the small map draws (the area's outline, the
  passages and the listed places; nothing else), and ``GET /vendor/leaflet.js`` /
  ``leaflet.css``: Leaflet from the installed package, so the map needs no other site.

Planners (planner, admin):

* ``GET /concerns`` (and ``GET /api/concerns``): the pending reports of their areas (every
  area for a planner assigned none), and the accepted ones;
* ``POST /concerns/{report_id}/accept`` and ``/reject`` (CSRF, audit ``concern``; the
  audit line names the planner, the report's random id and the area, and nothing of the
  resident, of whom nothing is known).
"""

from __future__ import annotations

import functools
import math
import re
import secrets
from importlib import resources
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from passages._names import clean_name
from passages.concerns import CATEGORIES
from passages.i18n import N_, translator
from passages.web import audit, reports
from passages.web._serving import area_slug, config_of, not_found, store_of
from passages.web.models import ConcernReport, Publication, Run
from passages.web.publish import latest_publication, layer_features
from passages.web.routing import ANYONE, current_login, route
from passages.web.templating import render

__all__ = ["REPORT_CSRF_COOKIE", "form_context", "router"]

router = APIRouter()

PLANNERS = ["admin", "planner"]

#: Cookie carrying the community form's anti-forgery token (no session, nothing stored).
REPORT_CSRF_COOKIE = "passages_report_csrf"

#: The form's words (English; Spanish from the catalogues).
FORM_WORDS: dict[str, str] = {
    "heading": N_("Tell us about a place"),
    "intro": N_("Is there a place on or near these routes that worries you? Mark it and tell us what it is. "
                "You do not need an account and we do not keep who you are: no name, no address, no phone. "
                "A planner reads every report before it is used."),
    "map_hint": N_("Tap the map where the place is."),
    "no_script": N_("Or choose a place near it, or type its latitude and longitude."),
    "near": N_("Near a listed place"),
    "choose": N_("Choose a place"),
    "lat": N_("Latitude"), "lon": N_("Longitude"),
    "category": N_("What is the concern?"),
    "note": N_("Short note (optional)"),
    "note_hint": N_("At most {n} characters. Please do not write names or phone numbers."),
    "send": N_("Send"),
    "marked": N_("Place marked."),
    "thanks_title": N_("Thank you"),
    "thanks": N_("Thank you. A planner will read your report before it is used to plan the Safe Passages."),
    "back_area": N_("Back to the Safe Passages"),
    "problem": N_("Please fix this:"),
}

#: The categories as the form shows them (English; Spanish from the catalogues).
CATEGORY_WORDS: dict[str, str] = {
    "dark at night": N_("dark at night"),
    "people hang out here": N_("people hang out here"),
    "no safe crossing": N_("no safe crossing"),
    "fast traffic": N_("fast traffic"),
    "broken sidewalk": N_("broken sidewalk"),
    "dogs": N_("dogs"),
    "other": N_("other"),
}

#: The refusals' words (English; Spanish from the catalogues), by :data:`reports.MESSAGES` key.
MESSAGE_WORDS: dict[str, str] = reports.MESSAGES

#: Kinds of places listed in the form, with their labels.
PLACE_KINDS: dict[str, str] = {"school": N_("Schools"), "park": N_("Parks"), "library": N_("Libraries"),
                               "transit": N_("Transit stops"), "site": N_("Community sites")}

#: Most places listed in the form.
MAX_PLACES = 80


def _lang(lang: str | None) -> str:
    return "es" if lang == "es" else "en"


def form_strings(lang: str) -> dict[str, str]:
    """The form's words in ``lang``."""
    _ = translator(lang)
    words = {key: _(text) for key, text in FORM_WORDS.items()}
    words["note_hint"] = words["note_hint"].format(n=reports.MAX_NOTE_CHARS)
    return words


def _message(key: str, lang: str, values: dict[str, Any]) -> str:
    return translator(lang)(MESSAGE_WORDS[key]).format(**values)


# --------------------------------------------------------------------------- the area


def _published(request: Request, slug: str) -> tuple[Publication, Run] | None:
    with store_of(request).session() as session:
        publication = latest_publication(session, slug)
        run = session.get(Run, publication.run_id) if publication is not None else None
    if publication is None or run is None or run.state != "done":
        return None
    return publication, run


@functools.lru_cache(maxsize=64)
def _polygon(slug: str, areas_file: str | None) -> Any:
    """The area's study polygon (EPSG:4326), or ``None`` for an area not known."""
    from passages._errors import PassagesError
    from passages.areas import get_area

    try:
        return get_area(slug, areas_file=areas_file).study_polygon
    except (PassagesError, OSError, ValueError):
        return None


def area_polygon(request: Request, slug: str, run: Run) -> Any:
    """The study polygon of a published area (the run's uploaded areas file first), or ``None``."""
    from passages.web.jobs import AREAS_FILE, inputs_folder

    uploaded = inputs_folder(config_of(request).artefact_dir, run.id) / AREAS_FILE
    return _polygon(slug, str(uploaded) if uploaded.is_file() else None)


def _places(request: Request, run: Run, publication: Publication) -> list[dict[str, Any]]:
    """The listed places of the published plan with their points: kind, name, lat, lon."""
    found: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for feature in layer_features(config_of(request), run, f"scenarios/{publication.scenario}/officers/"
                                                           "plan-places.geojson"):
        props = feature.get("properties") or {}
        geometry = feature["geometry"]
        kind, name = str(props.get("kind")), clean_name(props.get("name"))[:120]
        coords = geometry.get("coordinates")
        if (kind not in PLACE_KINDS or not name or not props.get("usable", True) or geometry.get("type") != "Point"
                or not isinstance(coords, list) or len(coords) < 2
                or not all(isinstance(c, int | float) and math.isfinite(c) for c in coords[:2])):
            continue
        if (kind, name) in seen:
            continue
        seen.add((kind, name))
        found.append({"kind": kind, "name": name, "lat": round(float(coords[1]), 6),
                      "lon": round(float(coords[0]), 6)})
    order = list(PLACE_KINDS)
    found.sort(key=lambda p: (order.index(p["kind"]), p["name"]))
    return found[:MAX_PLACES]


def form_context(request: Request, slug: str, lang: str, *, values: dict[str, str] | None = None,
                 error: str = "") -> dict[str, Any] | None:
    """What the community page needs to show the form (``None``: no form for this area)."""
    found = _published(request, slug)
    if found is None:
        return None
    publication, run = found
    if area_polygon(request, slug, run) is None:
        return None
    _ = translator(lang)
    login = current_login(request)
    kept = request.cookies.get(REPORT_CSRF_COOKIE, "")  # the same token in every tab of one browser
    token = (login.csrf_token if login is not None
             else kept if re.fullmatch(r"[A-Za-z0-9_-]{32}", kept) else secrets.token_urlsafe(24))
    return {
        "words": form_strings(lang),
        "categories": [(key, _(CATEGORY_WORDS[key])) for key in CATEGORIES],
        "places": [{**p, "label": f"{_(PLACE_KINDS[p['kind']])}: {p['name']}"}
                   for p in _places(request, run, publication)],
        "token": token, "set_cookie": login is None, "error": error,
        "values": {**dict.fromkeys(("lat", "lon", "place", "category", "note"), ""), **(values or {})},
        "max_note": reports.MAX_NOTE_CHARS, "action": f"/community/{slug}/concerns",
        "pickmap": f"/api/community/{slug}/pickmap",
    }


def set_form_cookie(request: Request, response: Response, form: dict[str, Any]) -> None:
    """Give an anonymous visitor the form's anti-forgery cookie (SameSite=Strict, path /community)."""
    if form.get("set_cookie"):
        response.set_cookie(REPORT_CSRF_COOKIE, form["token"], httponly=True, samesite="strict",
                            secure=config_of(request).secure_cookies, path="/community")


# --------------------------------------------------------------------------- residents


@route(router, "POST", "/community/{area}/concerns", roles=[ANYONE], name="community_concern_send")
def community_concern_send(request: Request, area: str, csrf_token: str = Form(..., max_length=64),
                           lat: str = Form("", max_length=64), lon: str = Form("", max_length=64),
                           place: str = Form("", max_length=80), category: str = Form("", max_length=64),
                           note: str = Form("", max_length=2000), lang: str = Form("en", max_length=8)) -> Response:
    """Take a resident's report (pending until a planner accepts it); nothing about the sender is kept."""
    from passages.web.pages_community import community_page

    language = _lang(lang)
    if current_login(request) is None:  # a logged-in visitor's session token was checked by the gate
        cookie = request.cookies.get(REPORT_CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
            from passages.web.routing import Forbidden

            raise Forbidden("the form is out of date or did not come from this site; reload the page")
    slug = area_slug(area)
    found = _published(request, slug) if slug else None
    polygon = area_polygon(request, slug, found[1]) if slug and found else None
    if slug is None or polygon is None:
        return not_found(request)
    values = {"lat": lat, "lon": lon, "place": place, "category": category, "note": note}
    status = 400
    try:
        report = reports.check_report(slug, polygon, lat=lat, lon=lon, place=place, category=category, note=note)
        limits: reports.ReportLimits = request.app.state.report_limits
        if not limits.allow(slug, request.client.host if request.client else ""):
            status = 429
            raise reports.ReportRefused("too_many")
        with store_of(request).session() as session:
            reports.add_report(session, report)
    except reports.ReportRefused as refused:
        if refused.key == "full":
            status = 429
        return community_page(request, slug, language, printable=False, status_code=status,
                              form_values=values, form_error=_message(refused.key, language, refused.values))
    return RedirectResponse(f"/community/{slug}/thanks" + ("?lang=es" if language == "es" else ""), status_code=303)


@route(router, "GET", "/community/{area}/thanks", roles=[ANYONE], name="community_concern_thanks")
def community_concern_thanks(request: Request, area: str, lang: str | None = None) -> Response:
    """The thank-you page after a report."""
    slug = area_slug(area)
    if slug is None or _published(request, slug) is None:
        return not_found(request)
    language = _lang(lang)
    return render(request, "concern_thanks.html", {"area": slug, "lang": language, "f": form_strings(language)})


def _ring(points: Any) -> list[list[float]]:
    return [[round(float(y), 6), round(float(x), 6)] for x, y in points]


@route(router, "GET", "/api/community/{area}/pickmap", roles=[ANYONE], name="api_community_pickmap",
       response_class=JSONResponse)
def api_community_pickmap(request: Request, area: str) -> Response:
    """What the form's small map draws: the area's outline, the published passages and the listed places."""
    slug = area_slug(area)
    found = _published(request, slug) if slug else None
    polygon = area_polygon(request, slug, found[1]) if slug and found else None
    if slug is None or found is None or polygon is None:
        return not_found(request)
    publication, run = found
    west, south, east, north = polygon.bounds
    outlines = [_ring(part.exterior.coords) for part in getattr(polygon, "geoms", [polygon])]
    lines = []
    for feature in layer_features(config_of(request), run, f"scenarios/{publication.scenario}/officers/"
                                                           "plan-passages.geojson"):
        geometry = feature["geometry"]
        parts = ([geometry.get("coordinates")] if geometry.get("type") == "LineString"
                 else geometry.get("coordinates") if geometry.get("type") == "MultiLineString" else [])
        for part in parts or []:
            try:
                lines.append(_ring((c[0], c[1]) for c in part))
            except (TypeError, ValueError, IndexError):
                continue
    places = [{"name": p["name"], "kind": p["kind"], "lat": p["lat"], "lon": p["lon"]}
              for p in _places(request, run, publication)]
    return JSONResponse({"bounds": [[south, west], [north, east]], "outline": outlines, "passages": lines,
                         "places": places})


def _leaflet(name: str, media_type: str) -> Response:
    from passages._map_elements import LEAFLET_PACKAGE

    try:
        data = resources.files(LEAFLET_PACKAGE[0]).joinpath(LEAFLET_PACKAGE[1], name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return Response("Leaflet is not installed (django-js-lib-leaflet)", status_code=404, media_type="text/plain")
    return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


@route(router, "GET", "/vendor/leaflet.js", roles=[ANYONE], name="vendor_leaflet_js", response_class=Response)
def vendor_leaflet_js(request: Request) -> Response:
    """Leaflet's script, from the installed package (the form's map needs no other site)."""
    return _leaflet("leaflet.js", "text/javascript; charset=utf-8")


@route(router, "GET", "/vendor/leaflet.css", roles=[ANYONE], name="vendor_leaflet_css", response_class=Response)
def vendor_leaflet_css(request: Request) -> Response:
    """Leaflet's style sheet, from the installed package."""
    return _leaflet("leaflet.css", "text/css; charset=utf-8")


# --------------------------------------------------------------------------- planners


def _planner_areas(request: Request) -> tuple[str, ...] | None:
    """The areas whose reports the login may read: its assigned areas, or every area (``None``)."""
    login = current_login(request)
    if login is None or login.role == "admin" or not login.areas:
        return None
    return tuple(login.areas)


def _report_json(row: ConcernReport) -> dict[str, Any]:
    return {"id": row.id, "area": row.area_slug, "lat": row.lat, "lon": row.lon, "category": row.category,
            "note": row.note, "day": row.day.isoformat(), "state": row.state, "decided_by": row.decided_by,
            "decided_on": row.decided_on.isoformat() if row.decided_on else None}


def _nearest(request: Request, rows: list[ConcernReport]) -> dict[str, str]:
    """The listed place nearest each report (``"School: X, 120 m"``), from its area's published plan."""
    near: dict[str, str] = {}
    by_area: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.area_slug not in by_area:
            found = _published(request, row.area_slug)
            by_area[row.area_slug] = _places(request, found[1], found[0]) if found else []
        best = None
        for place in by_area[row.area_slug]:
            dy = (place["lat"] - row.lat) * 111_195.0
            dx = (place["lon"] - row.lon) * 111_195.0 * math.cos(math.radians(row.lat))
            metres = math.hypot(dx, dy)
            if best is None or metres < best[0]:
                best = (metres, place)
        if best is not None and best[0] < 5000:
            near[row.id] = f"{best[1]['name']}, {best[0]:.0f} m"
    return near


def _lists(request: Request) -> tuple[list[ConcernReport], list[ConcernReport]]:
    areas = _planner_areas(request)
    with store_of(request).session() as session:
        return reports.pending(session, areas), reports.pending(session, areas, state="accepted")


@route(router, "GET", "/concerns", roles=PLANNERS, name="concerns_page")
def concerns_page(request: Request) -> Response:
    """The residents' reports waiting for a decision, and those accepted (used in the next plans)."""
    waiting, accepted = _lists(request)
    return render(request, "concerns.html", {"pending": waiting, "accepted": accepted,
                                             "near": _nearest(request, waiting)})


@route(router, "GET", "/api/concerns", roles=PLANNERS, name="api_concerns", response_class=JSONResponse)
def api_concerns(request: Request) -> dict[str, Any]:
    """JSON of :func:`concerns_page`."""
    waiting, accepted = _lists(request)
    return {"pending": [_report_json(r) for r in waiting], "accepted": [_report_json(r) for r in accepted],
            "categories": list(CATEGORIES)}


def _decide(request: Request, report_id: str, accept: bool) -> ConcernReport | None:
    login = current_login(request)
    assert login is not None
    config = config_of(request)
    with store_of(request).session() as session:
        row = reports.decide(session, report_id, accept, by=login.username, areas=_planner_areas(request))
        if row is None:
            return None
        audit.record(session, "concern", username=login.username, target=f"concern {row.id[:12]} {row.area_slug}",
                     address=request.client.host if request.client else "",
                     detail=("accepted: " if accept else "rejected: ") + row.category)
    if accept:  # after the commit: the file holds only what is stored
        with store_of(request).session() as session:
            reports.write_area_file(session, config.artefact_dir, row.area_slug)
    return row


@route(router, "POST", "/concerns/{report_id}/accept", roles=PLANNERS, name="concern_accept")
def concern_accept(request: Request, report_id: str) -> Response:
    """Accept a pending report: it is used in the area's next plan (audit ``concern``)."""
    return _decided(request, _decide(request, report_id, True))


@route(router, "POST", "/concerns/{report_id}/reject", roles=PLANNERS, name="concern_reject")
def concern_reject(request: Request, report_id: str) -> Response:
    """Reject a pending report: it is deleted and never shown or used (audit ``concern``)."""
    return _decided(request, _decide(request, report_id, False))


def _decided(request: Request, row: ConcernReport | None) -> Response:
    if row is None:
        return not_found(request)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(_report_json(row) if row.state == "accepted" else {"id": row.id, "state": "rejected"})
    return RedirectResponse("/concerns", status_code=303)

"""The community page (no login): each area's published Safe Passages, in English and Spanish.

Shown: the community map (``community.html`` of the version in force: passages and places
only), the streets of the passages and the places they lead to, and a printable page.
Never shown: posts, loops, hot segments, risk. A community map that carries any of those
(:func:`passages.web.publish.community_map_problems`) is not served.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from passages._names import clean_name
from passages.i18n import N_, translator
from passages.web._serving import area_slug, config_of, file_response, not_found, store_of
from passages.web.app import MAP_CSP
from passages.web.models import Publication, Run
from passages.web.publish import (
    area_name,
    community_map_problems,
    latest_publication,
    layer_features,
    published_areas,
    run_file,
)
from passages.web.routing import ANYONE, route
from passages.web.templating import render

__all__ = ["WORDS", "router", "strings"]

router = APIRouter()

#: The page's own words (English; translated from the catalogues, :mod:`passages.i18n`).
WORDS: dict[str, str] = {
    "title": N_("Safe Passages"), "areas": N_("Areas with Safe Passages"),
    "none": N_("No Safe Passages are published yet."),
    "intro": N_("Safe Passages are the walking routes to school, the park and the bus that the community "
                "and the Community Safety Partnership watch over. Walk them when you can."),
    "updated": N_("Updated"), "version": N_("version"), "map": N_("Map of the Safe Passages"),
    "streets": N_("Streets of the Safe Passages"), "places": N_("Places they lead to"),
    "print": N_("Printable page"), "back": N_("All areas"), "km": N_("km"),
    "no_map": N_("The map is not available right now."),
    "school": N_("Schools"), "park": N_("Parks"), "library": N_("Libraries"), "transit": N_("Transit stops"),
    "site": N_("Community sites"), "more": N_("and {n} more"),
}

#: The link to the other language, in that language.
OTHER_LANGUAGE = {"en": "Español", "es": "English"}


def strings(lang: str) -> dict[str, str]:
    """Return the page's words in ``lang`` (``"en"`` or ``"es"``)."""
    _ = translator(lang)
    return {**{key: _(text) for key, text in WORDS.items()}, "other": OTHER_LANGUAGE[lang]}


#: Kinds of places listed, in order (the same kinds as the maps).
PLACE_KINDS = ("site", "school", "park", "library", "transit")

#: At most this many places of one kind are listed.
MAX_PLACES = 12


def _lang(lang: str | None) -> str:
    return "es" if lang == "es" else "en"


def _layer(request: Request, run: Run, scenario: str, layer: str) -> list[dict[str, Any]]:
    features = layer_features(config_of(request), run, f"scenarios/{scenario}/officers/plan-{layer}.geojson")
    return [f.get("properties") or {} for f in features]


def _public(request: Request, run: Run, publication: Publication) -> dict[str, Any]:
    """What the public may know of a published version: streets (km) and places by kind."""
    km: dict[str, float] = defaultdict(float)
    for props in _layer(request, run, publication.scenario, "passages"):
        name = clean_name(props.get("name")) or ""
        length = props.get("length_m")
        if name and isinstance(length, int | float):
            km[name[:120]] += float(length) / 1000
    places: dict[str, list[str]] = defaultdict(list)
    for props in _layer(request, run, publication.scenario, "places"):
        kind, name = str(props.get("kind")), clean_name(props.get("name"))[:120]
        if kind in PLACE_KINDS and name and props.get("usable", True) and name not in places[kind]:
            places[kind].append(name)
    streets = [{"name": name, "km": round(value, 2)} for name, value in sorted(km.items(), key=lambda kv: -kv[1])]
    return {"streets": streets,
            "places": {kind: sorted(places[kind]) for kind in PLACE_KINDS if places.get(kind)}}


def _areas(request: Request) -> list[dict[str, Any]]:
    config = config_of(request)
    with store_of(request).session() as session:
        return [{"area": p.area_slug, "area_name": area_name(config, session, p),
                 "updated": p.published_at.date().isoformat(), "url": f"/community/{p.area_slug}"}
                for p in published_areas(session)]


def _community(request: Request, area: str, lang: str = "en") -> dict[str, Any] | None:
    slug = area_slug(area)
    if slug is None:
        return None
    config = config_of(request)
    with store_of(request).session() as session:
        publication = latest_publication(session, slug)
        run = session.get(Run, publication.run_id) if publication is not None else None
        if publication is None or run is None or run.state != "done":
            return None
        name = area_name(config, session, publication)
    path = _map_path(request, run, publication, lang)
    return {"area": slug, "area_name": name, "version": publication.version,
            "updated": publication.published_at.date().isoformat(),
            "map": (f"/community/{slug}/map" + ("?lang=es" if lang == "es" else "")) if path is not None else None,
            **_public(request, run, publication)}


def _map_path(request: Request, run: Run, publication: Publication, lang: str = "en") -> Any:
    """The community map file of a published version in ``lang`` (English where a run has no Spanish one)."""
    path = None
    if lang == "es":
        path = run_file(config_of(request), run, f"scenarios/{publication.scenario}/community-es.html")
    if path is None:
        path = run_file(config_of(request), run, f"scenarios/{publication.scenario}/community.html")
    if path is None or path.stat().st_size > 20_000_000:
        return None
    if community_map_problems(path.read_text(encoding="utf-8", errors="replace")):
        return None  # never serve a map that shows officers or risk, whoever made it
    return path


@route(router, "GET", "/community", roles=[ANYONE], name="community_home")
def community_home(request: Request, lang: str | None = None) -> Response:
    """The areas with published Safe Passages."""
    words = strings(_lang(lang))
    return render(request, "community.html", {"areas": _areas(request), "t": words, "lang": _lang(lang)})


@route(router, "GET", "/api/community", roles=[ANYONE], name="api_community_home", response_class=JSONResponse)
def api_community_home(request: Request) -> dict[str, Any]:
    """JSON of :func:`community_home`."""
    return {"areas": _areas(request)}


@route(router, "GET", "/community/{area}", roles=[ANYONE], name="community_area")
def community_area(request: Request, area: str, lang: str | None = None) -> Response:
    """An area's Safe Passages: the map, the streets, the places (``?lang=es`` in Spanish)."""
    return _community_page(request, area, lang, printable=False)


@route(router, "GET", "/community/{area}/print", roles=[ANYONE], name="community_print")
def community_print(request: Request, area: str, lang: str | None = None) -> Response:
    """The printable page of an area's Safe Passages (a flyer: streets and places, no controls)."""
    return _community_page(request, area, lang, printable=True)


def _community_page(request: Request, area: str, lang: str | None, *, printable: bool) -> Response:
    return community_page(request, area, _lang(lang), printable=printable)


def community_page(request: Request, area: str, lang: str, *, printable: bool, status_code: int = 200,
                   form_values: dict[str, str] | None = None, form_error: str = "") -> Response:
    """An area's public page; with the concerns form (:mod:`passages.web.pages_concerns`) unless printable."""
    from passages.web.pages_concerns import form_context, set_form_cookie

    data = _community(request, area, lang)
    if data is None:
        return not_found(request)
    form = None if printable else form_context(request, data["area"], lang, values=form_values, error=form_error)
    response = render(request, "community_area.html", {"data": data, "t": strings(lang), "lang": lang,
                                                       "printable": printable, "max_places": MAX_PLACES,
                                                       "form": form}, status_code=status_code)
    if form is not None:
        set_form_cookie(request, response, form)
    return response


@route(router, "GET", "/api/community/{area}", roles=[ANYONE], name="api_community_area",
       response_class=JSONResponse)
def api_community_area(request: Request, area: str) -> Response:
    """JSON of :func:`community_area`."""
    data = _community(request, area)
    return not_found(request) if data is None else JSONResponse(data)


@route(router, "GET", "/community/{area}/map", roles=[ANYONE], name="community_map", response_class=Response)
def community_map(request: Request, area: str, lang: str | None = None) -> Response:
    """The community map of the version in force (self-contained HTML: passages and places only; ``?lang=es``)."""
    slug = area_slug(area)
    with store_of(request).session() as session:
        publication = latest_publication(session, slug) if slug else None
        run = session.get(Run, publication.run_id) if publication is not None else None
    path = _map_path(request, run, publication, _lang(lang)) if run is not None and publication is not None else None
    return not_found(request) if path is None else file_response(path, name="community.html", csp=MAP_CSP)

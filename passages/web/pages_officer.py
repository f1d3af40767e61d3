"""The officers' pages: the published officer pack of each area they are assigned to.

An officer sees only the newest published version of the areas of their account; anything
of another area, and anything unpublished, gets the same 404. Every pack file opened or
downloaded is written to the audit log (action ``download``). Admins may look too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from passages.web import audit
from passages.web._serving import area_slug, config_of, file_response, not_found, store_of
from passages.web.app import MAP_CSP, client_address
from passages.web.models import Run
from passages.web.publish import PackFile, area_name, latest_publication, officer_files, published_areas, run_file
from passages.web.routing import current_login, route
from passages.web.templating import render

__all__ = ["router"]

router = APIRouter()

#: Who may open officer packs.
PACK_ROLES = ["officer", "admin"]


@dataclass(frozen=True)
class Pack:
    """The officer pack of an area in force: its version, run and files."""

    area: str
    area_name: str
    version: int
    published_at: str
    scenario: str
    run: Run
    files: dict[str, PackFile]

    def as_json(self) -> dict[str, Any]:
        """The pack as the JSON API gives it."""
        base = f"/officer/{self.area}/files/"
        return {
            "area": self.area, "area_name": self.area_name, "version": self.version,
            "in_force_since": self.published_at, "scenario": self.scenario,
            "files": [{"name": f.name, "kind": f.kind, "url": base + f.name, "download": base + f.name + "?download=1"}
                      for f in self.files.values()],
            "offline_map": base + "officers.html?download=1" if "officers.html" in self.files else None,
        }


def _allowed_areas(request: Request) -> tuple[str, ...] | None:
    """The areas the login may see (``None``: every area, for an admin)."""
    login = current_login(request)
    assert login is not None
    return None if login.role == "admin" else login.areas


def find_pack(request: Request, area: str) -> Pack | None:
    """Return the pack in force of ``area`` if the login may see it, else ``None`` (one answer for all)."""
    slug = area_slug(area)
    allowed = _allowed_areas(request)
    if slug is None or (allowed is not None and slug not in allowed):
        return None
    config = config_of(request)
    with store_of(request).session() as session:
        publication = latest_publication(session, slug)
        if publication is None:
            return None
        run = session.get(Run, publication.run_id)
        if run is None or run.state != "done":
            return None
        name = area_name(config, session, publication)
        files = officer_files(run, publication.scenario)
        return Pack(area=slug, area_name=name, version=publication.version,
                    published_at=publication.published_at.date().isoformat(), scenario=publication.scenario,
                    run=run, files=files)


def _packs(request: Request) -> list[dict[str, Any]]:
    config = config_of(request)
    with store_of(request).session() as session:
        return [{"area": p.area_slug, "area_name": area_name(config, session, p), "version": p.version,
                 "in_force_since": p.published_at.date().isoformat(), "url": f"/officer/{p.area_slug}"}
                for p in published_areas(session, _allowed_areas(request))]


@route(router, "GET", "/officer", roles=PACK_ROLES, name="officer_home")
def officer_home(request: Request) -> Response:
    """The published packs of the areas the officer is assigned to: version and date in force."""
    return render(request, "officer.html", {"packs": _packs(request)})


@route(router, "GET", "/api/officer", roles=PACK_ROLES, name="api_officer_home", response_class=JSONResponse)
def api_officer_home(request: Request) -> dict[str, Any]:
    """JSON of :func:`officer_home`: the officer's published packs."""
    return {"packs": _packs(request)}


@route(router, "GET", "/officer/{area}", roles=PACK_ROLES, name="officer_pack")
def officer_pack(request: Request, area: str) -> Response:
    """An area's officer pack in force: the map, the briefing sheet, the GPX, the version and date."""
    pack = find_pack(request, area)
    if pack is None:
        return not_found(request)
    pages = [f for f in pack.files.values() if f.kind == "page"]
    gpx = [f for f in pack.files.values() if f.kind == "gpx"]
    return render(request, "officer_pack.html", {"pack": pack, "pages": pages, "gpx": gpx,
                                                 "has_map": "officers.html" in pack.files,
                                                 "has_pdf": "briefing.pdf" in pack.files})


@route(router, "GET", "/api/officer/{area}", roles=PACK_ROLES, name="api_officer_pack", response_class=JSONResponse)
def api_officer_pack(request: Request, area: str) -> Response:
    """JSON of :func:`officer_pack`."""
    pack = find_pack(request, area)
    if pack is None:
        return not_found(request)
    return JSONResponse(pack.as_json())


@route(router, "GET", "/officer/{area}/files/{name}", roles=PACK_ROLES, name="officer_file", response_class=Response)
def officer_file(request: Request, area: str, name: str, download: bool = False) -> Response:
    """One file of the pack in force (map, briefing PDF or page, GPX); audited as a download.

    ``name`` is looked up among the pack's files; ``?download=1`` saves it (the map then
    works offline: it is self-contained).
    """
    pack = find_pack(request, area)
    found = pack.files.get(name) if pack is not None else None
    path = run_file(config_of(request), pack.run, found.relative) if pack is not None and found else None
    login = current_login(request)
    assert login is not None
    if pack is None or found is None or path is None:
        return not_found(request)
    with store_of(request).session() as session:
        audit.record(session, "download", username=login.username, address=client_address(request),
                     target=f"{pack.area} v{pack.version} {found.name}",
                     detail="saved" if download else "opened")
    return file_response(path, name=found.name, download=download,
                         csp=MAP_CSP if found.kind == "map" else None, request=None if download else request)

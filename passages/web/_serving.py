"""What the officer, command, community and admin pages share: refusals and files served."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse, JSONResponse, Response

from passages._errors import InputError
from passages._names import slug
from passages.web.config import ServiceConfig
from passages.web.publish import MEDIA_TYPES
from passages.web.store import Store
from passages.web.templating import render

#: The one answer to "not yours", "not published" and "no such thing", so none tells them apart.
NOT_FOUND = "There is nothing here, or it is not yours to see."


def config_of(request: Request) -> ServiceConfig:
    """The service's configuration."""
    config: ServiceConfig = request.app.state.config
    return config


def store_of(request: Request) -> Store:
    """The service's store."""
    store: Store = request.app.state.store
    return store


def is_api(request: Request) -> bool:
    """Whether the request is for the JSON API."""
    return request.url.path.startswith("/api/")


def not_found(request: Request) -> Response:
    """Answer 404 with one message for every reason (JSON under ``/api``, else a page)."""
    if is_api(request):
        return JSONResponse({"detail": NOT_FOUND}, status_code=404)
    return render(request, "error.html", {"title": "Not found", "message": NOT_FOUND}, status_code=404)


def bad_request(request: Request, message: str) -> Response:
    """Answer 400 with ``message`` (escaped on the page)."""
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=400)
    return render(request, "error.html", {"title": "Cannot do that", "message": message}, status_code=400)


def area_slug(text: str) -> str | None:
    """Return ``text`` if it can be an area slug (letters, digits, ``-``, ``_``), else ``None``."""
    try:
        return slug(text, field="area")
    except InputError:
        return None


def file_response(path: Path, *, name: str, download: bool = False, csp: str | None = None,
                  request: Request | None = None) -> Response:
    """Serve a file found by :func:`passages.web.publish.run_file` under its own name.

    Parameters
    ----------
    path
        The file (already mapped from a run and a listed relative path).
    name
        The name the browser saves it under (a listed file name, never user text).
    download
        Send it as an attachment (``Content-Disposition: attachment``).
    csp
        The page's Content-Security-Policy (:data:`passages.web.app.MAP_CSP` for the maps).
    request
        The request, to answer ``304 Not Modified`` when the browser already holds this
        version of the file (its ``If-None-Match`` names the file's ETag). Such files are
        sent ``Cache-Control: private, no-cache``: a browser may keep them but asks again
        at every use, so every use is still authorised (and audited by the caller).
    """
    headers: dict[str, Any] = {}
    if csp is not None:
        headers["Content-Security-Policy"] = csp
    if request is not None:
        info = path.stat()
        tag = '"' + hashlib.sha256(f"{path}|{info.st_mtime_ns}|{info.st_size}".encode()).hexdigest()[:32] + '"'
        headers.update({"ETag": tag, "Cache-Control": "private, no-cache"})
        wanted = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
        if tag in wanted:
            return Response(status_code=304, headers=headers)
    media_type = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media_type, filename=name,
                        content_disposition_type="attachment" if download else "inline", headers=headers)

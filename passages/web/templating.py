"""Server-rendered pages: one Jinja2 environment with autoescaping on for every template."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from passages import __version__
from passages.web.routing import current_login

#: Every page is rendered with this environment: autoescape on, so text from users and
#: files (area, scenario, school and street names) is shown, never run.
environment = Environment(loader=PackageLoader("passages.web", "templates"), autoescape=True,
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    """Render ``template`` with the request's login, CSRF token and demo flag in its context."""
    login = current_login(request)
    config = request.app.state.config
    values = {"request": request, "login": login, "csrf_token": login.csrf_token if login else "",
              "demo": config.demo, "version": __version__, **(context or {})}
    return HTMLResponse(environment.get_template(template).render(values), status_code=status_code)

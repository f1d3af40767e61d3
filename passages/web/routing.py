"""Every route of the service states who may use it.

Routes are added only through :func:`route`, which takes the roles allowed (or
:data:`ANYONE` for a public page) and puts a gate in front of the handler:

* an anonymous visitor of a protected page is sent to the login page (HTML) or gets 401
  (``/api/...``);
* a logged-in user whose role is not allowed gets 403;
* a state-changing request (POST, PUT, PATCH, DELETE) must carry the session's CSRF token,
  as the form field ``csrf_token`` or the header ``X-CSRF-Token``, else 403;
* a user who still owes a second factor or a new password reaches only the pages that
  settle it.

The roles are also written into the OpenAPI document (``x-roles``), and
:func:`route_table` lists them, so a test can walk the whole table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from passages.web.auth import Login, check_csrf
from passages.web.config import ROLES

__all__ = ["ANYONE", "Forbidden", "NotLoggedIn", "SecondStepNeeded", "current_login", "route", "route_table"]

#: The pseudo-role of a public route: anyone, logged in or not.
ANYONE = "anyone"

#: Methods that change nothing (no CSRF token needed).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Routes a user who owes a second factor or a new password may still use.
SETTLING_ROUTES = frozenset({"login_totp_page", "login_totp", "password_page", "password_change", "logout"})


class NotLoggedIn(Exception):  # noqa: N818
    """The route needs a login."""


class Forbidden(Exception):  # noqa: N818
    """The login may not use the route (role, area, CSRF)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SecondStepNeeded(Exception):  # noqa: N818
    """The login owes a TOTP code or a new password before anything else."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


def current_login(request: Request) -> Login | None:
    """The login of the request (set by the session middleware), or ``None``."""
    login: Login | None = getattr(request.state, "login", None)
    return login


def _gate(roles: tuple[str, ...], name: str) -> Callable[..., Any]:
    async def gate(request: Request) -> Login | None:
        login = current_login(request)
        pending = login is not None and (login.needs_second_factor
                                         or getattr(request.state, "must_change_password", False))
        if ANYONE in roles:
            if pending and name not in SETTLING_ROUTES:
                if name == "home":  # a login half done is finished before anything else
                    raise SecondStepNeeded("/login/totp" if login and login.needs_second_factor else "/password")
                request.state.login = login = None  # elsewhere the visitor is anonymous until then
            if login is not None and request.method not in SAFE_METHODS:
                await _require_csrf(request, login)
            return login
        if login is None:
            raise NotLoggedIn()
        if name not in SETTLING_ROUTES:
            if login.needs_second_factor:
                raise SecondStepNeeded("/login/totp")
            if getattr(request.state, "must_change_password", False):
                raise SecondStepNeeded("/password")
        if login.role not in roles:
            raise Forbidden(f"the {login.role} role may not use this page")
        if request.method not in SAFE_METHODS:
            await _require_csrf(request, login)
        return login

    return gate


async def _require_csrf(request: Request, login: Login) -> None:
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    if not check_csrf(login, given):
        raise Forbidden("the form is out of date or did not come from this site (CSRF token); reload the page")


def route(router: APIRouter, method: str, path: str, *, roles: Sequence[str], name: str,
          response_class: type = HTMLResponse, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add a route to ``router`` with its allowed ``roles`` and a gate that enforces them.

    Parameters
    ----------
    roles
        The roles allowed (:data:`passages.web.config.ROLES`), or ``(ANYONE,)``.
    name
        The route's unique name (used in ``url_for`` and in the route table).
    """
    allowed = tuple(roles)
    unknown = set(allowed) - {*ROLES, ANYONE}
    if not allowed or unknown:
        raise ValueError(f"route {path}: roles must be some of {ROLES} or ANYONE, got {allowed}")

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, handler, methods=[method], name=name, response_class=response_class,
                             dependencies=[Depends(_gate(allowed, name))],
                             openapi_extra={"x-roles": list(allowed)}, **options)
        return handler

    return decorate


def route_table(app: Any) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """Return ``(method, path, name, roles)`` of every route that states its roles."""
    table = []

    def walk(routes: Sequence[Any]) -> None:
        for item in routes:
            included = getattr(item, "original_router", None)  # FastAPI keeps included routers as such
            if included is not None:
                walk(included.routes)
                continue
            extra = getattr(item, "openapi_extra", None) or {}
            if "x-roles" in extra:
                for method in sorted(item.methods):
                    table.append((method, item.path, item.name, tuple(extra["x-roles"])))

    walk(app.routes)
    return table


def undeclared_routes(app: Any) -> list[str]:
    """Paths of the app that state no roles (only the static files should be here)."""
    missing = []

    def walk(routes: Sequence[Any]) -> None:
        for item in routes:
            included = getattr(item, "original_router", None)
            if included is not None:
                walk(included.routes)
            elif "x-roles" not in (getattr(item, "openapi_extra", None) or {}):
                missing.append(getattr(item, "path", repr(item)))

    walk(app.routes)
    return missing

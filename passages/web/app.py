"""The web application: :func:`create_app` builds it from a config and a store.

Pages are server-rendered (Jinja2, autoescaped); every page's data is also a JSON endpoint
under ``/api`` (OpenAPI at ``/docs``). Each route states the roles that may use it
(:mod:`passages.web.routing`). The session middleware finds the login of each request
from its cookie; responses carry security headers (a strict Content-Security-Policy on
pages, ``no-store`` caching, no framing by other sites).
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

from passages import __version__
from passages._errors import InputError
from passages.web import auth
from passages.web.config import ServiceConfig
from passages.web.models import User
from passages.web.routing import ANYONE, Forbidden, NotLoggedIn, SecondStepNeeded, route
from passages.web.store import Store
from passages.web.templating import render

__all__ = ["SESSION_COOKIE", "create_app"]

#: Name of the session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS).
SESSION_COOKIE = "passages_session"

#: Name of the cookie that carries the login form's anti-forgery token (before a session).
LOGIN_CSRF_COOKIE = "passages_login_csrf"

#: Content-Security-Policy of the service's own pages: nothing from elsewhere, no inline script.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'")

#: Content-Security-Policy of the self-contained maps (their Leaflet is inline); the only
#: outside request they may make is for the optional OpenStreetMap tiles.
MAP_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
           "img-src data: https://tile.openstreetmap.org; frame-ancestors 'self'; base-uri 'none'")


def client_address(request: Request) -> str:
    """The address the request came from (for the audit log)."""
    return request.client.host if request.client else ""


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


account = APIRouter()


@route(account, "GET", "/healthz", roles=[ANYONE], name="health", response_class=JSONResponse)
def health(request: Request) -> dict[str, Any]:
    """Whether the service is up (for a load balancer): no data, no login."""
    return {"ok": True, "version": __version__}


@route(account, "GET", "/login", roles=[ANYONE], name="login_page")
def login_page(request: Request, next: str = "/") -> Response:
    """The login form (with an anti-forgery token in a cookie and the form)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"error": "", "next": _safe_next(next), "login_csrf": token})
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, path="/login")
    return response


def _safe_next(target: str) -> str:
    """Only a local path may follow a login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _set_cookie(request: Request, response: Response, name: str, value: str, *, path: str = "/") -> None:
    config: ServiceConfig = request.app.state.config
    response.set_cookie(name, value, httponly=True, samesite="strict", secure=config.secure_cookies, path=path)


@route(account, "POST", "/login", roles=[ANYONE], name="login")
def login(request: Request, username: str = Form(..., max_length=64), password: str = Form(..., max_length=256),
          login_csrf: str = Form("", max_length=64), next: str = Form("/", max_length=512)) -> Response:
    """Check the password; start a session; send a user who owes a second factor there."""
    store: Store = request.app.state.store
    config: ServiceConfig = request.app.state.config
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, login_csrf):
        raise Forbidden("the login form is out of date; reload the page")
    failed = "The user name or password is wrong, or the account is locked or disabled."
    with store.session() as session:
        found = auth.authenticate(session, username, password, config=config, address=client_address(request))
        user = found if isinstance(found, User) else None
        if user is not None:
            needs_totp = auth.totp_required(session, user)
            token = auth.open_session(session, user, address=client_address(request),
                                      second_factor_done=not needs_totp)
    if user is None:
        token = secrets.token_urlsafe(24)
        refused = render(request, "login.html", {"error": failed, "next": _safe_next(next), "login_csrf": token},
                         status_code=401)
        _set_cookie(request, refused, LOGIN_CSRF_COOKIE, token, path="/login")
        return refused
    target = "/login/totp" if needs_totp else ("/password" if user.must_change_password else _safe_next(next))
    response = RedirectResponse(target, status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@route(account, "GET", "/login/totp", roles=["admin", "planner", "command", "officer"], name="login_totp_page")
def login_totp_page(request: Request) -> Response:
    """The second-factor form."""
    return render(request, "totp.html", {"error": ""})


@route(account, "POST", "/login/totp", roles=["admin", "planner", "command", "officer"], name="login_totp")
def login_totp(request: Request, code: str = Form(..., max_length=8)) -> Response:
    """Check the TOTP code and complete the login."""
    store: Store = request.app.state.store
    login_ = request.state.login
    with store.session() as session:
        user = session.get(User, login_.user_id)
        assert user is not None
        ok = auth.verify_totp(user, code)
        from passages.web import audit
        from passages.web.models import LoginSession

        audit.record(session, "login", username=user.username, outcome="ok" if ok else "second-factor",
                     address=client_address(request), detail="second factor")
        if ok:
            found = session.get(LoginSession, login_.session_id)
            if found is not None:
                found.second_factor_done = True
        must_change = user.must_change_password
    if not ok:
        return render(request, "totp.html", {"error": "That code is wrong or too old."}, status_code=401)
    return RedirectResponse("/password" if must_change else "/", status_code=303)


@route(account, "GET", "/password", roles=["admin", "planner", "command", "officer"], name="password_page")
def password_page(request: Request) -> Response:
    """The form to choose one's own password (required after a one-time password)."""
    return render(request, "password.html", {"error": "", "min_chars": auth.MIN_PASSWORD_CHARS})


@route(account, "POST", "/password", roles=["admin", "planner", "command", "officer"], name="password_change")
def password_change(request: Request, password: str = Form(..., max_length=256),
                    again: str = Form(..., max_length=256)) -> Response:
    """Save the new password."""
    store: Store = request.app.state.store
    error = "The two passwords differ." if password != again else ""
    if not error:
        try:
            with store.session() as session:
                auth.change_password(session, request.state.login.user_id, password)
        except InputError as exc:
            error = exc.problem
    if error:
        return render(request, "password.html", {"error": error, "min_chars": auth.MIN_PASSWORD_CHARS},
                      status_code=400)
    return RedirectResponse("/", status_code=303)


@route(account, "POST", "/logout", roles=["admin", "planner", "command", "officer"], name="logout")
def logout(request: Request) -> Response:
    """End the session."""
    store: Store = request.app.state.store
    with store.session() as session:
        from passages.web import audit

        audit.record(session, "logout", username=request.state.login.username, address=client_address(request))
        auth.close_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


ALL_ROLES = ["admin", "planner", "command", "officer"]


@route(account, "GET", "/openapi.json", roles=ALL_ROLES, name="openapi", response_class=JSONResponse)
def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI document of the service (each operation's ``x-roles`` says who may use it)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema


@route(account, "GET", "/docs", roles=ALL_ROLES, name="api_docs")
def api_docs(request: Request) -> Response:
    """The API, readable: every operation with its roles (no script, works offline)."""
    schema = request.app.openapi()
    operations = [(method.upper(), path, op.get("summary", ""), ", ".join(op.get("x-roles", [])),
                   (op.get("description") or "").split("\n")[0])
                  for path, methods in sorted(schema.get("paths", {}).items()) for method, op in methods.items()]
    return render(request, "docs.html", {"operations": operations})


#: Start-page links of each role.
HOME_LINKS = {
    "admin": [("/plan", "Plan an area"), ("/runs", "Runs"), ("/history", "Published versions"),
              ("/concerns", "Residents' reports"), ("/admin/users", "Users"), ("/admin/audit", "Audit log")],
    "planner": [("/plan", "Plan an area"), ("/runs", "Runs and their results"), ("/history", "Published versions"),
                ("/concerns", "Residents' reports")],
    "command": [("/runs", "Runs: compare scenarios and publish"), ("/history", "Published versions")],
    "officer": [("/officer", "My officer pack")],
}


@route(account, "GET", "/", roles=[ANYONE], name="home")
def home(request: Request) -> Response:
    """The start page of each role; anonymous visitors go to the community page."""
    login_ = request.state.login
    if login_ is None:
        return RedirectResponse("/community", status_code=303)
    return render(request, "home.html", {"links": HOME_LINKS[login_.role]})


class _SessionAndHeaders:
    """ASGI middleware: the login of each request from its cookie, and the security headers.

    A plain ASGI middleware rather than ``@app.middleware("http")``: it adds no task and no
    stream wrapping to each request, which the pages under load notice.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service = scope["app"]
        store: Store = service.state.store
        config: ServiceConfig = service.state.config
        state = scope.setdefault("state", {})
        state["login"] = None
        state["must_change_password"] = False
        token = HTTPConnection(scope).cookies.get(SESSION_COOKIE)
        if token:
            def look_up() -> tuple[auth.Login | None, bool]:
                with store.session() as session:
                    found = auth.find_session(session, token, config=config)
                    user = session.get(User, found.user_id) if found else None
                    return found, bool(user and user.must_change_password)
            state["login"], state["must_change_password"] = await run_in_threadpool(look_up)
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Content-Security-Policy", PAGE_CSP)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "log in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": exc.reason}, status_code=403)
        return render(request, "error.html", {"title": "Not allowed", "message": exc.reason}, status_code=403)

    @app.exception_handler(SecondStepNeeded)
    async def second_step(request: Request, exc: SecondStepNeeded) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": f"finish logging in at {exc.where}"}, status_code=403)
        return RedirectResponse(exc.where, status_code=303)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return render(request, "error.html", {"title": "Cannot use this input", "message": str(exc)},
                      status_code=400)


#: Routers added by the feature modules (planner, officer, command, community, admin pages).
FEATURE_ROUTERS = ("passages.web.pages_planner", "passages.web.pages_officer", "passages.web.pages_command",
                   "passages.web.pages_community", "passages.web.pages_concerns", "passages.web.pages_admin")


def create_app(config: ServiceConfig, store: Store | None = None, *, jobs: Any = None) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    config
        Where the data lives and how strict the service is.
    store
        The store; default one on ``config.database_url``, migrated to the newest schema.
    jobs
        The job queue that runs plans outside the requests (:mod:`passages.web.jobs`);
        ``None`` for an app that only serves what is stored.

    The app keeps the inputs of a few areas in memory for planners' what-if re-plans
    (:class:`passages.web.whatif.WarmInputs`, ``app.state.whatif``), reading those of
    ``config.warm_areas`` in a background thread from the start.
    """
    import importlib

    if store is None:
        store = Store(config.database_url)
        store.migrate()
    app = FastAPI(title="passages: Safe Passages planning service", version=__version__,
                  docs_url=None, redoc_url=None, openapi_url=None,  # served below, offline and behind a login
                  description="Planners plan and publish; officers open their published pack; command staff "
                              "compare scenarios and read the history. Every route states the roles that may "
                              "use it (x-roles).")
    app.state.config = config
    app.state.store = store
    app.state.jobs = jobs
    from passages.web import reports
    from passages.web.whatif import WarmInputs

    app.state.report_limits = reports.ReportLimits()
    with store.session() as session:  # the accepted concerns as files, for the plans and the what-ifs
        reports.write_every_area_file(session, config.artefact_dir)
    app.state.whatif = WarmInputs(config.data_dir, size=config.whatif_areas,
                                  concerns=functools.partial(reports.existing_area_file, config.artefact_dir))
    if config.warm_areas:
        app.state.whatif.warm(config.warm_areas)
    app.mount("/static", StaticFiles(directory=Path(__file__).resolve().parent / "static"), name="static")
    app.include_router(account)
    for module_name in FEATURE_ROUTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.include_router(module.router)
    app.add_middleware(_SessionAndHeaders)
    _error_handlers(app)
    return app

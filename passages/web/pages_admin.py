"""The admin's pages: accounts (add, disable, enable, reset, TOTP), role policies, the audit log.

A new or reset password and a new TOTP secret are shown once, in the answer to the form
that made them, and never stored in clear. The audit log is read-only: no route changes it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

import pyotp
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from passages._errors import InputError
from passages.web import audit, auth
from passages.web._serving import bad_request, not_found, store_of
from passages.web.app import client_address
from passages.web.config import ROLES
from passages.web.models import AuditEvent, RolePolicy, Run, User, utcnow
from passages.web.publish import aware
from passages.web.routing import current_login, route
from passages.web.templating import render

__all__ = ["router"]

router = APIRouter()

ADMIN = ["admin"]

#: What a form may show once (a new password, a new TOTP secret).
SHOWN_ONCE = ("username", "password", "totp_secret", "totp_uri")

#: Most audit events shown at once.
MAX_EVENTS = 1000


@lru_cache(maxsize=1)
def _shipped_areas() -> tuple[str, ...]:
    from passages.areas import load_areas

    return tuple(sorted(load_areas()))


def known_areas(request: Request) -> list[str]:
    """The areas an officer can be assigned to: the shipped ones and those of any run."""
    with store_of(request).session() as session:
        planned = set(session.scalars(select(Run.area_slug).distinct()))
    return sorted(set(_shipped_areas()) | planned)


def _users(request: Request) -> dict[str, Any]:
    with store_of(request).session() as session:
        users = [{"username": u.username, "role": u.role, "areas": u.area_slugs, "disabled": u.disabled,
                  "locked": u.locked_until is not None and aware(u.locked_until) > utcnow(),
                  "totp": bool(u.totp_secret), "must_change_password": u.must_change_password,
                  "created_at": aware(u.created_at).isoformat()}
                 for u in session.scalars(select(User).order_by(User.username))]
        policies = {role: False for role in ROLES}
        for policy in session.scalars(select(RolePolicy)):
            policies[policy.role] = bool(policy.require_totp)
    return {"users": users, "policies": policies, "roles": list(ROLES), "areas": known_areas(request)}


def _page(request: Request, *, shown: dict[str, str] | None = None, error: str = "", status_code: int = 200
          ) -> Response:
    once = {**dict.fromkeys(SHOWN_ONCE, ""), **(shown or {})}
    return render(request, "admin_users.html", {"data": _users(request), "shown": once, "error": error},
                  status_code=status_code)


@route(router, "GET", "/admin/users", roles=ADMIN, name="admin_users")
def users_page(request: Request) -> Response:
    """Every account (role, areas, state), the forms to manage them, and the per-role TOTP policy."""
    return _page(request)


@route(router, "GET", "/api/admin/users", roles=ADMIN, name="api_admin_users", response_class=JSONResponse)
def api_users(request: Request) -> dict[str, Any]:
    """JSON of :func:`users_page`: accounts, role policies, roles and areas."""
    return _users(request)


def _act(request: Request, action: Any) -> Response:
    """Run ``action(session, admin_name)``; show its one-time secret once, or its error."""
    login = current_login(request)
    assert login is not None
    try:
        with store_of(request).session() as session:
            shown = action(session, login.username)
    except InputError as exc:
        return _page(request, error=exc.problem, status_code=400)
    return _page(request, shown=shown or {})


@route(router, "POST", "/admin/users", roles=ADMIN, name="admin_user_add")
def add_user(request: Request, username: str = Form(..., max_length=64), role: str = Form(..., max_length=16),
             areas: Annotated[list[str] | None, Form()] = None) -> Response:
    """Add an account; its one-time password is shown once."""
    areas = areas or []
    known = set(known_areas(request))
    unknown = [a for a in areas if a not in known]
    if unknown:
        return _page(request, error="Unknown area: " + ", ".join(a[:64] for a in unknown[:3]), status_code=400)

    def action(session: Any, by: str) -> dict[str, str]:
        _user, password = auth.add_user(session, username, role, areas=tuple(areas), by=by)
        return {"username": username, "password": password}

    return _act(request, action)


def _username(text: str) -> str | None:
    try:
        return auth.check_username(text)
    except InputError:
        return None


@route(router, "POST", "/admin/users/{username}/disable", roles=ADMIN, name="admin_user_disable")
def disable_user(request: Request, username: str) -> Response:
    """Disable an account and end its sessions (not one's own)."""
    login = current_login(request)
    if _username(username) is None:
        return not_found(request)
    if login is not None and username == login.username:
        return bad_request(request, "You cannot disable your own account.")
    return _act(request, lambda session, by: auth.set_disabled(session, username, True, by=by))


@route(router, "POST", "/admin/users/{username}/enable", roles=ADMIN, name="admin_user_enable")
def enable_user(request: Request, username: str) -> Response:
    """Enable a disabled account."""
    if _username(username) is None:
        return not_found(request)
    return _act(request, lambda session, by: auth.set_disabled(session, username, False, by=by))


@route(router, "POST", "/admin/users/{username}/reset", roles=ADMIN, name="admin_user_reset")
def reset_user(request: Request, username: str) -> Response:
    """Give an account a new one-time password (shown once), lift its lock, end its sessions."""
    if _username(username) is None:
        return not_found(request)
    return _act(request, lambda session, by: {"username": username,
                                              "password": auth.reset_password(session, username, by=by)})


@route(router, "POST", "/admin/users/{username}/totp", roles=ADMIN, name="admin_user_totp")
def enrol_totp(request: Request, username: str) -> Response:
    """Give an account a new TOTP secret; its ``otpauth://`` URI and secret are shown once."""
    if _username(username) is None:
        return not_found(request)

    def action(session: Any, by: str) -> dict[str, str]:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise InputError(f"no user {username!r}", field="username", fix="Pick an account of the list.")
        secret = pyotp.random_base32()
        user.totp_secret = secret
        audit.record(session, "user", username=by, target=username, address=client_address(request),
                     detail="TOTP secret enrolled")
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="Safe Passages")
        return {"username": username, "totp_secret": secret, "totp_uri": uri}

    return _act(request, action)


@route(router, "POST", "/admin/policy", roles=ADMIN, name="admin_policy")
def set_policy(request: Request, role: str = Form(..., max_length=16), require_totp: str = Form("")) -> Response:
    """Require (or not) a TOTP second factor of every account of a role."""
    if role not in ROLES:
        return bad_request(request, "Unknown role.")
    required = require_totp in ("1", "on", "true", "yes")

    def action(session: Any, by: str) -> None:
        policy = session.get(RolePolicy, role)
        if policy is None:
            session.add(RolePolicy(role=role, require_totp=required))
        else:
            policy.require_totp = required
        audit.record(session, "policy", username=by, target=role, address=client_address(request),
                     detail="TOTP required" if required else "TOTP optional")

    return _act(request, action)


def _events(request: Request, action: str | None, limit: int) -> list[dict[str, Any]]:
    chosen = action if action in audit.ACTIONS else None
    with store_of(request).session() as session:
        events: list[AuditEvent] = list(audit.recent(session, limit=max(1, min(limit, MAX_EVENTS)), action=chosen))
        return [{"id": e.id, "at": aware(e.at).isoformat(), "username": e.username, "action": e.action,
                 "target": e.target, "outcome": e.outcome, "address": e.address, "detail": e.detail}
                for e in events]


@route(router, "GET", "/admin/audit", roles=ADMIN, name="admin_audit")
def audit_page(request: Request, action: str | None = None, limit: int = 200) -> Response:
    """The audit log, newest first (read-only): who, what, when, from where, how it went."""
    return render(request, "admin_audit.html", {"events": _events(request, action, limit),
                                                "actions": audit.ACTIONS, "chosen": action or ""})


@route(router, "GET", "/api/admin/audit", roles=ADMIN, name="api_admin_audit", response_class=JSONResponse)
def api_audit(request: Request, action: str | None = None, limit: int = 200) -> dict[str, Any]:
    """JSON of :func:`audit_page` (``?action=login&limit=50``)."""
    return {"events": _events(request, action, limit)}

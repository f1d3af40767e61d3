"""Accounts, passwords, sessions and second factors of the planning service.

Anchored on what the FBI CJIS Security Policy asks of police systems:

* passwords are hashed with argon2id (argon2-cffi) and never stored or logged;
* an account is locked for ``lockout_minutes`` after ``lockout_failures`` failed logins
  in a row (the lock is not lifted by a correct password);
* a session ends after ``session_idle_minutes`` without a request; its cookie holds a
  random token of which only the SHA-256 is stored;
* every state-changing request carries the session's CSRF token;
* an admin may require a TOTP second factor (pyotp) per role.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from passages._errors import InputError
from passages.web import audit
from passages.web.config import ROLES, ServiceConfig
from passages.web.models import Assignment, LoginSession, RolePolicy, User, utcnow

__all__ = ["Login", "LoginRefused", "add_user", "authenticate", "check_csrf", "close_session", "find_session",
           "open_session", "reset_password", "set_disabled", "verify_totp"]

_hasher = PasswordHasher()

#: Shortest password accepted when a user chooses one (characters).
MIN_PASSWORD_CHARS = 12

#: A session's last use is written at most this often (seconds); the idle clock is this coarse.
LAST_SEEN_EVERY_S = 60

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class LoginRefused(Exception):  # noqa: N818 - a refusal, not a failure of the program
    """A login that did not succeed; ``reason`` is for the audit log, never for the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Login:
    """The user behind a request and their session."""

    user_id: int
    username: str
    role: str
    areas: tuple[str, ...]
    csrf_token: str
    session_id: int
    needs_second_factor: bool = False


def _as_utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; every time stored here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def one_time_password() -> str:
    """Return a random password of 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


def check_username(username: str) -> str:
    """Return ``username`` if it is 1-64 letters, digits, ``.``, ``_`` or ``-``; else raise InputError."""
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InputError(f"the user name {username[:80]!r} is not allowed", field="username",
                         fix="Use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    return username


def add_user(session: Session, username: str, role: str, *, password: str | None = None,
             areas: tuple[str, ...] = (), by: str = "") -> tuple[User, str]:
    """Add an account; return it and its password (a one-time password if none was given).

    A user given a one-time password must change it at the first login.

    Raises
    ------
    InputError
        The name is taken or not allowed, the role unknown, the password too short.
    """
    check_username(username)
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}", field="role", fix="Roles: " + ", ".join(ROLES) + ".")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise InputError(f"the user {username!r} exists already", field="username", fix="Choose another name.")
    generated = password is None
    if password is not None and len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"a password needs at least {MIN_PASSWORD_CHARS} characters", field="password",
                         fix="Choose a longer password, or let passages make a one-time password.")
    secret = password if password is not None else one_time_password()
    user = User(username=username, role=role, password_hash=_hasher.hash(secret), disabled=False,
                must_change_password=generated, failed_logins=0, created_at=utcnow())
    user.areas = [Assignment(area_slug=slug) for slug in sorted(set(areas))]
    session.add(user)
    session.flush()
    audit.record(session, "user", username=by, target=username, detail=f"added with role {role}")
    return user, secret


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise InputError(f"no user {username!r}", field="username", fix="See 'passages users list'.")
    return user


def reset_password(session: Session, username: str, *, by: str = "") -> str:
    """Give an account a new one-time password, lift its lock, end its sessions; return the password."""
    user = _user(session, username)
    secret = one_time_password()
    user.password_hash = _hasher.hash(secret)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    audit.record(session, "user", username=by, target=username, detail="password reset")
    return secret


def change_password(session: Session, user_id: int, new_password: str) -> None:
    """Set a password the user chose (at least :data:`MIN_PASSWORD_CHARS` characters)."""
    if len(new_password) < MIN_PASSWORD_CHARS:
        raise InputError(f"a password needs at least {MIN_PASSWORD_CHARS} characters", field="password",
                         fix="Choose a longer password.")
    user = session.get(User, user_id)
    assert user is not None
    user.password_hash = _hasher.hash(new_password)
    user.must_change_password = False


def set_disabled(session: Session, username: str, disabled: bool, *, by: str = "") -> None:
    """Disable (ending its sessions) or enable an account."""
    user = _user(session, username)
    user.disabled = disabled
    if disabled:
        session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    audit.record(session, "user", username=by, target=username, detail="disabled" if disabled else "enabled")


def authenticate(session: Session, username: str, password: str, *, config: ServiceConfig,
                 address: str = "") -> User | LoginRefused:
    """Return the user if the password is right and the account usable, else the refusal.

    The attempt is recorded in the audit log and a failure counted towards the lockout,
    both in the caller's transaction; the refusal is *returned*, not raised, so that the
    caller's transaction is committed with them (a raised error would roll them back).
    A refusal's ``reason`` (for the audit log) is ``unknown-user``, ``disabled``,
    ``locked`` or ``bad-password``; the page shows one message for all of them.
    """
    now = utcnow()
    user = session.scalar(select(User).where(User.username == username)) if _USERNAME.fullmatch(username) else None

    def refuse(reason: str) -> LoginRefused:
        audit.record(session, "login", username=username, outcome=reason, address=address)
        return LoginRefused(reason)

    if user is None:
        _hasher.hash(password or "-")  # the same work as a real check: no timing hint that the name is unknown
        return refuse("unknown-user")
    if user.disabled:
        return refuse("disabled")
    if user.locked_until is not None and _as_utc(user.locked_until) > now:
        return refuse("locked")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= config.lockout_failures:
            user.locked_until = now + timedelta(minutes=config.lockout_minutes)
            user.failed_logins = 0
        return refuse("bad-password")
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    audit.record(session, "login", username=username, address=address)
    return user


def totp_required(session: Session, user: User) -> bool:
    """Whether the user's role must give a TOTP code at login (an admin's per-role policy)."""
    policy = session.get(RolePolicy, user.role)
    return bool(policy and policy.require_totp)


def verify_totp(user: User, code: str) -> bool:
    """Whether ``code`` is the user's current TOTP code (one step of clock drift allowed)."""
    return bool(user.totp_secret) and pyotp.TOTP(user.totp_secret or "").verify(code.strip(), valid_window=1)


def open_session(session: Session, user: User, *, address: str = "", second_factor_done: bool = True) -> str:
    """Start a session for ``user``; return the cookie token (only its SHA-256 is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=_token_hash(token), csrf_token=secrets.token_urlsafe(32), user_id=user.id,
                             created_at=utcnow(), last_seen=utcnow(), address=address[:64],
                             second_factor_done=second_factor_done))
    return token


def find_session(session: Session, token: str | None, *, config: ServiceConfig) -> Login | None:
    """Return the login of a cookie token, or ``None`` (no, unknown or idle-expired session).

    A found session's idle clock restarts; an expired one is deleted.
    """
    if not token:
        return None
    found = session.scalar(select(LoginSession).where(LoginSession.token_hash == _token_hash(token)))
    if found is None:
        return None
    now = utcnow()
    user = found.user
    if user.disabled or now - _as_utc(found.last_seen) > timedelta(minutes=config.session_idle_minutes):
        session.delete(found)
        return None
    if now - _as_utc(found.last_seen) >= timedelta(seconds=LAST_SEEN_EVERY_S):
        found.last_seen = now  # written at most once a minute: a page view is not a database write
    return Login(user_id=user.id, username=user.username, role=user.role, areas=tuple(user.area_slugs),
                 csrf_token=found.csrf_token, session_id=found.id,
                 needs_second_factor=not found.second_factor_done)


def close_session(session: Session, token: str | None) -> None:
    """End the session of a cookie token (logout)."""
    if token:
        session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))


def check_csrf(login: Login, given: str | None) -> bool:
    """Whether ``given`` is the session's CSRF token (compared in constant time)."""
    return bool(given) and hmac.compare_digest(login.csrf_token, given or "")

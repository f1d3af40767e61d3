"""Accounts, passwords, lockout, sessions and second factors of the service (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import passages.web.auth
from passages._errors import InputError
from passages.web import auth
from passages.web.app import SESSION_COOKIE, create_app
from passages.web.config import ServiceConfig
from passages.web.models import AuditEvent, LoginSession, RolePolicy, User, utcnow
from passages.web.store import Store

CONFIG = ServiceConfig(lockout_failures=5, lockout_minutes=10, session_idle_minutes=30)
GOOD = "correct horse battery staple"


def add(store: Store, name: str = "ana", role: str = "planner", password: str | None = GOOD) -> str:
    with store.session() as session:
        _user, secret = auth.add_user(session, name, role, password=password)
    return secret


def attempt(store: Store, name: str, password: str) -> str:
    """Try a login; return "ok" or the refusal's reason."""
    with store.session() as session:
        found = auth.authenticate(session, name, password, config=CONFIG, address="127.0.0.1")
    return found.reason if isinstance(found, auth.LoginRefused) else "ok"


def later(monkeypatch: pytest.MonkeyPatch, minutes: float) -> None:
    """Move the service's clock ``minutes`` ahead."""
    now = utcnow()
    monkeypatch.setattr(passages.web.auth, "utcnow", lambda: now + timedelta(minutes=minutes))


def test_passwords_are_stored_as_argon2_hashes_only(web_store: Store) -> None:
    add(web_store)
    with web_store.session() as session:
        user = session.scalars(select(User)).one()
        assert user.password_hash.startswith("$argon2id$") and GOOD not in user.password_hash
        assert not user.must_change_password


def test_a_one_time_password_is_long_random_and_must_be_changed(web_store: Store) -> None:
    first, second = add(web_store, "a", password=None), add(web_store, "b", password=None)
    assert first != second and len(first) >= 20
    with web_store.session() as session:
        assert all(u.must_change_password for u in session.scalars(select(User)))
    assert attempt(web_store, "a", first) == "ok"


@pytest.mark.parametrize(("name", "role", "password"), [
    ("../admin", "planner", GOOD), ("<b>x</b>", "planner", GOOD), ("", "planner", GOOD), ("x" * 65, "planner", GOOD),
    ("ana", "root", GOOD), ("ana", "planner", "short"),
])
def test_bad_accounts_are_refused_with_one_clear_error(web_store: Store, name: str, role: str, password: str) -> None:
    with pytest.raises(InputError), web_store.session() as session:
        auth.add_user(session, name, role, password=password)


def test_five_bad_passwords_lock_the_account_for_ten_minutes(web_store: Store,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    add(web_store)
    assert [attempt(web_store, "ana", "wrong") for _ in range(5)] == ["bad-password"] * 5
    assert attempt(web_store, "ana", GOOD) == "locked"  # the right password does not lift the lock
    later(monkeypatch, 9)
    assert attempt(web_store, "ana", GOOD) == "locked"
    later(monkeypatch, 11)
    assert attempt(web_store, "ana", GOOD) == "ok"
    with web_store.session() as session:
        outcomes = [e.outcome for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert outcomes == ["ok"] + ["bad-password"] * 5 + ["locked", "locked", "ok"]  # the "ok" first: the account


def test_a_good_login_resets_the_count_of_failures(web_store: Store) -> None:
    add(web_store)
    for _ in range(4):
        attempt(web_store, "ana", "wrong")
    assert attempt(web_store, "ana", GOOD) == "ok"
    assert [attempt(web_store, "ana", "wrong") for _ in range(4)] == ["bad-password"] * 4
    assert attempt(web_store, "ana", GOOD) == "ok"


def test_unknown_and_disabled_accounts_are_refused_and_audited(web_store: Store) -> None:
    add(web_store)
    assert attempt(web_store, "nobody", GOOD) == "unknown-user"
    with web_store.session() as session:
        auth.set_disabled(session, "ana", True, by="admin")
    assert attempt(web_store, "ana", GOOD) == "disabled"
    with web_store.session() as session:
        auth.set_disabled(session, "ana", False, by="admin")
    assert attempt(web_store, "ana", GOOD) == "ok"


def test_a_reset_gives_a_new_one_time_password_lifts_the_lock_and_ends_sessions(web_store: Store) -> None:
    add(web_store)
    with web_store.session() as session:
        auth.open_session(session, session.scalars(select(User)).one())
    for _ in range(5):
        attempt(web_store, "ana", "wrong")
    with web_store.session() as session:
        fresh = auth.reset_password(session, "ana", by="admin")
    assert attempt(web_store, "ana", GOOD) == "bad-password"
    assert attempt(web_store, "ana", fresh) == "ok"
    with web_store.session() as session:
        assert session.scalars(select(LoginSession)).all() == []


def test_sessions_end_after_thirty_idle_minutes(web_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    add(web_store)
    with web_store.session() as session:
        token = auth.open_session(session, session.scalars(select(User)).one())
    later(monkeypatch, 29)
    with web_store.session() as session:
        assert auth.find_session(session, token, config=CONFIG) is not None  # and its clock restarts
    later(monkeypatch, 29 + 29)
    with web_store.session() as session:
        assert auth.find_session(session, token, config=CONFIG) is not None
    later(monkeypatch, 29 + 29 + 31)
    with web_store.session() as session:
        assert auth.find_session(session, token, config=CONFIG) is None
    with web_store.session() as session:
        assert session.scalars(select(LoginSession)).all() == []  # the expired session is gone


def test_only_the_sessions_token_passes_the_csrf_check(web_store: Store) -> None:
    add(web_store)
    with web_store.session() as session:
        token = auth.open_session(session, session.scalars(select(User)).one())
        login = auth.find_session(session, token, config=CONFIG)
    assert login is not None
    assert auth.check_csrf(login, login.csrf_token)
    assert not auth.check_csrf(login, None) and not auth.check_csrf(login, "") and not auth.check_csrf(login, "x")
    assert not auth.check_csrf(login, token)  # the cookie's token is not the CSRF token


def test_a_totp_code_is_checked_against_the_users_secret() -> None:
    secret = pyotp.random_base32()
    user = User(username="ana", role="planner", password_hash="-", totp_secret=secret)
    assert auth.verify_totp(user, pyotp.TOTP(secret).now())
    assert not auth.verify_totp(user, "000000") or pyotp.TOTP(secret).now() == "000000"
    assert not auth.verify_totp(User(username="b", role="planner", password_hash="-"), "123456")


# ------------------------------------------------------------------ the login pages


@pytest.fixture()
def client(tmp_path: Path) -> TestClient:
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path / 'p.db'}", artefact_dir=tmp_path / "artefacts")
    return TestClient(create_app(config))


def log_in(client: TestClient, name: str, password: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None
    answer = client.post("/login", data={"username": name, "password": password, "login_csrf": token.group(1)},
                         follow_redirects=False)
    return answer.headers.get("location", str(answer.status_code))


def test_the_login_form_needs_its_own_anti_forgery_token(client: TestClient) -> None:
    add(client.app.state.store)  # type: ignore[attr-defined]
    answer = client.post("/login", data={"username": "ana", "password": GOOD, "login_csrf": "forged"},
                         follow_redirects=False)
    assert answer.status_code == 403 and SESSION_COOKIE not in answer.cookies


def test_a_session_cookie_is_httponly_and_samesite_strict(client: TestClient) -> None:
    add(client.app.state.store)  # type: ignore[attr-defined]
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None
    answer = client.post("/login", data={"username": "ana", "password": GOOD, "login_csrf": token.group(1)},
                         follow_redirects=False)
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_a_one_time_password_leads_to_choosing_ones_own_first(client: TestClient) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    first = add(store, "bob", "officer", password=None)
    assert log_in(client, "bob", first) == "/password"
    assert client.get("/", follow_redirects=False).headers["location"] == "/password"  # nothing else first
    page = client.get("/password")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    changed = client.post("/password", data={"password": GOOD, "again": GOOD, "csrf_token": csrf.group(1)},
                          follow_redirects=False)
    assert changed.status_code == 303
    assert client.get("/").status_code == 200
    assert attempt(store, "bob", GOOD) == "ok" and attempt(store, "bob", first) == "bad-password"


def test_a_role_that_requires_totp_asks_for_the_code_before_anything(client: TestClient) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    add(store, "cmd", "command")
    secret = pyotp.random_base32()
    with store.session() as session:
        session.scalars(select(User)).one().totp_secret = secret
        session.add(RolePolicy(role="command", require_totp=True))
    assert log_in(client, "cmd", GOOD) == "/login/totp"
    assert client.get("/docs", follow_redirects=False).headers["location"] == "/login/totp"
    page = client.get("/login/totp")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    wrong = client.post("/login/totp", data={"code": "12345x", "csrf_token": csrf.group(1)})
    assert wrong.status_code == 401
    right = client.post("/login/totp", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf.group(1)},
                        follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/"
    assert client.get("/").status_code == 200


def test_a_next_page_after_login_is_only_ever_local(client: TestClient) -> None:
    add(client.app.state.store)  # type: ignore[attr-defined]
    page = client.get("/login", params={"next": "https://evil.example/"})
    assert "evil.example" not in page.text
    page = client.get("/login", params={"next": "//evil.example/x"})
    assert 'value="/"' in page.text

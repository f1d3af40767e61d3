"""The tables of the planning service (SQLAlchemy 2; the schema itself is made by Alembic).

Times are UTC, timezone-aware. Nothing here is ever unpickled: parameters and summaries are
JSON. The audit log and published versions have no update path in the application.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Return the current UTC time (aware), to the second."""
    return datetime.now(UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    """Base class of every table."""


class User(Base):
    """An account: a role, a password hash (argon2), lockout state, optional TOTP secret."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    areas: Mapped[list[Assignment]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                   lazy="selectin")

    @property
    def area_slugs(self) -> list[str]:
        """Slugs of the areas an officer is assigned to."""
        return sorted(a.area_slug for a in self.areas)


class Assignment(Base):
    """An officer assigned to an area: they see that area's published officer pack."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("user_id", "area_slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    area_slug: Mapped[str] = mapped_column(String(64))

    user: Mapped[User] = relationship(back_populates="areas")


class LoginSession(Base):
    """A logged-in browser: the SHA-256 of its cookie token, its CSRF token, its last use."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    address: Mapped[str] = mapped_column(String(64), default="")
    second_factor_done: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(lazy="joined")


class RolePolicy(Base):
    """Per-role security policy set by an admin: whether a TOTP second factor is required."""

    __tablename__ = "role_policies"

    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    require_totp: Mapped[bool] = mapped_column(Boolean, default=False)


class Run(Base):
    """One planning job: its inputs' hashes, parameters, state, outputs and who ran it."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_slug: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="plan")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input_hashes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    step: Mapped[str] = mapped_column(String(64), default="")
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    steps_total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outputs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Publication(Base):
    """A published version of an area's plan: immutable once written."""

    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("area_slug", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_slug: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    scenario: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    published_by: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class AuditEvent(Base):
    """One line of the audit log: who, what, when, from where, and how it went."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    address: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class ConcernReport(Base):
    """A concern a resident sent through the community form: a place, a category, a short note.

    Nothing about who sent it is stored: no address, browser, account, session or time of
    day (only the day). The id is random, and SQLite keeps the rows in the order of their
    ids (``WITHOUT ROWID``), not in the order they came. A report is ``pending`` until a
    planner accepts it (``accepted``: it goes into the area's next plan); a rejected one
    is deleted.
    """

    __tablename__ = "concern_reports"
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    area_slug: Mapped[str] = mapped_column(String(64), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    category: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(String(200), default="")
    day: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decided_on: Mapped[date | None] = mapped_column(Date, nullable=True)

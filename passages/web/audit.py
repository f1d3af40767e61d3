"""The audit log: every login (good or bad), run, publication and officer-pack download.

Events are only ever added (:func:`record`); the application has no path that changes or
removes one. An admin reads them (:func:`recent`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from passages._names import clean_name
from passages.web.models import AuditEvent

#: The actions recorded, with what each means.
ACTIONS = {
    "login": "a login attempt (outcome ok, bad-password, locked, disabled, unknown-user, second-factor)",
    "logout": "a logout",
    "run": "a plan or comparison queued (target: run id and area)",
    "publish": "a plan published to officers (target: area and version)",
    "download": "an officer pack file opened or downloaded (target: area, version and file)",
    "user": "an account added, disabled, enabled or its password reset (target: the account)",
    "policy": "a role's second-factor policy changed",
    "concern": "a resident's report accepted or rejected by a planner (target: its random id and area; "
               "nothing of the resident is known)",
}


def record(session: Session, action: str, *, username: str = "", target: str = "", outcome: str = "ok",
           address: str = "", detail: str = "") -> AuditEvent:
    """Add one event to the log (committed with the caller's session) and return it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    event = AuditEvent(action=action, username=clean_name(username)[:64], target=clean_name(target)[:255],
                       outcome=outcome[:16], address=address[:64], detail=clean_name(detail))
    session.add(event)
    return event


def recent(session: Session, *, limit: int = 200, action: str | None = None) -> Sequence[AuditEvent]:
    """Return the newest events first (at most ``limit``), optionally of one action."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return session.scalars(query).all()

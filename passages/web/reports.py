"""Residents' concern reports: checked, rate-limited, kept pending, accepted into the next plan.

A resident sends a place, a category of :data:`passages.concerns.CATEGORIES` and an
optional short note through the community form (:mod:`passages.web.pages_concerns`),
without an account. What is stored (:class:`~passages.web.models.ConcernReport`): the
area, the place (degrees, 6 decimals), the category, the note (at most
:data:`MAX_NOTE_CHARS` characters, control and bidi characters removed), the day it came
(UTC) and a random id. Never stored: the sender's address, browser, account, session,
cookie, or the time of day.

Until a planner accepts it, a report is shown to nobody (no public or officer page, no
plan); a rejected report is deleted. The accepted reports of an area are written as its
concerns file (GeoJSON, :func:`write_area_file`, atomically) under
``<artefact_dir>/concerns/<area>.geojson``; every run queued afterwards plans with a copy of
it in its inputs (:func:`passages.web.jobs.create_run`), and the what-if inputs read it too
(:class:`passages.web.whatif.WarmInputs`), keyed on its digest.

Floods (:class:`ReportLimits`) are refused with 429, in memory only:

* each area takes at most :data:`AREA_BURST` reports at once, then one every
  ``3600 / AREA_PER_HOUR`` seconds (a token bucket per area);
* each sender at most :data:`CLIENT_BURST` at once, then one every
  :data:`CLIENT_REFILL_S` seconds, keyed by an HMAC of their address with a random key that
  lives only in the web process's memory and is replaced (with every sender's bucket)
  every :data:`ROTATE_S` seconds;
* an area holds at most :data:`MAX_PENDING` pending reports.

Several web processes (``--web-processes``) each keep their own buckets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from passages._errors import InputError
from passages._names import clean_name, slug
from passages.concerns import CATEGORIES
from passages.i18n import N_
from passages.web.models import ConcernReport

__all__ = ["AREA_BURST", "AREA_PER_HOUR", "CLIENT_BURST", "CLIENT_REFILL_S", "MAX_NOTE_CHARS", "MAX_PENDING",
           "ROTATE_S", "ReportLimits", "accepted_geojson", "add_report", "area_file", "check_report",
           "decide", "pending", "write_area_file"]

#: Longest note kept (characters): the concerns reader keeps no more (:data:`passages.concerns.MAX_TEXT`).
MAX_NOTE_CHARS = 120

#: Reports an area takes at once, and per hour after that.
AREA_BURST, AREA_PER_HOUR = 30, 30

#: Reports one sender may send at once, and seconds until they may send one more.
CLIENT_BURST, CLIENT_REFILL_S = 3, 600.0

#: Seconds the key of the senders' buckets lives (then a new key, and every bucket forgotten).
ROTATE_S = 3600.0

#: Most senders' buckets kept at once (beyond, the full ones are dropped first).
MAX_CLIENTS = 10_000

#: Most pending reports of one area.
MAX_PENDING = 500

#: States of a report.
STATES = ("pending", "accepted")


def today() -> date:
    """The day a report is stored with (UTC): the only time kept."""
    return datetime.now(UTC).date()


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Report:
    """A checked report, ready to store."""

    area: str
    lat: float
    lon: float
    category: str
    note: str


class ReportRefused(Exception):  # noqa: N818 - a refusal of the input, shown on the form
    """A report that cannot be taken; ``key`` names the message (:data:`MESSAGES`)."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


#: The one-line messages of a refused report, by key (English; translated on the page).
MESSAGES = {
    "no_place": N_("Mark the place on the map, choose a place near it, or type its latitude and longitude."),
    "bad_number": N_("The latitude and longitude must be numbers in degrees, like 34.0101 and -118.2824."),
    "outside": N_("That place is outside this area. Mark a place inside the area."),
    "category": N_("Choose one of the listed kinds of concern."),
    "note_long": N_("The note is too long: at most {n} characters."),
    "too_many": N_("Too many reports have been sent just now. Please try again later."),
    "full": N_("Too many reports are waiting to be read for this area. Please try again in a few days."),
}


def _degrees(text: str) -> float:
    text = text.strip()
    if not text or len(text) > 32:
        raise ReportRefused("bad_number")
    try:
        value = float(text)
    except ValueError:
        raise ReportRefused("bad_number") from None
    if not math.isfinite(value):
        raise ReportRefused("bad_number")
    return value


def check_report(area: str, polygon: Any, *, lat: str, lon: str, place: str, category: str,
                 note: str) -> Report:
    """Check a form's fields; return the report or raise :class:`ReportRefused`.

    Parameters
    ----------
    area
        The area's slug.
    polygon
        The area's study polygon (shapely, EPSG:4326): the place must lie in it.
    lat, lon
        Degrees typed or filled in by the map (used when both are given).
    place
        A place chosen from the page's list, ``"lat,lon"`` (used when lat and lon are blank).
    category
        One of :data:`passages.concerns.CATEGORIES`.
    note
        Optional, at most :data:`MAX_NOTE_CHARS` characters.
    """
    import shapely

    if lat.strip() or lon.strip():
        y, x = _degrees(lat), _degrees(lon)
    elif place.strip():
        parts = place.split(",")
        if len(parts) != 2:
            raise ReportRefused("bad_number")
        y, x = _degrees(parts[0]), _degrees(parts[1])
    else:
        raise ReportRefused("no_place")
    if not (-90.0 <= y <= 90.0 and -180.0 <= x <= 180.0):
        raise ReportRefused("bad_number")
    if polygon is None or not shapely.contains_xy(polygon, x, y):
        raise ReportRefused("outside")
    if category not in CATEGORIES:
        raise ReportRefused("category")
    if len(note) > MAX_NOTE_CHARS:
        raise ReportRefused("note_long", n=MAX_NOTE_CHARS)
    return Report(area=slug(area, field="area"), lat=round(y, 6), lon=round(x, 6), category=category,
                  note=clean_name(note)[:MAX_NOTE_CHARS])


# --------------------------------------------------------------------------- the store


def add_report(session: Session, report: Report) -> None:
    """Store a checked report as pending (random id, the day only); refuse when the area is full."""
    waiting = session.scalar(select(func.count()).select_from(ConcernReport).where(
        ConcernReport.area_slug == report.area, ConcernReport.state == "pending"))
    if (waiting or 0) >= MAX_PENDING:
        raise ReportRefused("full")
    session.add(ConcernReport(id=secrets.token_hex(16), area_slug=report.area, lat=report.lat, lon=report.lon,
                              category=report.category, note=report.note, day=today(), state="pending",
                              decided_by="", decided_on=None))


def pending(session: Session, areas: tuple[str, ...] | None = None, *, state: str = "pending"
            ) -> list[ConcernReport]:
    """Return the reports in ``state`` (of ``areas``, else of every area): by area, day, then random id."""
    query = select(ConcernReport).where(ConcernReport.state == state)
    if areas is not None:
        query = query.where(ConcernReport.area_slug.in_(list(areas)))
    query = query.order_by(ConcernReport.area_slug, ConcernReport.day, ConcernReport.id)
    return list(session.scalars(query))


def decide(session: Session, report_id: str, accept: bool, *, by: str,
           areas: tuple[str, ...] | None = None) -> ConcernReport | None:
    """Accept (kept, ``accepted``) or reject (deleted) a pending report; return it, ``None`` if not found.

    ``areas`` limits the reports the planner may decide on (``None``: every area).
    """
    report = session.get(ConcernReport, report_id[:32])
    if report is None or report.state != "pending" or (areas is not None and report.area_slug not in areas):
        return None
    if accept:
        report.state = "accepted"
        report.decided_by = by[:64]
        report.decided_on = today()
    else:
        session.execute(delete(ConcernReport).where(ConcernReport.id == report.id))
    return report


# --------------------------------------------------------------------------- the concerns file


def area_file(artefact_dir: Path, area: str) -> Path:
    """The concerns file of an area's accepted reports: ``<artefact_dir>/concerns/<area>.geojson``."""
    return Path(artefact_dir) / "concerns" / f"{slug(area, field='area')}.geojson"


def accepted_geojson(session: Session, area: str) -> bytes | None:
    """The accepted reports of ``area`` as a concerns file (GeoJSON points), or ``None`` if there are none.

    Properties: ``category``, ``date`` (the day it came), ``id`` and ``note``, as
    :func:`passages.concerns.read_concerns` reads them. The features are sorted by id.
    """
    rows = session.scalars(select(ConcernReport).where(ConcernReport.area_slug == area,
                                                       ConcernReport.state == "accepted")
                           .order_by(ConcernReport.id)).all()
    if not rows:
        return None
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [row.lon, row.lat]},
                 "properties": {"category": row.category, "date": row.day.isoformat(), "id": row.id[:12],
                                "note": row.note}} for row in rows]
    text = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, allow_nan=False,
                      indent=1)
    return (text + "\n").encode("utf-8")


def write_area_file(session: Session, artefact_dir: Path, area: str, target: Path | None = None) -> Path | None:
    """Write the accepted reports of ``area`` to ``target`` (default :func:`area_file`), atomically.

    Returns the file, or ``None`` when the area has no accepted report (a file left from
    before is removed). An unchanged file is not rewritten.
    """
    from passages._io import write_atomic

    path = target if target is not None else area_file(artefact_dir, area)
    data = accepted_geojson(session, area)
    if data is None:
        path.unlink(missing_ok=True)
        return None
    if path.is_file() and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return path


def write_every_area_file(session: Session, artefact_dir: Path) -> None:
    """Write the concerns file of every area with accepted reports (at start-up)."""
    areas = session.scalars(select(ConcernReport.area_slug).where(ConcernReport.state == "accepted")
                            .distinct()).all()
    for area in areas:
        write_area_file(session, artefact_dir, area)


# --------------------------------------------------------------------------- floods


@dataclass
class _Bucket:
    tokens: float
    at: float


class ReportLimits:
    """Token buckets against floods, per area and per sender, in memory only (thread-safe).

    A sender is known by ``HMAC-SHA256(key, address)``, the key random and replaced every
    ``rotate_s`` seconds together with every sender's bucket; neither the key, the digest
    nor the address is written anywhere.

    Parameters
    ----------
    clock
        Seconds (monotonic); the tests move it.
    """

    def __init__(self, *, area_burst: int = AREA_BURST, area_per_hour: float = AREA_PER_HOUR,
                 client_burst: int = CLIENT_BURST, client_refill_s: float = CLIENT_REFILL_S,
                 rotate_s: float = ROTATE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.area_burst, self.area_rate = float(area_burst), float(area_per_hour) / 3600.0
        self.client_burst, self.client_rate = float(client_burst), 1.0 / float(client_refill_s)
        self.rotate_s = float(rotate_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._areas: dict[str, _Bucket] = {}
        self._clients: dict[bytes, _Bucket] = {}
        self._key = secrets.token_bytes(32)
        self._key_since = clock()

    def _client_key(self, address: str) -> bytes:
        return hmac.new(self._key, address.encode("utf-8", "replace"), hashlib.sha256).digest()

    @staticmethod
    def _level(bucket: _Bucket, now: float, burst: float, rate: float) -> float:
        bucket.tokens = min(burst, bucket.tokens + max(0.0, now - bucket.at) * rate)
        bucket.at = now
        return bucket.tokens

    def allow(self, area: str, address: str) -> bool:
        """Take one report of ``area`` from ``address`` if both buckets have room; whether it was taken."""
        with self._lock:
            now = self.clock()
            if now - self._key_since >= self.rotate_s:
                self._key, self._key_since = secrets.token_bytes(32), now
                self._clients.clear()
            client = self._clients.get(key := self._client_key(address))
            if client is None:
                if len(self._clients) >= MAX_CLIENTS:
                    self._forget_full(now)
                client = self._clients[key] = _Bucket(self.client_burst, now)
            place = self._areas.setdefault(area, _Bucket(self.area_burst, now))
            if (self._level(client, now, self.client_burst, self.client_rate) < 1.0
                    or self._level(place, now, self.area_burst, self.area_rate) < 1.0):
                return False
            client.tokens -= 1.0
            place.tokens -= 1.0
            return True

    def _forget_full(self, now: float) -> None:
        for key in [k for k, b in self._clients.items()
                    if self._level(b, now, self.client_burst, self.client_rate) >= self.client_burst]:
            del self._clients[key]
        if len(self._clients) >= MAX_CLIENTS:  # still full: a flood from very many addresses
            self._clients.clear()


def existing_area_file(artefact_dir: Path, area: str) -> Path | None:
    """The concerns file of ``area`` if it has one (accepted reports), else ``None``."""
    try:
        path = area_file(artefact_dir, area)
    except InputError:
        return None
    return path if path.is_file() else None

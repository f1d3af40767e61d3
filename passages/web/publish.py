"""Publishing a run's scenario to officers, its files, the history of versions and their diffs.

A finished run (:class:`~passages.web.models.Run`, state ``"done"``) of id ``N`` keeps its
files under ``artefact_dir / "runs" / "N"``, listed (relative paths) in ``Run.outputs``:

* ``scenarios/<scenario>/plan.html``, ``plan-summary.json``, ``metrics.json``,
  ``community.html``;
* ``scenarios/<scenario>/officers/``: ``officers.html``, ``briefing.pdf``, its PNG pages,
  the GPX files and the planner's GIS files (``plan.gpkg``, ``plan-<layer>.geojson``);
* ``compare/compare.csv``, ``compare/compare-coverage.png``, ``compare/compare-<a>-vs-<b>.html``.

A file is served only by mapping a run and a relative path **listed in** ``Run.outputs`` to
a file under the run's folder (:func:`run_file`): no path is ever built from what a user
typed. A :class:`~passages.web.models.Publication` is immutable: :func:`publish` only adds
versions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passages._errors import InputError
from passages._names import clean_name
from passages.web import audit
from passages.web.config import ServiceConfig
from passages.web.models import Publication, Run, utcnow

__all__ = ["COMMUNITY_FORBIDDEN", "PackFile", "community_map_problems", "diff_versions",
           "history", "latest_publication", "officer_files", "publish", "published_areas", "read_json",
           "run_dir", "run_file", "scenario_names"]

#: Files of an officer pack an officer may open, by kind (matched on the file's name).
OFFICER_FILE_KINDS = (
    ("map", re.compile(r"officers\.html")),
    ("briefing", re.compile(r"briefing\.pdf")),
    ("page", re.compile(r"briefing-officer\d+-\d{4}\.png")),
    ("gpx", re.compile(r"(officer\d+|posts)\.gpx")),
)

#: Media types of the files served.
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf", ".png": "image/png",
               ".gpx": "application/gpx+xml", ".csv": "text/csv; charset=utf-8", ".json": "application/json"}

_SCENARIO_PATH = re.compile(r"scenarios/([A-Za-z0-9][A-Za-z0-9_-]{0,63})/")


def run_dir(config: ServiceConfig, run_id: int) -> Path:
    """Return the folder of run ``run_id``'s files: ``artefact_dir/runs/<run_id>``."""
    return config.artefact_dir / "runs" / str(int(run_id))


def run_file(config: ServiceConfig, run: Run, relative: str) -> Path | None:
    """Return the file of ``run`` listed as ``relative`` in its outputs, or ``None``.

    ``relative`` is looked up in ``run.outputs`` (an exact match): a path not listed there,
    one with ``..``, an absolute one, or one that resolves outside the run's folder (a
    symbolic link) gives ``None``, as does a run that is not done.
    """
    if run.state != "done" or not isinstance(relative, str) or relative not in (run.outputs or []):
        return None
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(p in ("", ".", "..") for p in parts):
        return None
    base = run_dir(config, run.id).resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def read_json(config: ServiceConfig, run: Run, relative: str) -> dict[str, Any]:
    """Return the JSON object of a run's listed file, or ``{}`` if missing or not an object."""
    path = run_file(config, run, relative)
    if path is None:
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def scenario_names(run: Run) -> list[str]:
    """Return the scenarios of a run (the ``scenarios/<name>/`` folders of its outputs), in order."""
    names: list[str] = []
    for relative in run.outputs or []:
        match = _SCENARIO_PATH.match(str(relative))
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


@dataclass(frozen=True)
class PackFile:
    """One file of an officer pack: its name in the pack, kind and path relative to the run."""

    name: str
    kind: str
    relative: str


def officer_files(run: Run, scenario: str) -> dict[str, PackFile]:
    """Return the files of a scenario's officer pack an officer may open, by file name.

    Only the map, the briefing sheet (PDF and PNG pages) and the GPX files: the planner's
    GIS files stay with the planners.
    """
    prefix = f"scenarios/{scenario}/officers/"
    found: dict[str, PackFile] = {}
    for relative in run.outputs or []:
        relative = str(relative)
        if not relative.startswith(prefix) or "/" in relative[len(prefix):]:
            continue
        name = relative[len(prefix):]
        for kind, pattern in OFFICER_FILE_KINDS:
            if pattern.fullmatch(name):
                found[name] = PackFile(name, kind, relative)
    return dict(sorted(found.items()))


# --------------------------------------------------------------------------- publishing


def publish(session: Session, config: ServiceConfig, run_id: int, scenario: str, *, by: str, note: str = "",
            address: str = "") -> Publication:
    """Publish one scenario of a done run as the next version of its area; audit it.

    Raises
    ------
    InputError
        No such run, the run is not done, or it has no such scenario (or no officer pack).
    """
    run = session.get(Run, run_id)
    if run is None or run.state != "done":
        raise InputError(f"run {run_id} is not a finished run", field="run",
                         fix="Publish a run whose state is done.")
    if scenario not in scenario_names(run) or not officer_files(run, scenario):
        raise InputError(f"run {run_id} has no officer pack for the scenario {scenario[:80]!r}", field="scenario",
                         fix="Pick one of the run's scenarios: " + ", ".join(scenario_names(run)) + ".")
    metrics = read_json(config, run, f"scenarios/{scenario}/metrics.json")
    current = session.scalar(select(func.max(Publication.version)).where(Publication.area_slug == run.area_slug))
    publication = Publication(area_slug=run.area_slug, version=(current or 0) + 1, run_id=run.id, scenario=scenario,
                              metrics=_finite(metrics), published_by=by, published_at=utcnow(),
                              note=clean_name(note)[:500])
    session.add(publication)
    session.flush()
    audit.record(session, "publish", username=by, target=f"{run.area_slug} v{publication.version}",
                 address=address, detail=f"run {run.id}, scenario {scenario}")
    return publication


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    return {str(k): (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}


def latest_publication(session: Session, area: str) -> Publication | None:
    """Return the version of ``area`` in force (the newest), or ``None`` if never published."""
    return session.scalar(select(Publication).where(Publication.area_slug == area)
                          .order_by(Publication.version.desc()).limit(1))


def published_areas(session: Session, areas: Iterable[str] | None = None) -> list[Publication]:
    """Return the version in force of every published area (of ``areas`` only, if given), by area."""
    query = select(Publication).order_by(Publication.area_slug, Publication.version.desc())
    if areas is not None:
        query = query.where(Publication.area_slug.in_(list(areas)))
    newest: dict[str, Publication] = {}
    for publication in session.scalars(query):
        newest.setdefault(publication.area_slug, publication)
    return list(newest.values())


def area_name(config: ServiceConfig, session: Session, publication: Publication) -> str:
    """Return the area's display name from the published plan's summary (its slug if none)."""
    run = session.get(Run, publication.run_id)
    if run is None:
        return publication.area_slug
    summary = read_json(config, run, f"scenarios/{publication.scenario}/plan-summary.json")
    return clean_name(summary.get("area_name"), default=publication.area_slug)[:200] or publication.area_slug


def history(session: Session, area: str | None = None) -> list[dict[str, Any]]:
    """Return every version (of one area, or all), oldest first, with the days it was in force.

    Each row: ``area``, ``version``, ``run_id``, ``scenario``, ``published_by``,
    ``published_at`` (ISO 8601, UTC), ``in_force_from`` and ``in_force_until`` (dates;
    ``None`` for the version still in force), ``note``.
    """
    query = select(Publication).order_by(Publication.area_slug, Publication.version)
    if area is not None:
        query = query.where(Publication.area_slug == area)
    rows: list[dict[str, Any]] = []
    publications = list(session.scalars(query))
    for i, publication in enumerate(publications):
        following = publications[i + 1] if i + 1 < len(publications) else None
        if following is not None and following.area_slug != publication.area_slug:
            following = None
        rows.append({
            "area": publication.area_slug, "version": publication.version, "run_id": publication.run_id,
            "scenario": publication.scenario, "published_by": publication.published_by,
            "published_at": aware(publication.published_at).isoformat(),
            "in_force_from": aware(publication.published_at).date().isoformat(),
            "in_force_until": aware(following.published_at).date().isoformat() if following else None,
            "note": publication.note,
        })
    return rows


def in_force_on(rows: Sequence[dict[str, Any]], day: date) -> dict[str, Any] | None:
    """Return the history row (of one area) in force at the end of ``day``, or ``None``."""
    found = None
    for row in rows:
        if date.fromisoformat(row["in_force_from"]) <= day:
            found = row
    return found


def aware(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC time (SQLite gives back naive ones)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


# --------------------------------------------------------------------------- diffs


def layer_features(config: ServiceConfig, run: Run, relative: str) -> list[dict[str, Any]]:
    """The features with a geometry of a run's GeoJSON layer (empty if it is missing or unreadable)."""
    path = run_file(config, run, relative)
    if path is None:
        return []
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    features = value.get("features") if isinstance(value, dict) else None
    return [f for f in features or [] if isinstance(f, dict) and isinstance(f.get("geometry"), dict)]


def _xy_m(lon: float, lat: float, lat0: float) -> tuple[float, float]:
    """Metres east and north of (0, lat0): equirectangular, good to a few metres over a few km."""
    radius = 6_371_008.8
    return math.radians(lon) * radius * math.cos(math.radians(lat0)), math.radians(lat) * radius


def _line_points(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    coords = geometry.get("coordinates") or []
    if geometry.get("type") == "MultiLineString":
        return [tuple(c[:2]) for part in coords for c in part]
    if geometry.get("type") == "LineString":
        return [tuple(c[:2]) for c in coords]
    if geometry.get("type") == "Point":
        return [tuple(coords[:2])]
    return []


def _hausdorff_m(first: list[tuple[float, float]], second: list[tuple[float, float]], lat0: float) -> float | None:
    from shapely.geometry import LineString, MultiPoint

    if not first or not second:
        return None

    def shape(points: list[tuple[float, float]]) -> Any:
        xy = [_xy_m(x, y, lat0) for x, y in points]
        return LineString(xy) if len(xy) > 1 else MultiPoint(xy)

    return round(float(shape(first).hausdorff_distance(shape(second))), 1)


def _change(before: dict[str, Any] | None, after: dict[str, Any] | None,
            lat0: float) -> tuple[str, float | None]:
    """How a post or loop changed between two versions: added, removed, moved (by how many metres) or same."""
    if before is None or after is None:
        return ("added" if before is None else "removed"), None
    moved = _hausdorff_m(_line_points(before["geometry"]), _line_points(after["geometry"]), lat0)
    return ("moved" if moved is not None and moved > 1.0 else "same"), moved


def _passage_keys(features: list[dict[str, Any]]) -> dict[tuple[Any, ...], float]:
    keys: dict[tuple[Any, ...], float] = {}
    for feature in features:
        props = feature.get("properties") or {}
        key = (props.get("u"), props.get("v"), props.get("segment"))
        length = props.get("length_m")
        keys[key] = float(length) if isinstance(length, int | float) and math.isfinite(length) else 0.0
    return keys


def diff_versions(config: ServiceConfig, session: Session, area: str, first: int, second: int) -> dict[str, Any]:
    """Return what changed from version ``first`` to version ``second`` of an area.

    The result holds ``area``, ``a`` and ``b`` (each version's number, run, scenario,
    publisher and date), ``passage_km`` (``a``, ``b``, ``added``, ``removed``: km of
    Safe Passage segments), ``posts`` (one row per post number: where it moved, in metres;
    ``added``/``removed``), ``loops`` (one row per officer: length change in metres, the
    largest distance between the two loops in metres, streets before and after) and
    ``metrics`` (each coverage metric before, after and the change).

    Raises
    ------
    LookupError
        One of the versions does not exist.
    """
    versions = {p.version: p for p in session.scalars(
        select(Publication).where(Publication.area_slug == area, Publication.version.in_([first, second])))}
    if first not in versions or second not in versions:
        raise LookupError(f"no version {first} or {second} of {area}")
    pubs = (versions[first], versions[second])
    runs = tuple(session.get(Run, p.run_id) for p in pubs)
    layers: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for layer in ("posts", "loops", "passages"):
        pair = []
        for pub, run in zip(pubs, runs, strict=True):
            pair.append(layer_features(config, run, f"scenarios/{pub.scenario}/officers/plan-{layer}.geojson")
                        if run is not None else [])
        layers[layer] = (pair[0], pair[1])
    every_point = [pt for feats in layers["passages"] + layers["posts"] for f in feats
                   for pt in _line_points(f["geometry"])]
    lat0 = sum(p[1] for p in every_point) / len(every_point) if every_point else 34.0

    passages_a, passages_b = (_passage_keys(f) for f in layers["passages"])
    passage_km = {
        "a": round(sum(passages_a.values()) / 1000, 3), "b": round(sum(passages_b.values()) / 1000, 3),
        "added": round(sum(v for k, v in passages_b.items() if k not in passages_a) / 1000, 3),
        "removed": round(sum(v for k, v in passages_a.items() if k not in passages_b) / 1000, 3),
    }

    def by(features: list[dict[str, Any]], key: str) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for feature in features:
            value = (feature.get("properties") or {}).get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                out[int(value)] = feature
        return out

    posts_a, posts_b = (by(f, "rank") for f in layers["posts"])
    posts = []
    for number in sorted(set(posts_a) | set(posts_b)):
        before, after = posts_a.get(number), posts_b.get(number)
        row: dict[str, Any] = {"post": number,
                               "corner_a": clean_name((before or {}).get("properties", {}).get("corner")) or None,
                               "corner_b": clean_name((after or {}).get("properties", {}).get("corner")) or None}
        row["change"], row["moved_m"] = _change(before, after, lat0)
        posts.append(row)

    loops_a, loops_b = (by(f, "officer") for f in layers["loops"])
    loops = []
    for officer in sorted(set(loops_a) | set(loops_b)):
        before, after = loops_a.get(officer), loops_b.get(officer)
        props_a = (before or {}).get("properties", {})
        props_b = (after or {}).get("properties", {})
        row = {"officer": officer, "length_m_a": props_a.get("length_m"), "length_m_b": props_b.get("length_m"),
               "streets_a": clean_name(props_a.get("streets")) or None,
               "streets_b": clean_name(props_b.get("streets")) or None}
        row["change"], row["moved_m"] = _change(before, after, lat0)
        loops.append(row)

    metrics = []
    for key in sorted(set(pubs[0].metrics or {}) | set(pubs[1].metrics or {})):
        before_value, after_value = (pubs[0].metrics or {}).get(key), (pubs[1].metrics or {}).get(key)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (before_value, after_value))
        change = round(float(after_value) - float(before_value), 4) if numeric else None  # type: ignore[arg-type]
        if before_value != after_value or key in ("passage_km", "watched_km", "demand_share", "exposure_share"):
            metrics.append({"metric": key, "a": _rounded(before_value), "b": _rounded(after_value),
                            "change": change})

    def head(pub: Publication) -> dict[str, Any]:
        return {"version": pub.version, "run_id": pub.run_id, "scenario": pub.scenario,
                "published_by": pub.published_by, "published_at": aware(pub.published_at).isoformat()}

    return {"area": area, "a": head(pubs[0]), "b": head(pubs[1]), "passage_km": passage_km, "posts": posts,
            "loops": loops, "metrics": metrics}


# --------------------------------------------------------------------------- the community map

#: Layer names and marker classes that must never be in a community map (posts, loops, hot
#: segments, streets coloured by risk).
COMMUNITY_FORBIDDEN = ("Footbeat loops", "Posts and stops", "Hot segments", "Streets by risk",
                       "Street risk per 100 m", "class=\"pp-officer", "Officers</h4>")


def _forbidden_colours() -> tuple[str, ...]:
    from passages.maps import HOT_COLOR, OFFICER_COLORS, RISK_COLORS

    return tuple(c.lower() for c in (*RISK_COLORS, HOT_COLOR, *OFFICER_COLORS))


def community_map_problems(page: str) -> list[str]:
    """Return what a community map shows that it must not (empty if it is fit to publish).

    A community map has no officer posts or loops, no hot segments and no street risk: none
    of those layers' names (in any language of :mod:`passages.i18n`) and none of the risk,
    hot-segment or officer colours of :mod:`passages.maps`.
    """
    from passages.i18n import LANGUAGES, translator

    lowered = page.lower()
    # the layer names in every language the maps are drawn in
    names = dict.fromkeys(translator(lang)(name) for name in COMMUNITY_FORBIDDEN for lang in LANGUAGES)
    problems = [f"layer or marker {name!r}" for name in names if name.lower() in lowered]
    problems += [f"colour {colour}" for colour in _forbidden_colours() if colour in lowered]
    return problems

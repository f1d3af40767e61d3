"""What-if re-plans for planners: the inputs of a few areas kept warm in the web process.

A planner asks "what if the risk aversion were 3, the detour 30 %, four officers, an
afternoon window?" and wants the figures back at once, not a queued run.
:class:`WarmInputs` keeps the :class:`passages.plan.PlanInputs` of a few areas in memory
(street network and index, places, incidents: everything read from files), so a what-if
runs only the stages its parameters change (:meth:`PlanInputs.plan`,
:meth:`PlanInputs.cover`) and reads nothing.

The kept inputs are keyed by the area, its walking radius and the SHA-256 of every file
they were read from (a shapefile with its companions). Each what-if looks the files up
again (their size, times of change and inode; hashed again only when one of those moved),
so a file whose bytes changed is read again and never answered from memory; so are
inputs read on an earlier day (incidents dated after the day they were read are dropped
as dated in the future). At most ``whatif_areas`` areas are kept, the least recently
used dropped first; one area is read by one thread while the others asking for it wait
for it, and one re-plan at a time runs on one area's inputs (their lock).

:func:`what_if` checks a request (every key and value, with the ranges of
:data:`passages.scenarios.LIMITS`, as a scenario file's) and answers the figures a planner
compares (:func:`plan_figures`, :func:`coverage_figures`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from passages._errors import InputError

__all__ = ["COVERAGE_KEYS", "PLAN_KEYS", "WarmInputs", "coverage_figures", "plan_figures", "what_if"]


#: The plan keys a what-if may change: every plan parameter but the walking radius (another
#: radius is another street network: plan it as a run).
PLAN_KEYS: tuple[str, ...] = (
    "snap_m", "place_snap_m", "bandwidth_m", "own_share", "hot_share", "risk_lambda", "max_detour",
    "link_radius_m", "links_per_kind", "windows", "weekdays", "categories", "half_life_days", "lookback_days",
    "demand", "home_walk_m", "business_share", "concern_weight",
)

#: The coverage keys a what-if may give; with any of them the answer has the officers' figures.
COVERAGE_KEYS: tuple[str, ...] = ("officers", "mode", "cover_radius_m", "walk_kmh", "stop_minutes",
                                  "stops_per_loop", "laps")

#: Where a what-if's values come from, as error messages name it.
ORIGIN = "what-if"

#: Largest what-if request body accepted (bytes).
MAX_BODY_BYTES = 64 * 1024


# --------------------------------------------------------------------------- the files


_HASHES: dict[tuple[str, int, int, int, int], str] = {}
_HASHES_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file, remembered by path, size, times of change and inode.

    The change time (``st_ctime_ns``) moves with every write and cannot be set back, so a
    file rewritten with the same size and modification time is hashed again too.
    """
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
    with _HASHES_LOCK:
        known = _HASHES.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with _HASHES_LOCK:
        if len(_HASHES) > 4096:
            _HASHES.clear()
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _parts(path: Path) -> list[Path]:
    """The files behind one input path: the file, a shapefile's companions, a folder's files."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.suffix.lower() == ".shp":
        return sorted(p for p in path.parent.glob(path.stem + ".*") if p.is_file())
    return [path]


@functools.lru_cache(maxsize=1024)
def _name(part: str, root: str) -> str:
    """The name of an input file in the hashes: ``data/...`` under the data folder, else its path."""
    try:
        return "data/" + Path(part).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(part).as_posix()


def input_hashes(paths: Iterable[Path], data_dir: Path) -> dict[str, str]:
    """Return the SHA-256 of every file behind ``paths``, by name (``data/...`` under the data folder).

    Looked up at every what-if: a file already hashed costs one ``stat``.
    """
    return {_name(str(part), str(data_dir)): file_sha256(part) for path in paths for part in _parts(Path(path))}


# --------------------------------------------------------------------------- the cache


@dataclasses.dataclass(eq=False)
class _Entry:
    """One area's inputs, read once by the first thread that asks for them."""

    key: tuple[Any, ...]
    hashes: dict[str, str]
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    inputs: Any = None


class WarmInputs:
    """The inputs of at most ``size`` areas, kept in memory for what-if re-plans (thread-safe).

    Parameters
    ----------
    data_dir
        The shared data folder the areas' files are relative to.
    size
        Most areas kept (the least recently used is dropped first).
    concerns
        Gives an area's concerns file (the residents' reports planners accepted,
        :mod:`passages.web.reports`) or ``None``; the inputs are read with it, as the area's
        next run plans, and keyed on its digest like every other file.
    """

    def __init__(self, data_dir: Path, *, size: int = 2,
                 concerns: Callable[[str], Path | None] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.size = max(1, int(size))
        self.concerns = concerns
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # how many times inputs were read (for the tests and the answer)

    def areas(self) -> list[str]:
        """The areas whose inputs are in memory, least recently used first."""
        with self._lock:
            return [slug for slug, entry in self._entries.items() if entry.inputs is not None]

    def get(self, area: Any) -> tuple[Any, dict[str, str], bool]:
        """Return an area's :class:`PlanInputs`, their input hashes and whether they were read now.

        Raises
        ------
        InputError
            A file of the area is missing or unusable.
        PassagesError
            The area's inputs could not be read (no street or place in the area, Overpass
            not reachable for an area without a local network).
        """
        from passages.plan import input_files

        files = input_files(area, data_dir=self.data_dir, place_sources=self._place_sources(area))
        hashes = input_hashes(files.paths(), self.data_dir)
        key = (area.slug, area.radius_m, tuple(sorted(hashes.items())))
        with self._lock:
            entry = self._entries.get(area.slug)
            if entry is None or entry.key != key or (entry.inputs is not None and not entry.inputs.is_current()):
                entry = _Entry(key, hashes)  # a changed file or another day: read again
                self._entries[area.slug] = entry
            self._entries.move_to_end(area.slug)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        with entry.lock:
            if entry.inputs is not None:
                return entry.inputs, entry.hashes, False
            try:
                entry.inputs = self._read(area)
            except BaseException:
                with self._lock:
                    if self._entries.get(area.slug) is entry:
                        del self._entries[area.slug]
                raise
            return entry.inputs, entry.hashes, True

    def _place_sources(self, area: Any) -> dict[str, list[Path]] | None:
        """The area's concerns file as a place source, if it has one (else ``None``)."""
        concerns = self.concerns(area.slug) if self.concerns is not None else None
        return {"concerns": [concerns]} if concerns is not None else None

    def _read(self, area: Any) -> Any:
        """Read the area's inputs (with its concerns file: a file changed since the key was made
        gives another key at the next what-if, which reads them again)."""
        from passages.plan import load_plan_inputs

        inputs = load_plan_inputs(area, data_dir=self.data_dir, offline=area.offline,
                                  place_sources=self._place_sources(area))
        with self._lock:
            self.loads += 1
        return inputs

    def warm(self, slugs: Sequence[str]) -> threading.Thread:
        """Read the inputs of ``slugs`` in a background thread (errors are printed, not raised)."""
        def run() -> None:
            from passages._errors import PassagesError
            from passages.areas import get_area

            for slug in slugs:
                try:
                    self.get(get_area(slug))
                except (PassagesError, OSError) as exc:
                    print(f"what-if: the inputs of {slug!r} were not read ({exc})", flush=True)

        thread = threading.Thread(target=run, name="passages-whatif-warm", daemon=True)
        thread.start()
        return thread


# --------------------------------------------------------------------------- a request


@dataclasses.dataclass(frozen=True)
class WhatIf:
    """A checked what-if: the area, the plan parameters and, when officers are asked about, theirs."""

    area: Any
    params: Any
    coverage: Any
    changed: tuple[str, ...]


def parse(payload: Any) -> WhatIf:
    """Check a what-if request: ``{"area": slug, "parameters": {key: value}}``.

    Keys are :data:`PLAN_KEYS` and :data:`COVERAGE_KEYS`; those not given keep their
    defaults. Values are checked as a scenario file's (types, :data:`LIMITS` ranges,
    windows, a footbeat lap that fits).

    Raises
    ------
    InputError
        One line naming the key and the fix.
    """
    from passages.areas import get_area
    from passages.scenarios import CoverageParameters, PlanParameters

    if not isinstance(payload, Mapping):
        raise InputError("the body must be a JSON object", field="body",
                         fix='Send {"area": "downtown", "parameters": {"risk_lambda": 3}}.')
    unknown = sorted(str(k)[:40] for k in payload if k not in ("area", "parameters"))
    if unknown:
        raise InputError(f"unknown field {unknown[0]!r}", field=unknown[0], fix='Send "area" and "parameters" only.')
    slug = payload.get("area")
    if not isinstance(slug, str) or not slug:
        raise InputError("no area given", field="area", fix='Give the area\'s slug, such as "area": "downtown".')
    area = get_area(slug[:80])
    values = payload.get("parameters", {})
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise InputError("the parameters must be a JSON object", field="parameters",
                         fix='Give them as {"risk_lambda": 3, "officers": 4}.')
    known = (*PLAN_KEYS, *COVERAGE_KEYS)
    for key in values:
        if key == "radius_m":
            raise InputError("the walking radius cannot change in a what-if: another radius is another street "
                             "network", field="radius_m", fix="Plan the other radius as a run (POST /api/runs).")
        if key not in known:
            raise InputError("unknown key", path=ORIGIN, field=str(key)[:40],
                             fix="Known keys: " + ", ".join(known) + ".")
    params = PlanParameters.from_mapping({k: v for k, v in values.items() if k in PLAN_KEYS}, origin=ORIGIN)
    coverage_values = {k: v for k, v in values.items() if k in COVERAGE_KEYS}
    coverage = (CoverageParameters.from_mapping(coverage_values, origin=ORIGIN, windows=params.windows)
                if coverage_values else None)
    return WhatIf(area, params, coverage, tuple(str(k) for k in values))


def _number(value: Any, digits: int) -> Any:
    """A JSON-ready number, rounded; ``None`` for NaN or infinity."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    return value


def plan_figures(plan: Any) -> dict[str, Any]:
    """The figures of a plan a planner compares: km of passage, hot segments, routes, detour, exposure.

    The values equal those of :meth:`passages.plan.Plan.summary` where both give one
    (``passage_km``, ``risk.hot_segments``, ``routes.routed``, ``routes.mean_detour_ratio``,
    ``routes.exposure_shortest`` and ``exposure_safer``); ``exposure_reduction`` is the
    share of the shortest paths' risk exposure the safer paths avoid (0-1).
    """
    routes = plan.route_set.routes
    risk = plan.risk
    on_passage = plan.route_set.segment_demand > 0
    shortest = float(routes["shortest_exposure"].sum())
    safer = float(routes["safer_exposure"].sum())
    report = plan.incident_report
    return {
        "passage_km": round(float(plan.route_set.passage_km), 3),
        "hot_segments": int(risk.hot.sum()),
        "hot_on_passages": int((risk.hot & on_passage).sum()),
        "routes": len(routes),
        "routes_skipped": int(sum(plan.route_set.skipped.values())),
        "mean_detour_ratio": round(float(routes["detour_ratio"].mean()), 4) if len(routes) else None,
        "exposure_shortest": round(shortest, 3),
        "exposure_safer": round(safer, 3),
        "exposure_reduction": round(1.0 - safer / shortest, 4) if shortest > 0 else None,
        "incidents_used": int(report.used),
        "incident_weight": round(float(report.used_weight), 3),
    }


def coverage_figures(coverage: Any) -> dict[str, Any]:
    """The officers' figures: coverage metrics, the posts (corners) and the loops (length, time, stops)."""
    posts = coverage.posts
    return {
        "mode": coverage.mode,
        "officers": int(coverage.officers),
        "cover_radius_m": _number(coverage.radius_m, 1),
        "metrics": {key: _number(value, 4) for key, value in coverage.metrics.items()},
        "posts": [{"officer": int(row.officer), "rank": int(row.rank), "corner": str(row.corner),
                   "lon": round(float(row.lon), 6), "lat": round(float(row.lat), 6),
                   "value_share": _number(float(row.value_share), 4)}
                  for row in posts.itertuples(index=False)],
        "loops": [{"officer": int(beat.officer), "length_km": round(float(beat.length_m) / 1000.0, 3),
                   "minutes": round(float(beat.minutes), 1), "stops": len(beat.stops)}
                  for beat in coverage.loops],
    }


def what_if(warm: WarmInputs, payload: Any) -> dict[str, Any]:
    """Answer a what-if request (see :func:`parse`) from the warm inputs of its area.

    Raises
    ------
    InputError
        A bad request (one line naming the key).
    EmptyResultError
        The plan has no incident or no route with these parameters.
    PassagesError
        The area's inputs could not be read.
    """
    request = parse(payload)
    started = time.perf_counter()
    inputs, hashes, read_now = warm.get(request.area)
    planned = time.perf_counter()
    plan = inputs.plan(request.params)
    answer: dict[str, Any] = {
        "area": request.area.slug,
        "area_name": request.area.name,
        "changed": list(request.changed),
        "parameters": {k: v for k, v in request.params.as_dict().items() if k != "radius_m"},
        "figures": plan_figures(plan),
        "coverage": None,
        "notes": list(plan.notes),
    }
    if request.coverage is not None:
        answer["coverage_parameters"] = request.coverage.as_dict()
        answer["coverage"] = coverage_figures(inputs.cover(plan, request.coverage))
    done = time.perf_counter()
    answer["inputs"] = {"read_now": read_now, "read_seconds": round(planned - started, 3) if read_now else 0.0,
                        "input_hashes": hashes}
    answer["compute_ms"] = round((done - planned) * 1000.0, 1)
    return answer

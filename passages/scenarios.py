"""Plan parameters and scenario files (TOML).

A scenario file holds one or more named scenarios. Parameters at the top level, or in a
``[defaults]`` table, apply to every scenario; each ``[scenarios.NAME]`` table overrides
them for one scenario. A file with no ``[scenarios]`` table is one scenario named after
the file::

    # scenarios/school-walks.toml
    [defaults]
    risk_lambda = 2.0
    max_detour = 0.25

    [scenarios.morning]
    windows = ["07:00-08:30"]

    [scenarios.afternoon]
    windows = ["14:00-16:00"]
    bandwidth_m = 300

Every key is a field of :class:`PlanParameters` (how the plan is made) or of
:class:`CoverageParameters` (how officers cover it: ``officers``, ``mode``,
``cover_radius_m``, ``walk_kmh``, ``stop_minutes``, ``stops_per_loop``, ``laps``); officers
work during the scenario's ``windows``. An unknown key or an impossible value (0 officers,
a window ending before it starts, a negative radius, a window too short for a footbeat lap)
stops with a message naming the key and the file.

Every number must be finite and lie within its range in :data:`LIMITS` (for example
``officers`` from 1 to 50, ``radius_m`` from 100 to 5,000 m, ``risk_lambda`` from 0 to
100); at most :data:`MAX_WINDOWS` windows are given. A scenario's name (``NAME`` in
``[scenarios.NAME]``, or the file's stem) names its output files, so it must be a slug: 1
to 64 letters, digits, ``-`` or ``_``, starting with a letter or digit.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passages import settings
from passages._errors import InputError
from passages._inputs import check_text_file
from passages._names import slug
from passages.areas import RADIUS_RANGE_M
from passages.incidents import CATEGORIES, parse_window

#: Accepted range of every numeric parameter, inclusive: (lowest, highest, unit). Wide
#: enough for any Safe Passages site, narrow enough that no value makes a run last hours
#: or its numbers overflow. A CSP site has about a dozen officers on duty: 50 is the cap.
LIMITS: dict[str, tuple[float, float, str]] = {
    "radius_m": (*RADIUS_RANGE_M, "m"),
    "snap_m": (1.0, 500.0, "m"),
    "place_snap_m": (1.0, 2000.0, "m"),
    "bandwidth_m": (10.0, 5000.0, "m"),
    "hot_share": (0.0, 1.0, "share"),
    "own_share": (0.0, 1.0, "share"),
    "risk_lambda": (0.0, 100.0, "dimensionless"),
    "max_detour": (0.0, 5.0, "share of the shortest path"),
    "link_radius_m": (0.0, 5000.0, "m"),
    "home_walk_m": (100.0, 5000.0, "m"),
    "business_share": (0.0, 1.0, "share"),
    "concern_weight": (0.0, 20.0, "extra length per concern, as a share of the segment"),
    "links_per_kind": (0, 20, "links"),
    "half_life_days": (1.0, 36525.0, "days"),
    "lookback_days": (1.0, 36525.0, "days"),
    "officers": (1, 50, "officers"),
    "cover_radius_m": (10.0, 2000.0, "m"),
    "walk_kmh": (1.0, 10.0, "km/h"),
    "stop_minutes": (1.0, 120.0, "min"),
    "stops_per_loop": (1, 20, "stops"),
    "laps": (1, 20, "laps"),
}

#: Where walks to school start (see :mod:`passages.demand`): the site, the home blocks of
#: the study area, or both.
DEMAND_MODELS = ("site", "homes", "both")

#: Most time windows one scenario may give.
MAX_WINDOWS = 12

#: Longest text accepted for one window, mode or category (characters).
_MAX_TEXT = 40


def _out_of_range(key: str, value: Any, where: str, origin: str | Path) -> InputError | None:
    """Return the error of a value outside ``LIMITS[key]`` (or not finite), else ``None``."""
    low, high, unit = LIMITS[key]
    shown = f"{low:g} to {high:g}" + (f" {unit}" if unit else "")
    try:
        finite = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # a whole number beyond a float's range (JSON numbers have no limit)
        finite = False
    if not finite:
        given = repr(value) if len(repr(value)) <= _MAX_TEXT else repr(value)[:_MAX_TEXT] + "..."
        return InputError(f"{where}must be a finite number, got {given}", path=origin, field=key,
                          fix=f"Give {key} from {shown}.")
    if not low <= float(value) <= high:
        return InputError(f"{where}must be from {shown}, got {float(value):g}", path=origin, field=key,
                          fix=f"Give {key} from {shown}.")
    return None


def _default(name: str) -> Any:
    return field(default_factory=lambda: getattr(settings, name))


@dataclass(frozen=True)
class PlanParameters:
    """Every parameter of one plan; defaults come from :mod:`passages.settings`.

    Attributes
    ----------
    radius_m
        Walking radius around the site (metres); ``None`` keeps the area's own.
    snap_m
        Incidents farther than this from every street are not scored (metres).
    place_snap_m
        Places farther than this from the network are reported and not routed (metres).
    bandwidth_m
        Network kernel density bandwidth (metres).
    own_share
        Share of each incident's weight kept on its own street segment (0-1); the rest is
        spread with the kernel of ``bandwidth_m`` (see :mod:`passages.risk`).
    hot_share
        Share of segments flagged hot (0-1).
    risk_lambda
        Risk aversion of the safer path (dimensionless, >= 0).
    max_detour
        Largest extra length of a safer path, as a share of the shortest (>= 0).
    link_radius_m
        Schools are linked to transit, parks and libraries within this distance (metres).
    links_per_kind
        At most this many links of each kind per school.
    windows
        Time windows as ``"HH:MM-HH:MM"`` (local time).
    weekdays
        Days the windows apply to, 0 = Monday.
    categories
        Crime categories kept (``violent``, ``property``, ``other``, ``unknown``); empty
        keeps all.
    half_life_days
        Recency half-life of incident weights (days, > 0).
    lookback_days
        Incidents older than this before the newest are left out (days); ``None`` keeps
        all.
    demand
        Where walks to school start: ``"site"``, ``"homes"`` or ``"both"`` (see
        :mod:`passages.demand`); ``None`` takes the area's default
        (:func:`passages.demand.default_demand`: ``"both"`` for a CSP site).
    home_walk_m
        Longest walk from a home block to its school along the network (metres).
    business_share
        Share of an origin's walkers (site, home block, transit stop) who also walk to the
        nearest business corridor (0-1; :mod:`passages.businesses`).
    concern_weight
        How much the safer paths avoid the community's concerns (:mod:`passages.concerns`):
        each concern on a segment adds this share of its length to its routing weight; 0
        shows the concerns on the map only.
    """

    radius_m: float | None = None
    snap_m: float = _default("snap_m")
    place_snap_m: float = _default("place_snap_m")
    bandwidth_m: float = _default("bandwidth_m")
    own_share: float = _default("own_share")
    hot_share: float = _default("hot_share")
    risk_lambda: float = _default("risk_lambda")
    max_detour: float = _default("max_detour")
    link_radius_m: float = _default("link_radius_m")
    links_per_kind: int = _default("links_per_kind")
    windows: tuple[str, ...] = _default("windows")
    weekdays: tuple[int, ...] = _default("weekdays")
    categories: tuple[str, ...] = ()
    half_life_days: float = _default("half_life_days")
    lookback_days: float | None = None
    demand: str | None = None
    home_walk_m: float = _default("home_walk_m")
    business_share: float = _default("business_share")
    concern_weight: float = 0.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, origin: str | Path = "<parameters>",
                     table: str | None = None) -> PlanParameters:
        """Return parameters from a mapping, checking every key and value.

        Parameters
        ----------
        values
            Parameter names to values.
        origin
            The file the values come from, named in error messages.
        table
            The TOML table they come from, named in error messages.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        where = f"[{table}] " if table else ""
        converted: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise InputError(
                    f"{where}unknown key", path=origin, field=key,
                    fix="Known keys: " + ", ".join(sorted(known)) + ".",
                )
            converted[key] = _convert(key, value, origin, where)
        params = cls(**converted)
        params.check(origin=origin, table=table)
        return params

    def check(self, *, origin: str | Path = "<parameters>", table: str | None = None) -> None:
        """Raise :class:`InputError` naming the first impossible value."""
        where = f"[{table}] " if table else ""

        def bad(key: str, problem: str, fix: str) -> InputError:
            return InputError(f"{where}{problem}", path=origin, field=key, fix=fix)

        for key in ("radius_m", "snap_m", "place_snap_m", "bandwidth_m", "own_share", "hot_share", "risk_lambda",
                    "max_detour", "link_radius_m", "links_per_kind", "half_life_days", "lookback_days",
                    "home_walk_m", "business_share", "concern_weight"):
            value = getattr(self, key)
            if value is None and key in ("radius_m", "lookback_days"):
                continue
            error = _out_of_range(key, value, where, origin)
            if error is not None:
                raise error
        if self.demand is not None and self.demand not in DEMAND_MODELS:
            shown = repr(self.demand) if len(str(self.demand)) <= _MAX_TEXT else "of more than 40 characters"
            raise bad("demand", f"unknown demand model {shown}",
                      "Use " + ", ".join(f'"{m}"' for m in DEMAND_MODELS) + ".")
        if key_type_error := _sequence_problem(self.windows, str, "windows"):
            raise bad("windows", key_type_error, 'Give windows as a list such as ["07:00-08:30"].')
        if not self.windows:
            raise bad("windows", "no time window given", 'Give at least one window such as "07:00-08:30".')
        if len(self.windows) > MAX_WINDOWS:
            raise bad("windows", f"{len(self.windows)} windows given, more than {MAX_WINDOWS}",
                      f"Give at most {MAX_WINDOWS} time windows.")
        for window in self.windows:
            if len(window) > _MAX_TEXT:
                raise bad("windows", f"a window of {len(window)} characters", 'Write windows as "HH:MM-HH:MM".')
            try:
                parse_window(window)
            except InputError as exc:
                # Re-raised to name the scenario file, its table and the key "windows".
                if "ends before it starts" in exc.problem:
                    raise bad("windows", f"time window {window!r} ends before it starts",
                              "Give the start first; split a window that crosses midnight in two.") from None
                raise bad("windows", f"bad time window {window!r}",
                          'Write windows as "HH:MM-HH:MM", such as "07:00-08:30".') from None
        if problem := _sequence_problem(self.weekdays, int, "weekdays"):
            raise bad("weekdays", problem, "Use 0 (Monday) to 6 (Sunday).")
        for day in self.weekdays:
            if day not in range(7):
                raise bad("weekdays", f"{day} is not a weekday number", "Use 0 (Monday) to 6 (Sunday).")
        if len(self.weekdays) > 7:
            raise bad("weekdays", f"{len(self.weekdays)} days given, more than 7", "Give each day once.")
        if problem := _sequence_problem(self.categories, str, "categories"):
            raise bad("categories", problem, "Use " + ", ".join(CATEGORIES) + ".")
        for category in self.categories:
            if category not in CATEGORIES:
                shown = repr(category) if len(category) <= _MAX_TEXT else f"of {len(category)} characters"
                raise bad("categories", f"unknown category {shown}", "Use " + ", ".join(CATEGORIES) + ".")

    def replace(self, **changes: Any) -> PlanParameters:
        """Return a copy with some parameters changed (and checked)."""
        params = dataclasses.replace(self, **changes)
        params.check()
        return params

    def as_dict(self) -> dict[str, Any]:
        """Return the parameters as plain JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


#: How officers cover the passages: standing at posts, walking footbeat loops, or both
#: (half the officers, rounded up, at posts and the rest on loops).
COVERAGE_MODES = ("posts", "footbeats", "both")

#: Least walking time a footbeat lap keeps besides its stops (minutes).
MIN_LAP_WALK_MINUTES = 10.0


def window_minutes(windows: tuple[str, ...] | list[str]) -> list[int]:
    """Return the length of each time window ``"HH:MM-HH:MM"`` in minutes."""
    return [end - start for start, end in (parse_window(w) for w in windows)]


def lap_minutes(windows: tuple[str, ...] | list[str], *, laps: int, max_lap_minutes: float | None = None) -> float:
    """Return the time budget of one footbeat lap (minutes, walking and stops).

    A lap fits ``laps`` times into the shortest window, so an officer comes back to the
    worst corners within it, and is never longer than ``max_lap_minutes`` (default
    :data:`passages.settings.max_lap_minutes`), the revisit interval of the Koper curve.
    """
    cap = settings.max_lap_minutes if max_lap_minutes is None else max_lap_minutes
    return float(min(min(window_minutes(windows)) / laps, cap))


@dataclass(frozen=True)
class CoverageParameters:
    """How officers cover a plan's passages; defaults come from :mod:`passages.settings`.

    Officers work during the plan's time windows (:attr:`PlanParameters.windows`).

    Attributes
    ----------
    officers
        Number of officers on duty in each window (>= 1).
    mode
        ``"posts"`` (officers stand at corners), ``"footbeats"`` (officers walk closed
        loops with stops) or ``"both"`` (half the officers, rounded up, at posts; the rest
        on loops that avoid the posts' streets).
    cover_radius_m
        An officer watches the street segments whose midpoint lies within this distance
        along the network (metres, > 0).
    walk_kmh
        Walking pace of a footbeat (km/h, > 0).
    stop_minutes
        Length of each stop at a corner on a footbeat (minutes, > 0; the Koper curve
        asks for 10-15).
    stops_per_loop
        Stops per footbeat lap, at the worst corners on it (>= 1).
    laps
        A lap fits this many times into the shortest window, so that the officer comes
        back to its worst corners within the window (>= 1).
    """

    officers: int = _default("officers")
    mode: str = _default("coverage_mode")
    cover_radius_m: float = _default("cover_radius_m")
    walk_kmh: float = _default("walk_kmh")
    stop_minutes: float = _default("stop_minutes")
    stops_per_loop: int = _default("stops_per_loop")
    laps: int = _default("laps")

    def check(self, *, origin: str | Path = "<parameters>", table: str | None = None,
              windows: tuple[str, ...] | None = None) -> None:
        """Raise :class:`InputError` naming the first impossible value.

        With ``windows`` (already checked), also check that a footbeat lap fits its stops
        and :data:`MIN_LAP_WALK_MINUTES` of walking.
        """
        where = f"[{table}] " if table else ""

        def bad(key: str, problem: str, fix: str) -> InputError:
            return InputError(f"{where}{problem}", path=origin, field=key, fix=fix)

        for key in ("officers", "stops_per_loop", "laps"):
            value = getattr(self, key)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise bad(key, f"must be a whole number, got {value!r}", "Give a whole number of 1 or more.")
            if value < 1:
                raise bad(key, f"must be at least 1, got {value}", "Give a whole number of 1 or more.")
            error = _out_of_range(key, value, where, origin)
            if error is not None:
                raise error
        if not isinstance(self.mode, str) or self.mode not in COVERAGE_MODES:
            shown = repr(self.mode) if len(repr(self.mode)) <= _MAX_TEXT else "given"
            raise bad("mode", f"unknown mode {shown}", "Use " + ", ".join(map(repr, COVERAGE_MODES)) + ".")
        for key, fix in (("cover_radius_m", "Give the distance an officer watches in metres, such as 150."),
                         ("walk_kmh", "Give a walking pace such as 4.5."),
                         ("stop_minutes", "Give the minutes of a stop at a corner, such as 12.")):
            value = getattr(self, key)
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and value <= 0:
                raise bad(key, f"must be positive, got {value}", fix)
            error = _out_of_range(key, value, where, origin)
            if error is not None:
                raise error
        if windows and self.mode != "posts":
            lap = lap_minutes(windows, laps=self.laps)
            needed = self.stops_per_loop * self.stop_minutes + MIN_LAP_WALK_MINUTES
            if lap < needed:
                raise bad("stop_minutes",
                          f"a footbeat lap of {lap:g} min (shortest window / {self.laps} laps) cannot hold "
                          f"{self.stops_per_loop} stops of {self.stop_minutes:g} min and "
                          f"{MIN_LAP_WALK_MINUTES:g} min of walking",
                          "Give shorter stops, fewer stops_per_loop or laps, or a longer window.")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, origin: str | Path = "<parameters>",
                     table: str | None = None, windows: tuple[str, ...] | None = None) -> CoverageParameters:
        """Return coverage parameters from a mapping, checking every key and value as a scenario file's.

        Parameters
        ----------
        values
            Parameter names to values (whole numbers for ``officers``, ``stops_per_loop``
            and ``laps``).
        origin, table
            Where the values come from, named in error messages.
        windows
            The plan's time windows (already checked), to check that a footbeat lap fits.
        """
        where = f"[{table}] " if table else ""
        for key in values:
            if key not in _COVERAGE_KEYS:
                raise InputError(f"{where}unknown key", path=origin, field=key,
                                 fix="Known keys: " + ", ".join(sorted(_COVERAGE_KEYS)) + ".")
        params = cls(**{key: _convert(key, value, origin, where) for key, value in values.items()})
        params.check(origin=origin, table=table, windows=windows)
        return params

    def as_dict(self) -> dict[str, Any]:
        """Return the parameters as plain JSON-ready values."""
        return dataclasses.asdict(self)


_COVERAGE_KEYS = frozenset(f.name for f in dataclasses.fields(CoverageParameters))


def _sequence_problem(values: Any, kind: type, key: str) -> str | None:
    """Return what is wrong with a tuple of ``kind`` values (a parameter), or ``None``."""
    if not isinstance(values, tuple | list):
        return f"expected a list, got a {type(values).__name__}"
    if not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        return f"expected a list of {'strings' if kind is str else 'whole numbers'}"
    return None


def _convert(key: str, value: Any, origin: str | Path, where: str) -> Any:
    """Return one TOML value as the type of parameter ``key``, else raise InputError.

    Lists become tuples; numbers become floats, but for the counts (``officers``,
    ``links_per_kind``, ``stops_per_loop``, ``laps``), which must be whole numbers.
    Ranges are checked later, by the ``check`` methods (see :data:`LIMITS`).
    """
    def wrong(kind: str) -> InputError:
        shown = repr(value) if len(repr(value)) <= 60 else f"a {type(value).__name__}"
        return InputError(f"{where}expected {kind}, got {shown}", path=origin, field=key,
                          fix=f"Give {key} as {kind}.")

    if key in ("windows", "categories"):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong("a list of strings")
        return tuple(value)
    if key == "weekdays":
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise wrong("a list of day numbers")
        return tuple(value)
    if key in ("mode", "demand"):
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if key in ("links_per_kind", "officers", "stops_per_loop", "laps"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong("a whole number")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong("a number")
    try:
        return float(value)
    except OverflowError:  # a TOML integer beyond the range of a float
        raise wrong("a number") from None


@dataclass(frozen=True)
class Scenario:
    """A named set of plan parameters and of officer coverage parameters.

    Scenarios whose :attr:`params` are equal share one plan; only their coverage differs.
    """

    name: str
    params: PlanParameters
    coverage: CoverageParameters = field(default_factory=CoverageParameters)


def _scenario(name: str, values: Mapping[str, Any], origin: Path, table: str | None, *,
              whole: bool = True) -> Scenario:
    """Return one scenario from its merged keys, checking every key and value.

    ``whole=False`` (the ``[defaults]`` table) skips the checks that combine keys a
    scenario may still override (the footbeat lap against the windows).
    """
    where = f"[{table}] " if table else ""
    if table != "defaults":
        slug(name, field="scenario name" if table else "scenario name (the file's name)", path=origin)
    plan_values = {k: v for k, v in values.items() if k not in _COVERAGE_KEYS}
    coverage_values = {k: v for k, v in values.items() if k in _COVERAGE_KEYS}
    known = sorted({f.name for f in dataclasses.fields(PlanParameters)} | _COVERAGE_KEYS)
    for key in plan_values:
        if key not in known:
            raise InputError(f"{where}unknown key", path=origin, field=key, fix="Known keys: " + ", ".join(known) + ".")
    params = PlanParameters.from_mapping(plan_values, origin=origin, table=table)
    coverage = CoverageParameters(**{k: _convert(k, v, origin, where) for k, v in coverage_values.items()})
    coverage.check(origin=origin, table=table, windows=params.windows if whole else None)
    return Scenario(name, params, coverage)


def read_scenarios(path: str | Path) -> list[Scenario]:
    """Read the scenarios of a TOML file, in file order.

    Parameters
    ----------
    path
        A TOML scenario file (see the module's documentation).

    Returns
    -------
    list of Scenario
        One per ``[scenarios.NAME]`` table, or one named after the file's stem.

    Raises
    ------
    InputError
        One line naming the file (and the table and key): the file is missing, a folder,
        a device, binary, empty, not UTF-8 or not TOML; a table is unknown; a scenario
        name is not a slug (``[scenarios."../x"]``); a key is unknown; a value has the
        wrong type, is not finite or lies outside :data:`LIMITS`.
    """
    path = check_text_file(path, what="scenario file", fix="Give the path of a TOML scenario file.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"not valid TOML ({exc})", path=path, fix="Fix the TOML syntax.") from None
    scenarios_table = data.pop("scenarios", None)
    defaults_table = data.pop("defaults", {})
    if not isinstance(defaults_table, dict):
        raise InputError("defaults must be a table", path=path, field="defaults",
                         fix="Write [defaults] followed by its keys.")
    defaults = dict(defaults_table)
    for key, value in data.items():
        if isinstance(value, dict):
            raise InputError("unknown table", path=path, field=key,
                             fix="Use [defaults] and [scenarios.NAME] tables only.")
        defaults[key] = value
    _scenario("defaults", defaults, path, "defaults", whole=False)
    if scenarios_table is None:
        return [_scenario(path.stem, defaults, path, None)]
    if not isinstance(scenarios_table, dict) or not scenarios_table:
        raise InputError("no scenario in [scenarios]", path=path, field="scenarios",
                         fix="Add at least one [scenarios.NAME] table.")
    scenarios = []
    for name, values in scenarios_table.items():
        slug(name, field="scenario name", path=path)
        if not isinstance(values, dict):
            raise InputError("a scenario must be a table", path=path, field=f"scenarios.{name}",
                             fix=f"Write it as [scenarios.{name}] followed by its keys.")
        scenarios.append(_scenario(name, {**defaults, **values}, path, f"scenarios.{name}"))
    return scenarios

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
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passages import settings
from passages._errors import InputError
from passages.incidents import CATEGORIES, parse_window


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
    """

    radius_m: float | None = None
    snap_m: float = _default("snap_m")
    place_snap_m: float = _default("place_snap_m")
    bandwidth_m: float = _default("bandwidth_m")
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

        for key in ("snap_m", "place_snap_m", "bandwidth_m", "half_life_days"):
            if not getattr(self, key) > 0:
                raise bad(key, f"must be positive, got {getattr(self, key)}", "Give a positive number.")
        if self.radius_m is not None and not self.radius_m > 0:
            raise bad("radius_m", f"must be positive, got {self.radius_m}", "Give the walking radius in metres.")
        for key in ("risk_lambda", "max_detour", "link_radius_m"):
            if getattr(self, key) < 0:
                raise bad(key, f"must not be negative, got {getattr(self, key)}", "Give 0 or a positive number.")
        if not 0 <= self.hot_share <= 1:
            raise bad("hot_share", f"must be between 0 and 1, got {self.hot_share}", "Give a share such as 0.05.")
        if self.links_per_kind < 0:
            raise bad("links_per_kind", f"must not be negative, got {self.links_per_kind}", "Give 0 or more.")
        if self.lookback_days is not None and not self.lookback_days > 0:
            raise bad("lookback_days", f"must be positive, got {self.lookback_days}", "Give a number of days.")
        if not self.windows:
            raise bad("windows", "no time window given", 'Give at least one window such as "07:00-08:30".')
        for window in self.windows:
            try:
                parse_window(window)
            except InputError as exc:
                # Re-raised to name the scenario file, its table and the key "windows".
                if "ends before it starts" in exc.problem:
                    raise bad("windows", f"time window {window!r} ends before it starts",
                              "Give the start first; split a window that crosses midnight in two.") from None
                raise bad("windows", f"bad time window {window!r}",
                          'Write windows as "HH:MM-HH:MM", such as "07:00-08:30".') from None
        for day in self.weekdays:
            if day not in range(7):
                raise bad("weekdays", f"{day} is not a weekday number", "Use 0 (Monday) to 6 (Sunday).")
        for category in self.categories:
            if category not in CATEGORIES:
                raise bad("categories", f"unknown category {category!r}", "Use " + ", ".join(CATEGORIES) + ".")

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
            if getattr(self, key) < 1:
                raise bad(key, f"must be at least 1, got {getattr(self, key)}", "Give a whole number of 1 or more.")
        if self.mode not in COVERAGE_MODES:
            raise bad("mode", f"unknown mode {self.mode!r}", "Use " + ", ".join(map(repr, COVERAGE_MODES)) + ".")
        for key, fix in (("cover_radius_m", "Give the distance an officer watches in metres, such as 150."),
                         ("walk_kmh", "Give a walking pace such as 4.5."),
                         ("stop_minutes", "Give the minutes of a stop at a corner, such as 12.")):
            if not getattr(self, key) > 0:
                raise bad(key, f"must be positive, got {getattr(self, key)}", fix)
        if windows and self.mode != "posts":
            lap = lap_minutes(windows, laps=self.laps)
            needed = self.stops_per_loop * self.stop_minutes + MIN_LAP_WALK_MINUTES
            if lap < needed:
                raise bad("stop_minutes",
                          f"a footbeat lap of {lap:g} min (shortest window / {self.laps} laps) cannot hold "
                          f"{self.stops_per_loop} stops of {self.stop_minutes:g} min and "
                          f"{MIN_LAP_WALK_MINUTES:g} min of walking",
                          "Give shorter stops, fewer stops_per_loop or laps, or a longer window.")

    def as_dict(self) -> dict[str, Any]:
        """Return the parameters as plain JSON-ready values."""
        return dataclasses.asdict(self)


_COVERAGE_KEYS = frozenset(f.name for f in dataclasses.fields(CoverageParameters))


def _convert(key: str, value: Any, origin: str | Path, where: str) -> Any:
    def wrong(kind: str) -> InputError:
        return InputError(f"{where}expected {kind}, got {value!r}", path=origin, field=key,
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
    if key == "mode":
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if key in ("links_per_kind", "officers", "stops_per_loop", "laps"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong("a whole number")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong("a number")
    return float(value)


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

    Raises
    ------
    InputError
        The file is missing or not TOML, a key is unknown or a value impossible.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, fix="Check the path of the scenario file.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML ({exc})", path=path, fix="Fix the TOML syntax.") from None
    scenarios_table = data.pop("scenarios", None)
    defaults = dict(data.pop("defaults", {}) or {})
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
        if not isinstance(values, dict):
            raise InputError("a scenario must be a table", path=path, field=f"scenarios.{name}",
                             fix=f"Write it as [scenarios.{name}] followed by its keys.")
        scenarios.append(_scenario(name, {**defaults, **values}, path, f"scenarios.{name}"))
    return scenarios

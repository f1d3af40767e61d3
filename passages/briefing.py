"""Briefing sheets: one printable page per officer and time window.

Each page shows the officer's post or footbeat loop on a map of the streets around it
(passages in blue, hot segments dark red), the ordered stops with their street corners and
clock times, the schools whose walks the officer watches with their bell times (once per
school), and the worst street segments of the officer's own duty, then the nearest hot
segments off it (:func:`duty_segments`). The pages go into one PDF (US Letter, portrait)
and one PNG each; the PDF carries no creation date, so the same plan gives the same bytes.
On Linux the PDF is drawn in a forked child process while this one draws the PNG pages
(and an officer pack's map and GIS files): :data:`PARALLEL_PDF`. The map shows only the
streets that reach into it, each style drawn as one path (:func:`street_path`).

Bell times are not in any public data set used here: a planner gives them in a CSV
(:func:`read_bells`); a school without one says "bell times not on file". A row that
matches no school of the plan is reported once as a :class:`UserWarning` naming the file,
the row and the school as written (:func:`match_bells`).

The page's words come in English or Spanish (``lang``, from the gettext catalogues of
:mod:`passages.i18n`); the names of walked ways, corners and directions made from street
names ("across S Main St at E 5th St") are given in the page's language by
:func:`passages.street_names.localise`. Street, school and area names stay as the data
writes them, and warnings for the planner stay in English.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import math
import os
import re
import select
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Circle, PathPatch
from scipy.sparse.csgraph import dijkstra

from passages._errors import InputError
from passages._figures import encode_png, literal_text, render_rgba, street_path
from passages._io import OutputSet, writing_to
from passages.coverage import Coverage, CoverageModel
from passages.footbeats import Footbeat
from passages.i18n import N_, check_lang, translator
from passages.incidents import parse_window
from passages.maps import HOT_COLOR, PASSAGE_COLOR, officer_color
from passages.plan import Plan
from passages.street_names import UNNAMED_WAY, localise

if TYPE_CHECKING:
    from passages.compare import ScenarioRun

#: Page size (inches): US Letter, portrait.
PAGE_INCHES = (8.5, 11.0)

#: Resolution of the PNG pages (dots per inch).
PNG_DPI = 110

#: Street segments listed on a page: the duty's worst, then the nearest hot ones off it.
HOT_LISTED = 8

#: Farthest a hot segment off the duty may lie to be listed as nearby, along the streets (metres).
NEARBY_M = 1000.0

#: Margin around the officer's post or loop on the page map (metres).
MAP_MARGIN_M = 250.0

#: Columns of a bell-times CSV.
BELL_COLUMNS = ("school", "start", "end")

#: Font size of the page's lists (points) and the smallest it shrinks to for a long list.
LIST_FONT_PT = 8.2
LIST_FONT_MIN_PT = 6.5

#: How a duty covers a listed segment of its own, and how far a nearby one is
#: (:attr:`ListedSegment.how`, in English; translated where the page prints it).
WALKED = N_("walked")
WATCHED = N_("watched")
FROM_POST = N_("from the post")
FROM_STOP = N_("from stop {number}")
NEXT_TO_LOOP = N_("next to loop")
NEXT_TO_POST = N_("next to post")
AWAY = N_("{metres} m away")

#: How a segment is placed by its cross streets (:func:`street_label`).
BETWEEN = N_("{street}, {first} to {second}")
AT = N_("{street} at {cross}")


@dataclass(frozen=True)
class Assignment:
    """One officer's duty in one time window: a post or a footbeat loop."""

    officer: int
    window: str
    node: int | None = None
    corner: str = ""
    footbeat: Footbeat | None = None

    @property
    def kind(self) -> str:
        """``"post"`` or ``"footbeat"``."""
        return "footbeat" if self.footbeat is not None else "post"


def assignments(coverage: Coverage) -> list[Assignment]:
    """Return every officer's duty in every window, officers in order, then windows."""
    duties = []
    for window in coverage.windows:
        for post in coverage.posts.itertuples():
            duties.append(Assignment(int(post.officer), window, node=int(post.node), corner=str(post.corner)))
        for beat in coverage.loops:
            duties.append(Assignment(beat.officer, window, footbeat=beat))
    return sorted(duties, key=lambda d: (d.officer, coverage.windows.index(d.window)))


def _clock(minutes: float) -> str:
    minutes = round(minutes)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def stop_schedule(beat: Footbeat, window: str) -> pd.DataFrame:
    """Return the clock times of a footbeat's stops, lap after lap, within one window.

    Columns: ``lap``, ``stop``, ``corner``, ``arrive``, ``leave`` (``"HH:MM"`` local time).
    Laps start at the window's start and repeat while a whole lap fits in the window.
    """
    start, end = parse_window(window)
    laps = max(1, int((end - start) // max(beat.minutes, 1e-9)))
    rows = [
        {"lap": lap + 1, "stop": j, "corner": stop.corner,
         "arrive": _clock(start + lap * beat.minutes + stop.arrive_min),
         "leave": _clock(start + lap * beat.minutes + stop.leave_min)}
        for lap in range(laps) for j, stop in enumerate(beat.stops, start=1)
    ]
    return pd.DataFrame(rows, columns=["lap", "stop", "corner", "arrive", "leave"])


def watched_segments(duty: Assignment, model: CoverageModel) -> np.ndarray:
    """Return, per segment of the plan, whether this officer watches it."""
    if duty.footbeat is not None:
        return duty.footbeat.watched(model)
    assert duty.node is not None
    return model.watched_by([duty.node])


def schools_served(plan: Plan, watched: np.ndarray) -> list[tuple[str, str]]:
    """Return the schools whose home-school safer path crosses a watched segment.

    Returns
    -------
    list of (str, str)
        ``(place_id, name)`` of each school once, however many of its walks are watched,
        sorted by name then place id.
    """
    routes = plan.route_set.routes
    schools = {
        (str(route["dest_id"]), str(route["dest_name"]))
        for route, segments in zip(routes.to_dict("records"), plan.route_set.safer_segments, strict=True)
        if route["purpose"] == "home-school" and watched[segments].any()
    }
    return sorted(schools, key=lambda school: (school[1], school[0]))


@dataclass(frozen=True)
class ListedSegment:
    """A street segment on an officer's briefing list.

    Attributes
    ----------
    segment
        Segment index in the plan's :class:`~passages.streetindex.StreetIndex`.
    street
        The street as the index names it (``"unnamed way"`` when it gives no name) and the
        cross streets at its ends: ``"Main Street, 5th Street to 6th Street"``.
    risk_per_100m
        Risk of the segment (incident weight per 100 m of street).
    hot
        Whether it is one of the area's hot segments.
    on_duty
        Whether the duty walks it or watches it; ``False`` for a nearby hot segment.
    how
        ``"walked"``, ``"from stop N"`` or ``"from the post"`` on duty; ``"<d> m away"``
        (``"next to loop"``, ``"next to post"`` when it touches the duty) for a nearby segment.
    distance_m
        Distance from the duty along the streets (metres): 0 on duty, else from the
        nearest node of the post or loop to the nearer end of the segment.
    """

    segment: int
    street: str
    risk_per_100m: float
    hot: bool
    on_duty: bool
    how: str
    distance_m: float


def street_label(plan: Plan, segment: int, *, lang: str | None = None) -> str:
    """Return a segment's street and the cross streets at its ends, for an officer to find it.

    The street is :attr:`StreetIndex.segment_name` as the index gives it; only an empty
    name becomes ``"unnamed way"``. A cross street is the first (alphabetically) OSM street
    name among the other segments meeting at an end that the street's own name does not
    already hold: ``"Main Street, 5th Street to 6th Street"``, ``"Main Street at 5th
    Street"`` when one end has none (or both ends the same), the street alone when neither
    has. A name that places the way already (a crossing, "alley off ...", where the index
    says so) is given alone.

    ``lang`` (default English) gives the words in another language: "Main Street, de 5th
    Street a 6th Street", "cruce de S Main St en E 5th St" (:func:`localise`); the street
    names stay as they are.
    """
    _ = translator(lang)
    index = plan.index
    name = str(index.segment_name[segment]) or UNNAMED_WAY
    shown = localise(name, lang)
    # a crossing or a way named off a street ("across X at Y", "alley off X") is placed already
    source = getattr(index, "segment_name_source", None)
    if source is not None and str(source[segment]) in ("crossing", "near"):
        return shown
    # cross streets by their OSM names: a sidewalk named after its street is no cross street
    osm_names = getattr(index, "segment_osm_name", index.segment_name)
    ends = []
    for node in (index.segment_u[segment], index.segment_v[segment]):
        meeting = index.node_segments(np.array([node], dtype=np.int64))
        names = sorted({part for other in meeting if int(other) != segment
                        for part in str(osm_names[other]).split(" / ")
                        if part and part not in name and name not in part})
        ends.append(names[0] if names else "")
    first, second = ends
    if first and second and first != second:
        return _(BETWEEN).format(street=shown, first=first, second=second)
    return _(AT).format(street=shown, cross=first or second) if first or second else shown


def duty_segments(plan: Plan, model: CoverageModel, duty: Assignment, *, listed: int = HOT_LISTED,
                  nearby_m: float = NEARBY_M) -> list[ListedSegment]:
    """Return the street segments an officer's briefing lists: their duty's worst, then hot ones nearby.

    The rows are chosen in three passes until ``listed`` are taken: the hot segments the
    duty walks or watches (:func:`watched_segments`), worst risk per 100 m first; then the
    hot segments off the duty nearest to it along the streets (within ``nearby_m``); then
    the duty's other segments with incidents on record, worst first (a quiet block on the
    loop tells an officer less than a hot one round the corner). Segments whose
    :func:`street_label` is already listed are skipped (a street and its sidewalks carry
    one name). The rows come back as the page prints them: the duty's own worst first,
    then the nearby ones nearest first.

    Parameters
    ----------
    plan
        The plan (its street index and risk are read).
    model
        The coverage model of the plan (watch radius in metres).
    duty
        The officer's post or footbeat loop in one window.
    listed
        Most segments returned.
    nearby_m
        Farthest a nearby hot segment may be from the post, or from any node of the loop,
        along the streets (metres).

    Returns
    -------
    list of ListedSegment
        At most ``listed`` rows: the duty's own (``on_duty``) first, then the nearby ones.
    """
    index = plan.index
    risk = np.asarray(plan.risk.risk_per_100m, dtype=float)
    hot = np.asarray(plan.risk.hot, dtype=bool)
    watched = watched_segments(duty, model)
    nodes = duty.footbeat.nodes if duty.footbeat is not None else np.array([duty.node], dtype=np.int64)
    sources = np.unique(index.node_positions(np.asarray(nodes, dtype=np.int64)))
    reach = dijkstra(index.weighted(index.segment_length).matrix, directed=False, indices=sources,
                     limit=nearby_m, min_only=True)
    distance = np.minimum(reach[index.segment_u], reach[index.segment_v])

    def worst_first(chosen: np.ndarray) -> np.ndarray:
        return chosen[np.lexsort((chosen, -risk[chosen]))]

    near = np.flatnonzero(hot & ~watched & np.isfinite(distance))
    passes = [(worst_first(np.flatnonzero(watched & hot)), True),
              (near[np.lexsort((near, -risk[near], distance[near]))], False),
              (worst_first(np.flatnonzero(watched & ~hot & (risk > 0))), True)]
    rows: list[ListedSegment] = []
    labels: set[str] = set()
    for candidates, on_duty in passes:
        for segment in candidates.tolist():
            if len(rows) >= listed:
                break
            label = street_label(plan, segment)
            if label in labels:
                continue
            labels.add(label)
            how = _how_watched(duty, model, segment) if on_duty else _how_far(duty, float(distance[segment]))
            rows.append(ListedSegment(segment, label, float(risk[segment]), bool(hot[segment]), on_duty, how,
                                      0.0 if on_duty else float(distance[segment])))
    mine = sorted((row for row in rows if row.on_duty), key=lambda row: (-row.risk_per_100m, row.segment))
    return mine + [row for row in rows if not row.on_duty]


def _how_far(duty: Assignment, distance_m: float) -> str:
    """Return how far a nearby segment is from the duty: "next to post/loop" or "<d> m away"."""
    if round(distance_m) == 0:
        return NEXT_TO_LOOP if duty.footbeat is not None else NEXT_TO_POST
    return AWAY.format(metres=f"{distance_m:.0f}")


def _how_watched(duty: Assignment, model: CoverageModel, segment: int) -> str:
    """Return how a duty covers one of its segments: walked, or watched from which stop or post."""
    if duty.footbeat is None:
        return FROM_POST
    if segment in set(duty.footbeat.segments.tolist()):
        return WALKED
    for number, stop in enumerate(duty.footbeat.stops, start=1):
        if model.watched_by([stop.node])[segment]:
            return FROM_STOP.format(number=number)
    return WATCHED


def _how_text(how: str, _: Callable[[str], str]) -> str:
    """Return :attr:`ListedSegment.how` (English) in the language of ``_``."""
    for template, pattern in ((FROM_STOP, r"from stop (?P<number>\d+)"), (AWAY, r"(?P<metres>\d+) m away")):
        match = re.fullmatch(pattern, how)
        if match is not None:
            return _(template).format(**match.groupdict())
    return _(how)


#: Largest bell-times CSV read (bytes): a row per school of a whole district is ~100 kB.
MAX_BELL_BYTES = 5_000_000


def _bell_minutes(text: str, *, path: Path, row: int, field: str) -> int:
    """Return a bell time ``HH:MM`` as minutes after midnight (``24:00`` is 1440), else raise."""
    fix = "Write times as HH:MM (24-hour clock, 00:00 to 24:00), the end after the start."
    hours_text, _, minutes_text = text.partition(":")
    if not (text.isascii() and hours_text.isdigit() and minutes_text.isdigit()
            and len(hours_text) in (1, 2) and len(minutes_text) == 2):
        shown = repr(text) if len(text) <= 20 else f"a text of {len(text)} characters"
        raise InputError(f"bad {field} time {shown}" if text else f"no {field} time", path=path, row=row,
                         field=field, fix=fix)
    hours, minutes = int(hours_text), int(minutes_text)
    if minutes > 59 or hours * 60 + minutes > 24 * 60:
        raise InputError(f"{field} time {text!r} is not a time of day", path=path, row=row, field=field,
                         fix=fix)
    return hours * 60 + minutes


class BellTimes(dict[str, tuple[str, str]]):
    """Bell times (``"HH:MM"`` start and end) by school name or place id, and where they were read.

    A plain dict with two more attributes, so that a row matching no school can be
    reported by file and row (:func:`match_bells`).

    Attributes
    ----------
    path
        The bell-times file, or ``None`` for times given in code.
    rows
        The data row (1-based; the header is row 0) of each school in the file.
    """

    def __init__(self, times: Mapping[str, tuple[str, str]] | None = None, *, path: str | Path | None = None,
                 rows: Mapping[str, int] | None = None) -> None:
        super().__init__(times or {})
        self.path = Path(path) if path is not None else None
        self.rows = dict(rows or {})


def read_bells(path: str | Path) -> BellTimes:
    """Read school bell times from a CSV with the columns ``school``, ``start``, ``end``.

    ``school`` is a school's name (as on the map) or its place id; it passes
    :func:`passages._names.clean_name` (white space runs become one space; bidi overrides
    and zero-width characters go). Times are ``HH:MM`` on a 24-hour clock (``24:00`` ends
    the day); the end comes after the start. Column names are matched case-blind.

    Parameters
    ----------
    path
        The bell-times CSV, UTF-8, at most :data:`MAX_BELL_BYTES` bytes.

    Returns
    -------
    BellTimes
        Start and end times (``"HH:MM"``) by school name or place id, with the file and the
        row of each school.

    Raises
    ------
    InputError
        One line naming the file (and the row and field): the file is missing, a folder,
        a device, empty, binary, too large, not UTF-8 or not CSV; a column is missing; a
        school name is blank, holds control characters or is given twice; a time is
        missing, not ``HH:MM``, not a time of day (``25:99``), or the end is not after the
        start.
    """
    import unicodedata

    from passages._inputs import check_text_file
    from passages._names import clean_name

    fix = "Give a CSV with the columns school, start, end (times as HH:MM)."
    path = check_text_file(path, what="bell-times file", fix=fix)
    if path.stat().st_size > MAX_BELL_BYTES:
        raise InputError(f"is larger than {MAX_BELL_BYTES:,} bytes", path=path, fix=fix)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"not a readable CSV ({type(exc).__name__}: {exc})", path=path, fix=fix) from None
    table.columns = [str(c).strip().casefold() for c in table.columns]
    for column in BELL_COLUMNS:
        if column not in table.columns:
            raise InputError(f"required column {column!r} is missing", path=path, field=column,
                             fix="The bell-times CSV needs the columns school, start, end.")
    if table.columns.duplicated().any():
        raise InputError("a column is given twice", path=path, field=str(table.columns[table.columns.duplicated()][0]),
                         fix=fix)
    bells: dict[str, tuple[str, str]] = {}
    rows: dict[str, int] = {}
    for row_number, (raw_school, raw_start, raw_end) in enumerate(
            zip(table["school"], table["start"], table["end"], strict=True), start=1):
        raw_school = str(raw_school)
        if any(unicodedata.category(ch) == "Cc" for ch in raw_school):
            raise InputError("school name holds control characters", path=path, row=row_number,
                             field="school", fix="Write the school's name as plain text.")
        school = clean_name(raw_school)
        if not school:
            raise InputError("no school name", path=path, row=row_number, field="school",
                             fix="Give the school's name (as on the map) or its place id.")
        if school in rows:
            raise InputError(f"school {school!r} is listed twice (rows {rows[school]} and {row_number})",
                             path=path, row=row_number, field="school", fix="List each school once.")
        start, end = str(raw_start).strip(), str(raw_end).strip()
        first = _bell_minutes(start, path=path, row=row_number, field="start")
        last = _bell_minutes(end, path=path, row=row_number, field="end")
        if first >= 24 * 60 or last <= first:
            raise InputError(f"bad bell times {start!r}-{end!r}: the end is not after the start", path=path,
                             row=row_number, field="end", fix="Write times as HH:MM, the end after the start.")
        rows[school] = row_number
        bells[school] = (start, end)
    return BellTimes(bells, path=path, rows=rows)


def match_bells(bells: Mapping[str, tuple[str, str]] | None, places: pd.DataFrame, *,
                area_name: str = "") -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Return the bell times of the plan's schools by place id, and a note per row that matches none.

    A row names a school by place id, or by name (white space and letter case aside).
    A school named by two rows keeps the row by place id, else the first row, and a note
    says so: each school has one pair of bell times.

    Parameters
    ----------
    bells
        Bell times by school name or place id (:func:`read_bells`; a plain mapping counts
        its rows in order and names no file).
    places
        The plan's places: ``place_id``, ``kind`` and ``name``; rows of kind ``"school"``
        are matched.
    area_name
        The area's name, for the notes.

    Returns
    -------
    times : dict of str to (str, str)
        Start and end times (``"HH:MM"``) by school place id.
    notes : list of str
        One line per row that matches no school (the file, the row, the school as
        written and the fix), and per school named twice.
    """
    from passages._names import clean_name

    if not bells:
        return {}, []
    path = bells.path if isinstance(bells, BellTimes) else None
    where = str(path) if path is not None else "bell times"
    rows = bells.rows if isinstance(bells, BellTimes) else {}
    schools = places[places["kind"] == "school"] if "kind" in places.columns else places
    names = {str(place_id): clean_name(name) for place_id, name in zip(schools["place_id"], schools["name"],
                                                                       strict=True)}
    by_name: dict[str, list[str]] = {}
    for place_id, name in names.items():
        by_name.setdefault(name.casefold(), []).append(place_id)
    times: dict[str, tuple[str, str]] = {}
    source: dict[str, tuple[int, bool]] = {}  # place id -> (row, named by id)
    notes: list[str] = []
    for order, (school, pair) in enumerate(bells.items(), start=1):
        row = rows.get(school, order)
        by_id = school in names
        matched = [school] if by_id else by_name.get(clean_name(school).casefold(), [])
        if not matched:
            close = difflib.get_close_matches(clean_name(school).casefold(), list(by_name), n=1, cutoff=0.6)
            hint = f" Did you mean {names[by_name[close[0]][0]]!r}?" if close else ""
            notes.append(f"{where}, row {row}: school {school!r} matches no school in the plan"
                         + (f" of {area_name}" if area_name else "") + "; its bell times are not printed. "
                         "Check the spelling against the schools in the plan (layer 'places' of plan.gpkg, "
                         f"kind 'school'), or give the school's place id.{hint}")
            continue
        for place_id in matched:
            if place_id in source:
                first_row, first_by_id = source[place_id]
                if by_id and not first_by_id:
                    times[place_id], source[place_id] = pair, (row, True)
                kept = row if by_id and not first_by_id else first_row
                notes.append(f"{where}, rows {first_row} and {row}: both give the bell times of "
                             f"{names[place_id]!r} ({place_id}); row {kept} is used. List each school once.")
                continue
            times[place_id], source[place_id] = pair, (row, by_id)
    return times, notes


def _bell_text(place_id: str, times: Mapping[str, tuple[str, str]], _: Callable[[str], str] = str) -> str:
    """Return a school's bell times as the page prints them, or that they are not on file."""
    pair = times.get(place_id)
    return _("bells {start} / {end}").format(start=pair[0], end=pair[1]) if pair else _("bell times not on file")


#: How the page map draws the streets, the Safe Passages and the hot segments (widths in points),
#: as :class:`matplotlib.patches.PathPatch` keywords: butt ends and round joins, above the
#: post's circle (z-order 2, that of lines).
STREET_STYLE = {"fill": False, "edgecolor": "#bdbdbd", "linewidth": 0.8, "capstyle": "butt", "joinstyle": "round",
                "zorder": 2}
PASSAGE_STYLE = {**STREET_STYLE, "edgecolor": PASSAGE_COLOR, "linewidth": 3.5, "alpha": 0.8}
HOT_STYLE = {**STREET_STYLE, "edgecolor": HOT_COLOR, "linewidth": 2.0}


def _draw_map(ax: Axes, plan: Plan, duty: Assignment, model: CoverageModel, _: Callable[[str], str]) -> None:
    """Draw the streets around the duty, the passages, the hot segments and the post or loop."""
    index = plan.index
    if duty.footbeat is not None:
        xmin, ymin, xmax, ymax = duty.footbeat.geometry.bounds
    else:
        assert duty.node is not None
        x, y = index.node_xy[index.node_positions([duty.node])[0]]
        reach = model.radius_m
        xmin, ymin, xmax, ymax = x - reach, y - reach, x + reach, y + reach
    xmin, ymin, xmax, ymax = xmin - MAP_MARGIN_M, ymin - MAP_MARGIN_M, xmax + MAP_MARGIN_M, ymax + MAP_MARGIN_M
    # only the segments that reach into the map (a thick line's half width past its edge counts)
    pad = 0.02 * max(xmax - xmin, ymax - ymin)
    shown = np.sort(index.segment_tree.query(shapely.box(xmin - pad, ymin - pad, xmax + pad, ymax + pad)))
    demand = np.asarray(plan.route_set.segment_demand)[shown]
    hot = np.asarray(plan.risk.hot, dtype=bool)[shown]
    for chosen, style in ((shown, STREET_STYLE), (shown[demand > 0], PASSAGE_STYLE), (shown[hot], HOT_STYLE)):
        if len(chosen):  # add_artist: the limits are set below, add_patch would measure every vertex in Python
            ax.add_artist(PathPatch(street_path(index.segment_geometry[chosen]), **style))
    colour = officer_color(duty.officer)
    if duty.footbeat is not None:
        coords = np.asarray(duty.footbeat.geometry.coords)
        ax.plot(coords[:, 0], coords[:, 1], color=colour, linewidth=2.5, linestyle=(0, (6, 3)))
        for j, stop in enumerate(duty.footbeat.stops, start=1):
            sx, sy = index.node_xy[index.node_positions([stop.node])[0]]
            ax.annotate(str(j), (sx, sy), ha="center", va="center", fontsize=9, fontweight="bold", color="white",
                        bbox={"boxstyle": "circle,pad=0.25", "fc": colour, "ec": "white"})
        start = index.node_xy[index.node_positions([duty.footbeat.start_node])[0]]
        ax.annotate(_("start"), start, xytext=(6, -12), textcoords="offset points", fontsize=8, color=colour)
    else:
        assert duty.node is not None
        x, y = index.node_xy[index.node_positions([duty.node])[0]]
        ax.add_patch(Circle((x, y), model.radius_m, fill=False, ec=colour, ls="--", lw=1.2))
        ax.annotate("P", (x, y), ha="center", va="center", fontsize=10, fontweight="bold", color="white",
                    bbox={"boxstyle": "square,pad=0.3", "fc": colour, "ec": "white"})
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.plot([xmin + 40, xmin + 240], [ymin + 40, ymin + 40], color="black", linewidth=2)
    ax.text(xmin + 140, ymin + 55, "200 m", ha="center", fontsize=7)


def briefing_page(plan: Plan, coverage: Coverage, model: CoverageModel, duty: Assignment, *,
                  bells: Mapping[str, tuple[str, str]] | None = None, scenario: str = "",
                  lang: str | None = None) -> Figure:
    """Return the briefing page of one officer in one window as a matplotlib Figure, its words in ``lang``.

    ``lang`` is a code of :data:`passages.i18n.LANGUAGES` (default English). The names of
    ways and corners made from street names read in that language too
    (:func:`passages.street_names.localise`); the names from the data do not change.
    """
    _ = translator(check_lang(lang))
    bells = bells or {}
    fig = Figure(figsize=PAGE_INCHES)
    officer = _("Officer {officer}").format(officer=duty.officer)
    head = f"{officer} · {duty.window} · {plan.area.name}"
    fig.text(0.06, 0.965, head, fontsize=15, fontweight="bold", va="top")
    if duty.footbeat is not None:
        beat = duty.footbeat
        template = (_("Footbeat: {km} km lap, {minutes} min with 1 stop of about {stop} min")
                    if len(beat.stops) == 1
                    else _("Footbeat: {km} km lap, {minutes} min with {stops} stops of about {stop} min"))
        what = template.format(
            km=f"{beat.length_m / 1000:.2f}", minutes=f"{beat.minutes:.0f}", stops=len(beat.stops),
            stop=f"{_stop_minutes(beat):.0f}")
    else:
        what = _("Post at {corner}: stand and watch {metres} m along the streets").format(
            corner=localise(duty.corner, lang), metres=f"{model.radius_m:.0f}")
    if scenario:
        what += "   " + _("(scenario {scenario})").format(scenario=scenario)
    fig.text(0.06, 0.94, what, fontsize=_fit_size(what, fontsize=9.5, width_in=0.88 * PAGE_INCHES[0]), va="top")
    ax = fig.add_axes((0.06, 0.47, 0.88, 0.45))
    _draw_map(ax, plan, duty, model, _)

    lines: list[str | tuple[str, int]] = []
    if duty.footbeat is not None:
        legs = " > ".join(f"{localise(name, lang)} ({metres:.0f} m)" for name, metres in duty.footbeat.legs())
        lines.append(_("Route of one lap: {legs}").format(legs=legs))
        schedule = stop_schedule(duty.footbeat, duty.window)
        lines.append(_("Stops (arrive-leave):"))
        for lap, rows in schedule.groupby("lap"):
            stops = "; ".join(f"{r.stop}. {localise(str(r.corner), lang)} {r.arrive}-{r.leave}"
                              for r in rows.itertuples())
            lines.append("  " + _("lap {lap}: {stops}").format(lap=lap, stops=stops))
    else:
        lines.append(_("Post: {corner}, whole window {window}.").format(corner=localise(duty.corner, lang),
                                                                         window=duty.window))
    watched = watched_segments(duty, model)
    times, _notes = match_bells(bells, plan.places)
    served = schools_served(plan, watched)
    repeated = {name for name, count in Counter(name for _id, name in served).items() if count > 1}
    schools = "; ".join(f"{name}{f' [{place_id}]' if name in repeated else ''} ({_bell_text(place_id, times, _)})"
                        for place_id, name in served) if served else _("none on this duty")
    lines.append(_("Schools whose walks you watch: {schools}").format(schools=schools))
    listed = duty_segments(plan, model, duty)
    streets = [row.street if _ is str else street_label(plan, row.segment, lang=lang) for row in listed]
    lines.extend(_segment_lines(listed, streets, _))
    fontsize, wrapped = _fit(lines, width_in=0.88 * PAGE_INCHES[0], height_in=0.40 * PAGE_INCHES[1])
    fig.text(0.06, 0.45, "\n".join(wrapped), fontsize=fontsize, va="top", family="DejaVu Sans Mono")
    footer = _("Streets © OpenStreetMap contributors (ODbL). Risk from LAPD open data, aggregated to streets. "
               "Blue: Safe Passages; dark red: hot segments.")
    fig.text(0.06, 0.02, _footer_lines(footer, fontsize=7.0, width_in=0.88 * PAGE_INCHES[0]), fontsize=7,
             color="#4d4d4d")
    return fig


def _segment_lines(rows: Sequence[ListedSegment], streets: Sequence[str],
                   _: Callable[[str], str] = str) -> list[str | tuple[str, int]]:
    """Return the page's list of street segments: the duty's own, then the nearby hot ones.

    ``streets`` holds the street of each row as the page prints it (:func:`street_label`
    in the page's language); ``_`` translates the words. A row comes with the column at
    which its street starts, for :func:`_wrap`.
    """
    lines: list[str | tuple[str, int]] = [_(
        "Worst street segments on your duty, then hot ones nearby (risk per 100 m of street; hot = one of "
        "the area's hot segments, dark red on the map):")]
    on_duty, nearby, hot = _("on your duty"), _("nearby"), _("hot")
    hows = [_how_text(row.how, _) for row in rows]
    where_width = max(12, len(on_duty), len(nearby))
    how_width = max([12, *(len(how) for how in hows)])
    if not any(row.on_duty for row in rows):
        none = _("none with incidents on record")
        lines.append(f"  {on_duty:<{where_width}}  {none}")
    for row, how, street in zip(rows, hows, streets, strict=True):
        where = on_duty if row.on_duty else nearby
        columns = f"  {where:<{where_width}}  {how:<{how_width}} {row.risk_per_100m:7.2f} " \
                  f"{hot if row.hot else ' ' * len(hot)}  "
        lines.append((columns + street, len(columns)))  # a long street wraps under itself
    return lines


def _stop_minutes(beat: Footbeat) -> float:
    return float(np.mean([s.leave_min - s.arrive_min for s in beat.stops])) if beat.stops else 0.0


def _text_width_in(text: str, *, fontsize: float, family: str) -> float:
    """Return the width of one line of text in a font (inches), as the PDF draws it."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width_pt, _height, _descent = TextToPath().get_text_width_height_descent(
        text, FontProperties(family=family, size=fontsize), ismath=False)
    return float(width_pt) / 72


def _columns(fontsize: float, width_in: float) -> int:
    """Return how many characters of the monospaced list font fit in a width (inches), PNG and PDF alike.

    A character's width is rounded up to whole pixels at :data:`PNG_DPI`: the PNG renderer
    places each glyph on a whole pixel, so a line is wider there than in the PDF.
    """
    char_px = math.ceil(_text_width_in("x", fontsize=fontsize, family="DejaVu Sans Mono") * PNG_DPI)
    return max(20, int(width_in * PNG_DPI // char_px))


def _fit_size(text: str, *, fontsize: float, width_in: float, smallest: float = 7.0) -> float:
    """Return the font size (points, at most ``fontsize``) at which one line of text fits a width (inches).

    A tenth of the width is kept spare for the PNG renderer's whole-pixel glyphs; a line
    too long even at ``smallest`` gets that size.
    """
    wide = _text_width_in(text, fontsize=fontsize, family="DejaVu Sans")
    if wide <= 0.9 * width_in:
        return fontsize
    return max(smallest, math.floor(fontsize * 0.9 * width_in / wide * 2) / 2)


def _footer_lines(text: str, *, fontsize: float, width_in: float) -> str:
    """Return the footer on one line, or on two split between sentences when one is too wide.

    A tenth of the width is kept spare for the PNG renderer's whole-pixel glyphs.
    """
    if _text_width_in(text, fontsize=fontsize, family="DejaVu Sans") <= 0.9 * width_in:
        return text
    sentences = re.split(r"(?<=\.) ", text)
    cut = min(range(1, len(sentences)), key=lambda i: abs(len(" ".join(sentences[:i])) - len(text) / 2),
              default=0)
    if not cut:
        return text
    return " ".join(sentences[:cut]) + "\n" + " ".join(sentences[cut:])


def _fit(lines: Sequence[str | tuple[str, int]], *, width_in: float, height_in: float) -> tuple[float, list[str]]:
    """Return the font size (points) and the wrapped lines of a list that fit in a box (inches).

    The list keeps :data:`LIST_FONT_PT` when it fits, else shrinks by half points down to
    :data:`LIST_FONT_MIN_PT` (a long footbeat schedule, the longer Spanish words).
    """
    fontsize = LIST_FONT_PT
    while True:
        wrapped = _wrap(lines, _columns(fontsize, width_in))
        # a line of DejaVu Sans Mono takes about 1.27 times the font size (matplotlib's spacing 1.2 of its height)
        if len(wrapped) * 1.3 * fontsize / 72 <= height_in or fontsize <= LIST_FONT_MIN_PT:
            return fontsize, wrapped
        fontsize = max(LIST_FONT_MIN_PT, fontsize - 0.5)


def _wrap(lines: Sequence[str | tuple[str, int]], width: int) -> list[str]:
    """Return the lines wrapped at ``width`` characters, a wrapped line's rest indented under it.

    A line given as ``(text, column)`` continues at that column (a table row under its
    last column); a plain line two spaces in from its own start. A number and its unit
    ("226 m") and a name with a hyphen ("Special Education-Infant") are never split.
    """
    import textwrap

    out: list[str] = []
    for item in lines:
        line, hang = item if isinstance(item, tuple) else (item, len(item) - len(item.lstrip()) + 2)
        kept = re.sub(r"(?<=\d) (?=k?m\b)", "\u00a0", line)  # textwrap breaks at ASCII spaces only
        wrapped = textwrap.wrap(kept, width, subsequent_indent=" " * min(hang, width // 2),
                                break_on_hyphens=False) or [""]
        out.extend(part.replace("\u00a0", " ") for part in wrapped)
    return out


#: Draw a briefing's PDF in a forked child process while this one draws the PNG pages (and,
#: for an officer pack, the map, GPX and GIS files): on Linux with two or more processors,
#: where the PDF's text is about a third of ``brief``'s time. Elsewhere (fork without exec is
#: unsafe with macOS's system libraries), or when False, everything is drawn in this process.
PARALLEL_PDF = True


#: How long :meth:`_PdfJob.result` waits for a child: this many times as long as the child had
#: run before it was asked for the PDF (the PNG pages take about half the PDF's time), and
#: at least :data:`PDF_CHILD_MIN_WAIT_S` seconds.
PDF_CHILD_PATIENCE = 10.0
PDF_CHILD_MIN_WAIT_S = 60.0


def _processors() -> int:
    """Return how many processors this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _end_with_parent(parent: int) -> None:
    """Ask Linux to kill this (child) process when its parent ``parent`` dies; end now if it has.

    A ``brief`` killed while its child draws a PDF leaves no process behind.
    """
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took hold
        os._exit(1)


class _PdfJob:
    """A briefing PDF being made: in a forked child process, or here when its bytes are asked for.

    The child makes the PDF from its copy of this process's memory, writes the bytes to a
    pipe and ends without running anything of this process's (``os._exit``: no exit
    handlers, no flushing of buffers it shares). If it cannot be started, or it fails,
    the PDF is made here when :meth:`result` is called (so an error is raised here, as
    without the child). Use as a context manager: leaving it ends a child still running.
    """

    def __init__(self, make: Callable[[], bytes]) -> None:
        self._make = make
        self._pid: int | None = None
        self._read: int | None = None
        self._started = time.monotonic()
        if not (PARALLEL_PDF and sys.platform.startswith("linux") and _processors() > 1):
            return
        read, write = os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child: make the PDF, hand it over, end
            status = 1
            try:
                os.close(read)
                _end_with_parent(parent)
                warnings.simplefilter("ignore")  # this process reports what the pages raise
                view = memoryview(make())
                while view:
                    view = view[os.write(write, view):]
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        self._pid, self._read, self._started = pid, read, time.monotonic()

    def __enter__(self) -> _PdfJob:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pid is not None:  # left early: stop the child
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap()

    def _reap(self) -> int:
        """Close the pipe, wait for the child and return its exit code."""
        assert self._pid is not None and self._read is not None
        os.close(self._read)
        _pid, status = os.waitpid(self._pid, 0)
        self._pid = self._read = None
        return os.waitstatus_to_exitcode(status)

    def result(self) -> bytes:
        """Return the PDF's bytes, waiting for the child if it makes them.

        A child that has not finished :data:`PDF_CHILD_PATIENCE` times as long after this
        call as it had run before it (at least :data:`PDF_CHILD_MIN_WAIT_S`) is taken for
        stuck: it is ended and the PDF made here.
        """
        if self._pid is None or self._read is None:
            return self._make()
        now = time.monotonic()
        deadline = now + max(PDF_CHILD_MIN_WAIT_S, PDF_CHILD_PATIENCE * (now - self._started))
        chunks: list[bytes] = []
        while (wait := deadline - time.monotonic()) > 0 and select.select([self._read], [], [], wait)[0]:
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                data = b"".join(chunks)
                if self._reap() == 0 and data.startswith(b"%PDF"):
                    return data
                return self._make()
            chunks.append(chunk)
        self.__exit__()  # stuck: end it
        return self._make()


def briefing_pages(plan: Plan, coverage: Coverage, model: CoverageModel, *,
                   bells: Mapping[str, tuple[str, str]] | None = None, scenario: str = "",
                   lang: str | None = None) -> list[tuple[Assignment, Figure]]:
    """Return every officer's page of every window (:func:`briefing_page`), in :func:`assignments` order.

    Names from files are drawn literally (no mathtext); ``lang`` as for :func:`briefing_page`.
    """
    with literal_text():
        return [(duty, briefing_page(plan, coverage, model, duty, bells=bells, scenario=scenario, lang=lang))
                for duty in assignments(coverage)]


def pdf_bytes(figures: Sequence[Figure]) -> bytes:
    """Return the figures as the pages of one PDF, with no creation date (the same pages give the same bytes)."""
    buffer = io.BytesIO()
    with literal_text(), PdfPages(buffer, metadata={"Creator": "passages", "Producer": "passages",
                                                    "CreationDate": None}) as pdf:
        for figure in figures:
            pdf.savefig(figure)
    return buffer.getvalue()


def briefing_pdf(plan: Plan, coverage: Coverage, model: CoverageModel, *,
                 bells: Mapping[str, tuple[str, str]] | None = None, scenario: str = "",
                 lang: str | None = None) -> bytes:
    """Return the briefing PDF: one US Letter page per officer and window (:func:`briefing_pages`)."""
    return pdf_bytes([figure for _duty, figure in briefing_pages(plan, coverage, model, bells=bells,
                                                                 scenario=scenario, lang=check_lang(lang))])


def write_briefings(plan: Plan, coverage: Coverage, model: CoverageModel, out_dir: str | Path | OutputSet, *,
                    name: str = "briefing", bells: Mapping[str, tuple[str, str]] | None = None,
                    scenario: str = "", lang: str | None = None) -> dict[str, Path]:
    """Write ``<name>.pdf`` (one page per officer and window) and ``<name>-<officer>-<HHMM>.png`` pages.

    ``out_dir`` is a folder or an open :class:`~passages._io.OutputSet`. Names from files
    are drawn literally (no mathtext). The pages' words are in ``lang`` (``"en"`` or
    ``"es"``; default English). Returns the paths written: ``"pdf"`` and one key per PNG
    page. The PDF is drawn while the PNG pages are (:data:`PARALLEL_PDF`).

    Warns
    -----
    UserWarning
        Once per row of ``bells`` that matches no school of the plan, and per school given
        twice (:func:`match_bells`): the file, the row, the school as written and the fix.
    """
    lang = check_lang(lang)
    for note in match_bells(bells, plan.places, area_name=plan.area.name)[1]:
        warnings.warn(note, UserWarning, stacklevel=2)
    pages = briefing_pages(plan, coverage, model, bells=bells, scenario=scenario, lang=lang)
    with _PdfJob(functools.partial(pdf_bytes, [figure for _duty, figure in pages])) as pdf:
        return _write_pages(pages, out_dir, pdf, name=name)


def _write_pages(pages: Sequence[tuple[Assignment, Figure]], out_dir: str | Path | OutputSet, pdf: _PdfJob, *,
                 name: str) -> dict[str, Path]:
    """Draw the PNG pages, then write them and the PDF ``pdf`` makes (see :func:`write_briefings`)."""
    pngs: dict[str, Future[bytes]] = {}
    # each PNG is compressed in a thread (Pillow lets Python run meanwhile) while the next page is drawn
    with literal_text(), ThreadPoolExecutor(max_workers=1) as encoder:
        for duty, figure in pages:
            pixels = render_rgba(figure, dpi=PNG_DPI)
            pngs[f"{name}-officer{duty.officer}-{duty.window.split('-')[0].replace(':', '')}.png"] = encoder.submit(
                functools.partial(encode_png, pixels, dpi=PNG_DPI, metadata={"Software": None}))
    with writing_to(out_dir, Path(out_dir) if not isinstance(out_dir, OutputSet) else out_dir.target,
                    owns=(f"{name}.pdf", f"{name}-officer*.png")) as out:
        written = {"pdf": out.write(f"{name}.pdf", pdf.result())}
        for file_name, png in pngs.items():
            written[file_name] = out.write(file_name, png.result())
    return written


def write_officer_pack(run: ScenarioRun, out_dir: str | Path | OutputSet, *,
                       bells: Mapping[str, tuple[str, str]] | None = None, lang: str | None = None) -> dict[str, Path]:
    """Write everything the officers of one scenario take out, and the planner's GIS files.

    In ``out_dir`` (a folder the pack owns whole, or an open
    :class:`~passages._io.OutputSet`): ``officers.html`` (the self-contained map with the
    posts and loops), ``briefing.pdf`` and its PNG pages, ``officer<N>.gpx`` per footbeat
    and ``posts.gpx``, and ``plan.gpkg`` (every plan layer plus ``posts`` and ``loops``)
    with its GeoJSON layers and the CSV route sheet. The pack is one output set: a run cut
    short leaves the previous pack whole. The map's and the briefing sheets' words are in
    ``lang`` (``"en"`` or ``"es"``; default English); the GPX and GIS files keep the data's
    names. Returns the paths written by name.
    """
    from passages.compare import scenario_map_html
    from passages.export import coverage_gpx, coverage_layers, export_plan

    lang = check_lang(lang)
    plan, scenario = run.plan, run.scenario.name
    for note in match_bells(bells, plan.places, area_name=plan.area.name)[1]:
        warnings.warn(note, UserWarning, stacklevel=2)
    pages = briefing_pages(plan, run.coverage, run.model, bells=bells, scenario=scenario, lang=lang)
    # the PDF, the slowest part, is drawn (in a child process) while the rest is made here
    with _PdfJob(functools.partial(pdf_bytes, [figure for _duty, figure in pages])) as pdf:
        documents = coverage_gpx(run.coverage, plan.index, area_name=plan.area.name)
        page = scenario_map_html(run, lang=lang).encode("utf-8")
        folder = out_dir.target if isinstance(out_dir, OutputSet) else Path(out_dir)
        with writing_to(out_dir, folder, owns=("*",)) as out:
            written = {"map": out.write("officers.html", page)}
            exported = export_plan(plan, out, extra_layers=coverage_layers(run.coverage))
            written.update(_write_pages(pages, out, pdf, name="briefing"))
            for name, document in documents.items():
                written[f"{name}.gpx"] = out.write(f"{name}.gpx", document)
            written.update(exported)
    return written

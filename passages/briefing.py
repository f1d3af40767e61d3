"""Briefing sheets: one printable page per officer and time window.

Each page shows the officer's post or footbeat loop on a map of the streets around it
(passages in blue, hot segments dark red), the ordered stops with their street corners and
clock times, the schools whose walks the officer watches with their bell times, and the
area's worst (hot) segments. The pages go into one PDF (US Letter, portrait) and one PNG
each; the PDF carries no creation date, so the same plan gives the same bytes.

Bell times are not in any public data set used here: a planner gives them in a CSV
(:func:`read_bells`); a school without one says "bell times not on file".
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from passages._errors import InputError
from passages._figures import literal_text
from passages._io import OutputSet, writing_to
from passages.coverage import Coverage, CoverageModel
from passages.footbeats import Footbeat
from passages.incidents import parse_window
from passages.maps import HOT_COLOR, PASSAGE_COLOR, officer_color
from passages.plan import Plan

if TYPE_CHECKING:
    from passages.compare import ScenarioRun

#: Page size (inches): US Letter, portrait.
PAGE_INCHES = (8.5, 11.0)

#: Resolution of the PNG pages (dots per inch).
PNG_DPI = 110

#: Hot segments listed on a page.
HOT_LISTED = 8

#: Margin around the officer's post or loop on the page map (metres).
MAP_MARGIN_M = 250.0

#: Columns of a bell-times CSV.
BELL_COLUMNS = ("school", "start", "end")


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


def schools_served(plan: Plan, watched: np.ndarray) -> list[str]:
    """Return the schools whose home-school safer path crosses a watched segment."""
    routes = plan.route_set.routes
    names = [
        str(route["dest_name"])
        for route, segments in zip(routes.to_dict("records"), plan.route_set.safer_segments, strict=True)
        if route["purpose"] == "home-school" and watched[segments].any()
    ]
    return sorted(set(names))


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


def read_bells(path: str | Path) -> dict[str, tuple[str, str]]:
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
    dict of str to (str, str)
        Start and end times (``"HH:MM"``) by school name or place id.

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
    return bells


def _bell_text(school: str, bells: Mapping[str, tuple[str, str]], ids: Mapping[str, str]) -> str:
    times = bells.get(school) or bells.get(ids.get(school, ""))
    return f"bells {times[0]} / {times[1]}" if times else "bell times not on file"


def _draw_map(ax: plt.Axes, plan: Plan, duty: Assignment, model: CoverageModel) -> None:
    index = plan.index
    if duty.footbeat is not None:
        xmin, ymin, xmax, ymax = duty.footbeat.geometry.bounds
    else:
        assert duty.node is not None
        x, y = index.node_xy[index.node_positions([duty.node])[0]]
        reach = model.radius_m
        xmin, ymin, xmax, ymax = x - reach, y - reach, x + reach, y + reach
    xmin, ymin, xmax, ymax = xmin - MAP_MARGIN_M, ymin - MAP_MARGIN_M, xmax + MAP_MARGIN_M, ymax + MAP_MARGIN_M
    lines = [np.asarray(g.coords) for g in index.segment_geometry]
    demand = plan.route_set.segment_demand
    hot = plan.risk.hot
    ax.add_collection(LineCollection(lines, colors="#bdbdbd", linewidths=0.8))
    ax.add_collection(LineCollection([lines[i] for i in np.flatnonzero(demand > 0)], colors=PASSAGE_COLOR,
                                     linewidths=3.5, alpha=0.8))
    ax.add_collection(LineCollection([lines[i] for i in np.flatnonzero(hot)], colors=HOT_COLOR, linewidths=2.0))
    colour = officer_color(duty.officer)
    if duty.footbeat is not None:
        coords = np.asarray(duty.footbeat.geometry.coords)
        ax.plot(coords[:, 0], coords[:, 1], color=colour, linewidth=2.5, linestyle=(0, (6, 3)))
        for j, stop in enumerate(duty.footbeat.stops, start=1):
            sx, sy = index.node_xy[index.node_positions([stop.node])[0]]
            ax.annotate(str(j), (sx, sy), ha="center", va="center", fontsize=9, fontweight="bold", color="white",
                        bbox={"boxstyle": "circle,pad=0.25", "fc": colour, "ec": "white"})
        start = index.node_xy[index.node_positions([duty.footbeat.start_node])[0]]
        ax.annotate("start", start, xytext=(6, -12), textcoords="offset points", fontsize=8, color=colour)
    else:
        assert duty.node is not None
        x, y = index.node_xy[index.node_positions([duty.node])[0]]
        ax.add_patch(plt.Circle((x, y), model.radius_m, fill=False, ec=colour, ls="--", lw=1.2))
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
                  bells: Mapping[str, tuple[str, str]] | None = None, scenario: str = "") -> Figure:
    """Return the briefing page of one officer in one window as a matplotlib Figure."""
    bells = bells or {}
    fig = plt.figure(figsize=PAGE_INCHES)
    head = f"Officer {duty.officer} · {duty.window} · {plan.area.name}"
    fig.text(0.06, 0.965, head, fontsize=15, fontweight="bold", va="top")
    what = (f"Footbeat: {duty.footbeat.length_m / 1000:.2f} km lap, {duty.footbeat.minutes:.0f} min with "
            f"{len(duty.footbeat.stops)} stops of about {_stop_minutes(duty.footbeat):.0f} min"
            if duty.footbeat is not None else f"Post at {duty.corner}: stand and watch {model.radius_m:.0f} m "
            "along the streets")
    fig.text(0.06, 0.94, what + (f"   (scenario {scenario})" if scenario else ""), fontsize=9.5, va="top")
    ax = fig.add_axes((0.06, 0.47, 0.88, 0.45))
    _draw_map(ax, plan, duty, model)

    lines: list[str] = []
    if duty.footbeat is not None:
        legs = " > ".join(f"{name} ({metres:.0f} m)" for name, metres in duty.footbeat.legs())
        lines.append("Route of one lap: " + legs)
        schedule = stop_schedule(duty.footbeat, duty.window)
        lines.append("Stops (arrive-leave):")
        for lap, rows in schedule.groupby("lap"):
            lines.append(f"  lap {lap}: " + "; ".join(f"{r.stop}. {r.corner} {r.arrive}-{r.leave}"
                                                      for r in rows.itertuples()))
    else:
        lines.append(f"Post: {duty.corner}, whole window {duty.window}.")
    watched = watched_segments(duty, model)
    ids = dict(zip(plan.places["name"].astype(str), plan.places["place_id"].astype(str), strict=False))
    served = schools_served(plan, watched)
    lines.append("Schools whose walks you watch: " + ("; ".join(
        f"{s} ({_bell_text(s, bells, ids)})" for s in served) if served else "none on this duty"))
    hot = np.flatnonzero(plan.risk.hot)
    order = hot[np.argsort(-plan.risk.risk_per_100m[hot], kind="stable")][:HOT_LISTED]
    lines.append("Worst street segments in the area (risk per 100 m; * = on your duty):")
    for i in order:
        name = plan.index.segment_name[i] or "unnamed way"
        lines.append(f"  {'*' if watched[i] else ' '} {name}: {plan.risk.risk_per_100m[i]:.2f}")
    fig.text(0.06, 0.45, "\n".join(_wrap(lines, 110)), fontsize=8.2, va="top", family="DejaVu Sans Mono")
    fig.text(0.06, 0.02, "Streets © OpenStreetMap contributors (ODbL). Risk from LAPD open data, aggregated to "
             "streets. Blue: Safe Passages; dark red: hot segments.", fontsize=7, color="#4d4d4d")
    return fig


def _stop_minutes(beat: Footbeat) -> float:
    return float(np.mean([s.leave_min - s.arrive_min for s in beat.stops])) if beat.stops else 0.0


def _wrap(lines: Sequence[str], width: int) -> list[str]:
    import textwrap

    out: list[str] = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        out.extend(textwrap.wrap(line, width, subsequent_indent=indent) or [""])
    return out


def write_briefings(plan: Plan, coverage: Coverage, model: CoverageModel, out_dir: str | Path | OutputSet, *,
                    name: str = "briefing", bells: Mapping[str, tuple[str, str]] | None = None,
                    scenario: str = "") -> dict[str, Path]:
    """Write ``<name>.pdf`` (one page per officer and window) and ``<name>-<officer>-<HHMM>.png`` pages.

    ``out_dir`` is a folder or an open :class:`~passages._io.OutputSet`. Names from files
    are drawn literally (no mathtext). Returns the paths written: ``"pdf"`` and one key per
    PNG page.
    """
    pdf_buffer = io.BytesIO()
    pages: dict[str, bytes] = {}
    with literal_text(), PdfPages(pdf_buffer, metadata={"Creator": "passages", "Producer": "passages",
                                                        "CreationDate": None}) as pdf:
        for duty in assignments(coverage):
            fig = briefing_page(plan, coverage, model, duty, bells=bells, scenario=scenario)
            pdf.savefig(fig)
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
            pages[f"{name}-officer{duty.officer}-{duty.window.split('-')[0].replace(':', '')}.png"] = png.getvalue()
            plt.close(fig)
    with writing_to(out_dir, Path(out_dir) if not isinstance(out_dir, OutputSet) else out_dir.target,
                    owns=(f"{name}.pdf", f"{name}-officer*.png")) as out:
        written = {"pdf": out.write(f"{name}.pdf", pdf_buffer.getvalue())}
        for file_name, data in pages.items():
            written[file_name] = out.write(file_name, data)
    return written


def write_officer_pack(run: ScenarioRun, out_dir: str | Path | OutputSet, *,
                       bells: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Path]:
    """Write everything the officers of one scenario take out, and the planner's GIS files.

    In ``out_dir`` (a folder the pack owns whole, or an open
    :class:`~passages._io.OutputSet`): ``officers.html`` (the self-contained map with the
    posts and loops), ``briefing.pdf`` and its PNG pages, ``officer<N>.gpx`` per footbeat
    and ``posts.gpx``, and ``plan.gpkg`` (every plan layer plus ``posts`` and ``loops``)
    with its GeoJSON layers and the CSV route sheet. The pack is one output set: a run cut
    short leaves the previous pack whole. Returns the paths written by name.
    """
    from passages.compare import scenario_map_html
    from passages.export import coverage_gpx, coverage_layers, export_plan

    documents = coverage_gpx(run.coverage, run.plan.index, area_name=run.plan.area.name)
    page = scenario_map_html(run).encode("utf-8")
    folder = out_dir.target if isinstance(out_dir, OutputSet) else Path(out_dir)
    with writing_to(out_dir, folder, owns=("*",)) as out:
        written = {"map": out.write("officers.html", page)}
        written.update(write_briefings(run.plan, run.coverage, run.model, out, bells=bells,
                                       scenario=run.scenario.name))
        for name, document in documents.items():
            written[f"{name}.gpx"] = out.write(f"{name}.gpx", document)
        written.update(export_plan(run.plan, out, extra_layers=coverage_layers(run.coverage)))
    return written

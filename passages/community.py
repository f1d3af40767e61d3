"""The community's own outputs: a one-page flyer (PDF and PNG) and an HTML map, in English or Spanish.

For parents and residents: the Safe Passages to each school, with the named streets they
follow and the schools, parks and stops they lead to. Nothing here says where officers
stand or walk, and nothing shows street risk: a community output is drawn from the
:class:`~passages.plan.Plan` only (posts and loops live in a separate
:class:`~passages.coverage.Coverage`), and draws no risk column, hot segment or officer
layer. The words come from the gettext catalogues (:mod:`passages.i18n`).

Files (:func:`community_files`): ``community-<lang>.pdf`` (US Letter, portrait),
``community-<lang>.png`` and ``community-<lang>.html`` (self-contained, works offline).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from passages._figures import literal_text
from passages._io import OutputSet, writing_to
from passages._names import slug
from passages.i18n import check_lang, translator
from passages.plan import Plan
from passages.street_names import abbreviate

#: Page size (inches): US Letter, portrait.
PAGE_INCHES = (8.5, 11.0)

#: Resolution of the PNG (dots per inch).
PNG_DPI = 110

#: Colour of the Safe Passages (the same blue as the planners' maps) and of other streets.
PASSAGE_COLOR = "#1f6feb"
STREET_COLOR = "#c8c8c8"

#: Markers of the places on the flyer: kind -> (marker, colour).
PLACE_STYLE = {"school": ("s", "#6a3d9a"), "park": ("^", "#238b45"), "library": ("D", "#b15928"),
               "transit": ("o", "#525252")}

#: At most this many streets and places are listed under the map.
MAX_LISTED = 14

#: A street is labelled on the flyer's map along its longest passage run of at least this length (m).
LABEL_MIN_M = 120.0


def community_files(lang: str) -> tuple[str, str, str]:
    """Return the file names of the community outputs in one language: PDF, PNG, HTML."""
    code = check_lang(lang)
    return f"community-{code}.pdf", f"community-{code}.png", f"community-{code}.html"


@dataclass(frozen=True)
class CommunityContent:
    """What the flyer and the map say, in one language (no officer or risk information).

    Attributes
    ----------
    lang
        Language code.
    title, subtitle, intro, streets_heading, places_heading, footer
        The page's words.
    streets
        The streets of the Safe Passages (short names), longest walked first, with metres.
    places
        The places the passages lead to but transit stops: (kind label, name), schools first.
    legend
        (label, colour, marker) of each thing drawn; marker ``None`` for a line.
    more
        "and {n} more" (for lists cut short).
    stops
        How many transit stops the passages lead to, as a sentence ("" when none).
    """

    lang: str
    title: str
    subtitle: str
    intro: str
    streets_heading: str
    places_heading: str
    footer: str
    streets: tuple[tuple[str, float], ...]
    places: tuple[tuple[str, str], ...]
    legend: tuple[tuple[str, str, str | None], ...]
    more: str = "and {n} more"
    stops: str = ""


def passage_streets(plan: Plan) -> list[tuple[str, float]]:
    """Return the named streets of the Safe Passages (short names), longest walked first, with metres.

    Only real street names count (OSM names, and sidewalks by their street); crossings and
    paths described by what they are ("alley off ...") are not streets to list.
    """
    index = plan.index
    on = np.flatnonzero(plan.route_set.segment_demand > 0)
    named = on[np.isin(index.segment_name_source[on], ["osm", "beside"])]
    metres: dict[str, float] = {}
    for segment in named.tolist():
        for street in str(index.segment_name[segment]).split(" / "):
            if street:
                short = abbreviate(street)
                metres[short] = metres.get(short, 0.0) + float(index.segment_length[segment])
    return sorted(metres.items(), key=lambda item: (-item[1], item[0]))


def community_content(plan: Plan, *, lang: str = "en") -> CommunityContent:
    """Return the words of the community flyer and map of a plan, in ``lang``."""
    _ = translator(lang)
    routes = plan.route_set.routes
    served = set(routes["dest_id"]) | set(routes["origin_id"])
    places = plan.places[plan.places["place_id"].isin(served)]
    kind_words = {"school": _("School"), "park": _("Park"), "library": _("Library"), "transit": _("Transit stop")}
    order = {kind: i for i, kind in enumerate(kind_words)}
    listed = sorted(((str(k), str(n)) for k, n in zip(places["kind"], places["name"], strict=True) if k in kind_words),
                    key=lambda item: (order[item[0]], item[1]))
    stops = sum(1 for kind, _name in listed if kind == "transit")
    legend = ((_("Safe Passage"), PASSAGE_COLOR, None), (_("Other streets"), STREET_COLOR, None),
              *((kind_words[k], PLACE_STYLE[k][1], PLACE_STYLE[k][0]) for k in kind_words
                if any(p[0] == k for p in listed)))
    return CommunityContent(
        lang=check_lang(lang),
        title=_("Safe Passages"),
        subtitle=plan.area.name,
        intro=_("Safe Passages are the walking routes to school, the park and the bus that the community "
                "and the Community Safety Partnership watch over. Walk them when you can, and walk together."),
        streets_heading=_("Streets of the Safe Passages"),
        places_heading=_("Places they lead to"),
        footer=_("Map data: OpenStreetMap contributors (ODbL). Made with passages."),
        streets=tuple(passage_streets(plan)),
        places=tuple((kind_words[k], name) for k, name in listed if k != "transit"),
        legend=legend,
        more=_("and {n} more"),
        stops=_("{n} transit stops along the way").format(n=stops) if stops else "",
    )


def _longest_runs(plan: Plan) -> list[tuple[str, np.ndarray]]:
    """Return (street, coordinates) of the longest passage segment of each listed street, for labels."""
    index = plan.index
    on = np.flatnonzero(plan.route_set.segment_demand > 0)
    best: dict[str, tuple[float, int]] = {}
    for segment in on[np.isin(index.segment_name_source[on], ["osm", "beside"])].tolist():
        name = abbreviate(str(index.segment_name[segment]).split(" / ")[0])
        length = float(index.segment_length[segment])
        if name and length > best.get(name, (0.0, -1))[0]:
            best[name] = (length, segment)
    return [(name, np.asarray(index.segment_geometry[s].coords)) for name, (length, s) in best.items()
            if length >= LABEL_MIN_M]


def community_flyer(plan: Plan, *, lang: str = "en") -> Figure:
    """Return the one-page flyer of a plan's Safe Passages (US Letter, portrait) in ``lang``.

    A map of the study area (streets grey, Safe Passages blue, labelled by street; the
    places the passages lead to), the streets and places listed under it, and the
    OpenStreetMap credit. No officer, risk or hot-segment information.
    """
    content = community_content(plan, lang=lang)
    index = plan.index
    fig = Figure(figsize=PAGE_INCHES)
    fig.text(0.06, 0.955, content.title, fontsize=24, fontweight="bold", color=PASSAGE_COLOR, va="top")
    fig.text(0.06, 0.915, content.subtitle, fontsize=14, va="top")
    fig.text(0.06, 0.885, content.intro, fontsize=9.5, va="top", wrap=True)

    ax = fig.add_axes((0.06, 0.36, 0.88, 0.49))
    lines = [np.asarray(g.coords) for g in index.segment_geometry]
    on = plan.route_set.segment_demand > 0
    ax.add_collection(LineCollection([lines[i] for i in np.flatnonzero(~on)], colors=STREET_COLOR, linewidths=0.6))
    ax.add_collection(LineCollection([lines[i] for i in np.flatnonzero(on)], colors=PASSAGE_COLOR, linewidths=3.0))
    for name, coords in _longest_runs(plan):
        middle = coords[len(coords) // 2] if len(coords) > 2 else coords.mean(axis=0)
        dx, dy = coords[-1] - coords[0]
        angle = float(np.degrees(np.arctan2(dy, dx)))
        angle = angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle
        ax.text(middle[0], middle[1], name, fontsize=6.5, rotation=angle, rotation_mode="anchor", ha="center",
                va="center", color="#1a1a1a", bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                                                     "alpha": 0.75})
    routes = plan.route_set.routes
    served = plan.places[plan.places["place_id"].isin(set(routes["dest_id"]) | set(routes["origin_id"]))]
    for kind, (marker, colour) in PLACE_STYLE.items():
        points = served[served["kind"] == kind].geometry.representative_point()
        if len(points):
            ax.scatter(points.x, points.y, marker=marker, s=46, c=colour, edgecolors="white", linewidths=0.8,
                       zorder=3)
    west, south, east, north = _bounds(plan)
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    handles = [matplotlib.lines.Line2D([], [], color=colour, linewidth=0 if marker else 3, marker=marker,
                                       markersize=7, markerfacecolor=colour, label=label)
               for label, colour, marker in content.legend]
    ax.legend(handles=handles, loc="lower left", fontsize=7.5, framealpha=0.9)

    fig.text(0.06, 0.335, content.streets_heading, fontsize=11, fontweight="bold", va="top")
    for row, (street, _metres) in enumerate(content.streets[:MAX_LISTED]):
        fig.text(0.06 + 0.22 * (row // 7), 0.31 - 0.021 * (row % 7), street, fontsize=8.5, va="top")
    fig.text(0.52, 0.335, content.places_heading, fontsize=11, fontweight="bold", va="top")
    rows = [f"{kind}: {name}" for kind, name in content.places[:MAX_LISTED]]
    if len(content.places) > MAX_LISTED:
        rows.append(content.more.format(n=len(content.places) - MAX_LISTED))
    if content.stops:
        rows.append(content.stops)
    for row, text in enumerate(rows):
        fig.text(0.52, 0.31 - 0.0165 * row, text, fontsize=8, va="top")
    fig.text(0.06, 0.03, content.footer, fontsize=7, color="#555555")
    return fig


def _bounds(plan: Plan) -> tuple[float, float, float, float]:
    """Return the map extent (UTM metres): the passages with a margin, widened to the shape of the page."""
    index = plan.index
    on = np.flatnonzero(plan.route_set.segment_demand > 0)
    if len(on):
        coords = np.concatenate([np.asarray(index.segment_geometry[s].coords) for s in on.tolist()])
    else:
        coords = index.node_xy
    west, south = coords.min(axis=0) - 120.0
    east, north = coords.max(axis=0) + 120.0
    # the map's frame is 0.88 x 0.49 of a letter page: widen the shorter side to that shape
    aspect = (0.49 * PAGE_INCHES[1]) / (0.88 * PAGE_INCHES[0])
    width, height = east - west, north - south
    if height / width < aspect:
        grow = (width * aspect - height) / 2
        south, north = south - grow, north + grow
    else:
        grow = (height / aspect - width) / 2
        west, east = west - grow, east + grow
    return float(west), float(south), float(east), float(north)


def flyer_bytes(fig: Figure) -> tuple[bytes, bytes]:
    """Return the flyer as PDF and PNG bytes (no creation date in the PDF: same plan, same bytes)."""
    pdf_buffer, png_buffer = io.BytesIO(), io.BytesIO()
    with literal_text():
        with PdfPages(pdf_buffer, metadata={"CreationDate": None, "Creator": "passages"}) as pdf:
            pdf.savefig(fig)
        fig.savefig(png_buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return pdf_buffer.getvalue(), png_buffer.getvalue()


def community_map_html(plan: Plan, *, lang: str = "en") -> bytes:
    """Return the community HTML map (self-contained, offline) in ``lang``."""
    from passages.maps import map_html, plan_map
    from passages.plan import map_layers

    _ = translator(lang)
    segments, passages, places = map_layers(plan)
    served = places["routed"].astype(bool)
    fmap = plan_map(area=plan.area, segments=segments, passages=passages, places=places[served].reset_index(drop=True),
                    title=f"{_('Safe Passages')}: {plan.area.name}", tiles=False, community=True, lang=lang)
    return map_html(fmap)


def write_community(plan: Plan, out_dir: str | Path | OutputSet | None = None, *, lang: str = "en",
                    on_step: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Write the community flyer (PDF, PNG) and map (HTML) of a plan in ``lang``; return the paths.

    Files go to ``out_dir`` (default ``maps/<area>/``) as one output set.
    """
    from passages import settings

    pdf_name, png_name, html_name = community_files(lang)
    if on_step:
        on_step("drawing the community flyer")
    with literal_text():
        pdf, png = flyer_bytes(community_flyer(plan, lang=lang))
    if on_step:
        on_step("drawing the community map")
    page = community_map_html(plan, lang=lang)
    with writing_to(out_dir, settings.maps_dir / slug(plan.area.slug, field="--area")) as out:
        return {"pdf": out.write(pdf_name, pdf), "png": out.write(png_name, png), "html": out.write(html_name, page)}

"""Folium maps of a plan: risk on streets, the Safe Passages, the places they serve.

:func:`plan_map` draws one area's plan for officers (a phone or a print) and planners:
streets coloured by risk per 100 m, the hot segments, the recommended passages drawn by
demand, schools, transit stops, parks and libraries, a legend, and the attribution the
OpenStreetMap licence (ODbL) asks for. :func:`save_map` writes it atomically.

Only the frames given are drawn: incident points never reach a map, only their aggregate
on streets. Every input is in EPSG:4326. The HTML is deterministic: the same inputs give
byte-identical files, so a map can be diffed and committed next to the plan that made it.
"""

from __future__ import annotations

import html
import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import branca.element
import folium
import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame

from passages._errors import InputError
from passages._io import write_atomic
from passages._map_elements import (
    COORD_DECIMALS,
    LEAFLET_CSS,
    LEAFLET_JS,
    Attribution,
    FitBounds,
    Legend,
    Locate,
    Panes,
    RawText,
    Styled,
    ZoomGate,
    dash_row,
    feature_collection,
    icon_row,
    icons_row,
    inline_leaflet,
    plain_rendering,
    renumber,
    swatch_row,
)
from passages._map_labels import LABEL_MIN_ZOOM, StreetLabels, label_points
from passages.areas import Area
from passages.i18n import N_, check_lang, translator

__all__ = [
    "HOT_COLOR",
    "OSM_ATTRIBUTION",
    "PASSAGE_COLOR",
    "PLACE_STYLES",
    "RISK_COLORS",
    "ZERO_RISK_COLOR",
    "officer_color",
    "officer_dash",
    "plan_map",
    "save_map",
]

#: Line colour of the recommended Safe Passages; no other layer uses it.
PASSAGE_COLOR = "#1f6feb"

#: Street colours of the risk classes, lowest first: ColorBrewer YlOrRd (sequential,
#: colour-blind safe), its 6-class scheme without the palest yellow, which vanishes on a
#: white page or on map tiles.
RISK_COLORS: tuple[str, ...] = ("#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")

#: Streets with no risk recorded.
ZERO_RISK_COLOR = "#bdbdbd"

#: Hot segments: darker than the top risk class, thicker than streets and drawn above the
#: passages but thinner than them, so a hot stretch of a passage shows as a dark core.
HOT_COLOR = "#67000d"

#: Colour of the study-area outline.
OUTLINE_COLOR = "#4d4d4d"

#: Kinds of place drawn from street zoom (:data:`UNROUTED_MIN_ZOOM`) up only, even when a
#: walk goes there: a downtown plan has dozens of business corridors.
STREET_ZOOM_KINDS = ("business",)

#: Colour of the community's concerns (markers and dashed stretches).
CONCERN_COLOR = "#e31a1c"

#: Places by kind: (layer name, legend label, letter on the marker, colour). Letters, not
#: icon fonts, so the markers need nothing from a CDN and stay readable in greyscale.
PLACE_STYLES: dict[str, tuple[str, str, str, str]] = {
    "site": (N_("Site"), N_("Site: where the walks start"), "H", "#b35806"),
    "school": (N_("Schools"), N_("School"), "S", "#6a3d9a"),
    "transit": (N_("Transit stops"), N_("Transit stop"), "T", "#252525"),
    "park": (N_("Parks"), N_("Park or recreation"), "P", "#1b7837"),
    "library": (N_("Libraries"), N_("Library"), "L", "#8c510a"),
    "business": (N_("Business corridors"), N_("Business corridor"), "B", "#c51b7d"),
}

#: The words of the "where am I" button and Leaflet's zoom buttons (translated per map).
LOCATE_WORDS = {"where": N_("Where am I?"), "here": N_("You are here"), "unknown": N_("position unknown"),
                "zoom_in": N_("Zoom in"), "zoom_out": N_("Zoom out")}

#: Fill of a place too far from any street to be routed.
UNUSABLE_COLOR = "#9e9e9e"

#: Required by the ODbL on every map and export; shown even when no tiles are drawn.
OSM_ATTRIBUTION = (
    '<a href="https://www.openstreetmap.org/copyright">'
    "© OpenStreetMap contributors (ODbL)</a>"
)


def _osm_attribution(_: Callable[[str], str]) -> str:
    """Return :data:`OSM_ATTRIBUTION` in the map's language (the link and the licence stay)."""
    return OSM_ATTRIBUTION.replace("© OpenStreetMap contributors (ODbL)",
                                   html.escape(_("© OpenStreetMap contributors (ODbL)")))


STREET_WEIGHT = 2.0
HOT_WEIGHT = 4.0
#: Passage line widths (pixels) by demand class, lowest first.
PASSAGE_WEIGHTS: tuple[float, ...] = (6.0, 8.5, 11.0)

SEGMENT_COLUMNS = ("name", "length_m", "risk_per_100m", "hot")
PASSAGE_COLUMNS = ("name", "length_m", "demand", "risk_per_100m")
PLACE_COLUMNS = ("kind", "name", "snap_m", "usable")

#: Places no route uses (of a frame with a ``routed`` column) show from this zoom up: a
#: downtown plan has over a hundred transit stops, which would bury the passages at first.
UNROUTED_MIN_ZOOM = LABEL_MIN_ZOOM

#: Places of one kind within this distance (metres) make one marker (bus stops on facing
#: corners of one crossing).
PLACE_MERGE_M = 40.0

#: Below street zoom, places of one kind within this distance (metres) make one marker.
PLACE_CLUSTER_M = 150.0

# --------------------------------------------------------------------------- inputs


def _check_frame(
    frame: Any, label: str, columns: Sequence[str], geom_types: Sequence[str]
) -> GeoDataFrame:
    """Return ``frame`` without empty geometries; raise :class:`InputError` if unusable."""
    if not isinstance(frame, GeoDataFrame):
        raise InputError(
            f"{label} must be a GeoDataFrame, got {type(frame).__name__}", field=label,
            fix="Pass the frame the previous stage returned.",
        )
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        found = "no CRS" if frame.crs is None else frame.crs.to_string()
        raise InputError(
            f"{label} must be in EPSG:4326, found {found}", field="crs",
            fix=f"Reproject with {label}.to_crs('EPSG:4326').",
        )
    for column in columns:
        if column not in frame.columns:
            raise InputError(
                f"{label} lack the column {column!r}", field=column,
                fix=f"{label} need the columns " + ", ".join(columns) + ".",
            )
    empty = frame.geometry.isna() | frame.geometry.is_empty
    if empty.any():
        warnings.warn(
            f"{int(empty.sum())} {label} without geometry are left off the map",
            stacklevel=3,
        )
        frame = frame.loc[~empty]
    wrong = ~frame.geom_type.isin(list(geom_types))
    if wrong.any():
        raise InputError(
            f"{label} must be {' or '.join(geom_types)}, found {frame.geom_type[wrong].iloc[0]}",
            field="geometry", fix=f"Give {label} as {geom_types[0]} geometries.",
        )
    return frame


def _check_numbers(frame: GeoDataFrame, label: str, column: str) -> np.ndarray:
    """Return a column as floats; raise :class:`InputError` on missing or negative values."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise InputError(
            f"{label} have {int(bad.sum())} missing or negative {column} values",
            field=column, fix=f"Give {column} as numbers >= 0.",
        )
    return values


def _text(value: Any, default: str) -> str:
    """Return a name ready for HTML: lists joined (osmnx merges names), blanks defaulted."""
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value if v is not None)
    elif value is None or pd.isna(value):
        value = ""
    text = str(value).strip()
    return html.escape(text if text else default)


# --------------------------------------------------------------------------- classes


def _class_uppers(values: np.ndarray, n_classes: int) -> np.ndarray:
    """Return the upper bounds of up to ``n_classes`` quantile classes (ties merge classes)."""
    if values.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_classes + 1)[1:]))


def _spread(palette: Sequence[Any], n_used: int) -> list[Any]:
    """Pick ``n_used`` entries spread over ``palette``, keeping its ends when there are two+."""
    if n_used == 1:
        return [palette[len(palette) // 2]]
    picks = np.round(np.linspace(0, len(palette) - 1, n_used)).astype(int)
    return [palette[i] for i in picks]


def _fmt(value: float) -> str:
    """Format a class bound with two significant digits and no exponent."""
    if value == 0:
        return "0"
    decimals = max(0, 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def _sig(value: float) -> float:
    """Round a tooltip value to three significant digits (a small risk must not show as 0)."""
    return float(f"{float(value):.3g}")


def _ranges(uppers: np.ndarray, _: Callable[[str], str] = str) -> list[str]:
    """Return legend labels of classes that run from one upper bound to the next."""
    labels = [_("up to {value}").format(value=_fmt(uppers[0]))] if len(uppers) else []
    return labels + [
        f"{_fmt(lower)} – {_fmt(upper)}" for lower, upper in itertools.pairwise(uppers)
    ]


# --------------------------------------------------------------------------- layers


def _add_streets(fmap: folium.Map, segments: GeoDataFrame, risk: np.ndarray, _: Callable[[str], str] = str
                 ) -> list[str]:
    """Draw streets by risk class; return the legend rows of the classes."""
    group = folium.FeatureGroup(name=_("Streets by risk"), show=True).add_to(fmap)
    positive = risk[risk > 0]
    uppers = _class_uppers(positive, len(RISK_COLORS))
    colors = _spread(RISK_COLORS, len(uppers)) if len(uppers) else []
    klass = np.where(risk > 0, np.searchsorted(uppers, risk, side="left"), -1)
    props: dict[str, list[Any]] = {
        "name": [_text(v, _("unnamed")) for v in segments["name"]],
        "risk_per_100m": [_sig(v) for v in risk],
    }
    tooltip = (("name", "risk_per_100m"), (_("Street"), _("Risk per 100 m")))
    for index, color in [(-1, ZERO_RISK_COLOR), *enumerate(colors)]:
        rows = np.flatnonzero(klass == index)
        if rows.size:
            Styled(
                feature_collection(segments.iloc[rows], _take(props, rows)),
                line_style={"color": color, "weight": STREET_WEIGHT, "opacity": 0.9},
                tooltip=tooltip,
            ).add_to(group)
    rows_html = [
        swatch_row(color, STREET_WEIGHT + 2, label)
        for color, label in zip(colors, _ranges(uppers, _), strict=True)
    ]
    rows_html.append(swatch_row(ZERO_RISK_COLOR, STREET_WEIGHT + 2, _("no risk recorded")))
    return rows_html


def _add_plain_streets(fmap: folium.Map, segments: GeoDataFrame, _: Callable[[str], str] = str) -> list[str]:
    """Draw every street in one light grey, named in its tooltip (the community map: no risk); return its legend row."""
    group = folium.FeatureGroup(name=_("Streets"), show=True).add_to(fmap)
    props: dict[str, list[Any]] = {"name": [_text(v, _("unnamed")) for v in segments["name"]]}
    Styled(feature_collection(segments, props), line_style={"color": ZERO_RISK_COLOR, "weight": STREET_WEIGHT,
                                                            "opacity": 0.9},
           tooltip=(("name",), (_("Street"),))).add_to(group)
    return [swatch_row(ZERO_RISK_COLOR, STREET_WEIGHT + 2, _("Streets"))]


def _add_hot(fmap: folium.Map, segments: GeoDataFrame, risk: np.ndarray, _: Callable[[str], str] = str) -> int:
    group = folium.FeatureGroup(name=_("Hot segments"), show=True)
    hot = np.flatnonzero(segments["hot"].fillna(False).astype(bool).to_numpy())
    if hot.size:
        props: dict[str, list[Any]] = {
            "name": [_text(segments["name"].iloc[i], _("unnamed")) for i in hot],
            "risk_per_100m": [_sig(risk[i]) for i in hot],
        }
        Styled(
            feature_collection(segments.iloc[hot], props),
            line_style={"color": HOT_COLOR, "weight": HOT_WEIGHT, "opacity": 0.95},
            tooltip=(("name", "risk_per_100m"), (_("Hot segment"), _("Risk per 100 m"))),
        ).add_to(group)
    group.add_to(fmap)
    return int(hot.size)


def _add_passages(fmap: folium.Map, passages: GeoDataFrame, demand: np.ndarray, _: Callable[[str], str] = str
                  ) -> list[str]:
    """Draw the passages, wider where more people walk; return the legend rows."""
    group = folium.FeatureGroup(name=_("Safe Passages"), show=True).add_to(fmap)
    uppers = _class_uppers(demand, len(PASSAGE_WEIGHTS))
    weights = _spread(PASSAGE_WEIGHTS, len(uppers)) if len(uppers) else []
    klass = np.searchsorted(uppers, demand, side="left")
    props: dict[str, list[Any]] = {
        "name": [_text(v, _("unnamed")) for v in passages["name"]],
        "length_m": [round(float(v)) for v in passages["length_m"]],
        "demand": [_sig(v) for v in demand],
    }
    tooltip = (
        ("name", "length_m", "demand"),
        (_("Safe Passage"), _("Length (m)"), _("Walkers per day (relative)")),
    )
    for index, weight in enumerate(weights):
        rows = np.flatnonzero(klass == index)
        if rows.size:
            Styled(
                feature_collection(passages.iloc[rows], _take(props, rows)),
                line_style={"color": PASSAGE_COLOR, "weight": weight, "opacity": 0.85},
                tooltip=tooltip,
            ).add_to(group)
    return [
        swatch_row(PASSAGE_COLOR, weight, label)
        for weight, label in zip(weights, _ranges(uppers, _), strict=True)
    ]


def _add_concerns(fmap: folium.Map, concerns: GeoDataFrame, _: Callable[[str], str] = str) -> list[str]:
    """Draw the community's concerns (points as "!" markers, stretches dashed); return the legend rows."""
    concerns = _check_frame(concerns, "concerns", ("category", "date"), ("Point", "LineString", "MultiLineString"))
    group = folium.FeatureGroup(name=_("Community concerns"), show=True).add_to(fmap)
    kinds = concerns.geometry.geom_type.to_numpy(dtype=str)
    props: dict[str, list[Any]] = {
        "category": [_text(v, _("concern")) for v in concerns["category"]],
        "date": [_text(v, "") for v in concerns["date"]],
    }
    tooltip = (("category", "date"), (_("Community concern"), _("Date")))
    rows = []
    points = np.flatnonzero(kinds == "Point")
    if points.size:
        Styled(feature_collection(concerns.iloc[points], _take(props, points)),
               marker_html=_marker_html("!", CONCERN_COLOR, True), tooltip=tooltip, labels=False).add_to(group)
        rows.append(icon_row(_marker_html("!", CONCERN_COLOR, True), _("Community concern")))
    lines = np.flatnonzero(kinds != "Point")
    if lines.size:
        Styled(feature_collection(concerns.iloc[lines], _take(props, lines)),
               line_style={"color": CONCERN_COLOR, "weight": 4, "opacity": 0.9, "dashArray": "6 6"},
               tooltip=tooltip).add_to(group)
        rows.append(swatch_row(CONCERN_COLOR, 4, _("Street a concern names")))
    return rows


def _marker_html(letter: str, color: str, usable: bool) -> str:
    if usable:
        return f'<div class="pp-place" style="background:{color}">{letter}</div>'
    return f'<div class="pp-place pp-unusable">{letter}</div>'


def _add_places(fmap: folium.Map, places: GeoDataFrame, _: Callable[[str], str] = str) -> list[str]:
    """Draw one layer per kind of place; return the legend rows of the kinds shown.

    With a ``routed`` column, the usable places no route uses show only from
    :data:`UNROUTED_MIN_ZOOM` up; the places a route starts or ends at show at every zoom,
    those of one kind within :data:`PLACE_CLUSTER_M` of each other as one marker below
    that zoom (a marker is about 200 m wide at zoom 14), each from it up.
    """
    kinds = places["kind"].astype("string").str.strip().str.lower()
    unknown = sorted(set(kinds.dropna()) - set(PLACE_STYLES)) + (
        ["<missing>"] if kinds.isna().any() else []
    )
    if unknown:
        raise InputError(
            "places have unknown kinds: " + ", ".join(unknown), field="kind",
            fix="Use one of " + ", ".join(PLACE_STYLES) + ".",
        )
    usable = places["usable"].fillna(False).astype(bool).to_numpy()
    routed = (
        places["routed"].fillna(False).astype(bool).to_numpy()
        if "routed" in places.columns else np.ones(len(places), dtype=bool)
    )
    snap_m = pd.to_numeric(places["snap_m"], errors="coerce").to_numpy(dtype=float)
    rows_html = []
    near: list[Styled] = []
    far: list[Styled] = []
    unrouted = False
    for kind, (layer_name, label, letter, color) in PLACE_STYLES.items():
        of_kind = (kinds == kind).to_numpy()
        if not of_kind.any():
            continue
        # corridors show from street zoom only, routed or not: the first view is the walks to school
        routed_here = routed & (kind not in STREET_ZOOM_KINDS)
        group = folium.FeatureGroup(name=_(layer_name), show=True).add_to(fmap)
        # (usable, routed, merge radius in metres, drawn: "all" zooms, "near" or "far" only)
        for is_usable, is_routed, merge_m, zooms in (
            (False, None, 0.0, "all"), (True, False, PLACE_MERGE_M, "near"),
            (True, True, PLACE_MERGE_M, "near"), (True, True, PLACE_CLUSTER_M, "far"),
        ):
            shown = ~usable if not is_usable else usable & (routed_here == is_routed)
            rows = np.flatnonzero(of_kind & shown)
            if not rows.size:
                continue
            names = [_text(places["name"].iloc[i], _("unnamed place")) for i in rows]
            if merge_m:
                rows, names = _merge_close(places, rows, names, merge_m)
            props: dict[str, list[Any]] = {"name": names}
            fields: tuple[str, ...] = ("name",)
            if not is_usable:
                props["note"] = [_unusable_note(snap_m[i], _) for i in rows]
                fields = ("name", "note")
            layer = Styled(
                feature_collection(places.iloc[rows], props),
                marker_html=_marker_html(letter, color, is_usable),
                tooltip=(fields, fields),
                labels=False,
            )
            layer.add_to(group)
            if zooms == "near":
                near.append(layer)
                unrouted = unrouted or not is_routed
            elif zooms == "far":
                far.append(layer)
        rows_html.append(icon_row(_marker_html(letter, color, True), _(label)))
    if near:
        ZoomGate(near, min_zoom=UNROUTED_MIN_ZOOM).add_to(fmap)
    if far:
        ZoomGate(far, min_zoom=UNROUTED_MIN_ZOOM, below=True).add_to(fmap)
    if unrouted:
        rows_html.append(
            '<div class="pp-row pp-note">'
            + html.escape(_("Places no route uses show from zoom {zoom} (street level)").format(zoom=UNROUTED_MIN_ZOOM))
            + "</div>"
        )
    if not usable.all():
        rows_html.append(
            icon_row(_marker_html("", UNUSABLE_COLOR, False), _("too far from any street: not routed"))
        )
    return rows_html


def _merge_close(
    places: GeoDataFrame, rows: np.ndarray, names: list[str], radius_m: float
) -> tuple[np.ndarray, list[str]]:
    """Return one row per group of places within ``radius_m`` metres of the group's first one.

    Two bus stops on facing corners make one marker (the first row's point) whose name
    lists both (``"A; B"``): they are one place to an officer, and two markers hide the
    corner. Rows keep their order; names are already escaped.
    """
    if len(rows) < 2:
        return rows, names
    xy = _local_metres(places.iloc[rows])
    leader = np.full(len(rows), -1)
    for i in range(len(rows)):
        if leader[i] >= 0:
            continue
        near = (np.hypot(*(xy - xy[i]).T) <= radius_m) & (leader < 0)
        leader[near] = i
    kept = np.flatnonzero(leader == np.arange(len(rows)))
    merged = ["; ".join(dict.fromkeys(names[j] for j in np.flatnonzero(leader == i))) for i in kept]
    return rows[kept], merged


def _local_metres(points: GeoDataFrame) -> np.ndarray:
    """Return ``(n, 2)`` coordinates in metres of point geometries, for distances of a few
    hundred metres.

    A projected CRS is used as it is. Degrees (EPSG:4326) are scaled around the points' mean
    latitude (an equirectangular projection: within 1 km its distances differ from UTM's by
    less than 0.5 %), which costs nothing, where looking up the UTM zone in the PROJ database
    costs about 0.15 s per call.
    """
    xy = shapely.get_coordinates(np.asarray(points.geometry.values, dtype=object))
    if points.crs is not None and not points.crs.is_geographic:
        return xy
    metres_per_degree = 6_371_008.8 * math.pi / 180.0
    lat0 = math.radians(float(np.mean(xy[:, 1]))) if len(xy) else 0.0
    return np.c_[xy[:, 0] * metres_per_degree * math.cos(lat0), xy[:, 1] * metres_per_degree]


def _unusable_note(snap_m: float, _: Callable[[str], str] = str) -> str:
    if np.isfinite(snap_m):
        return _("not routed: {metres} m from the nearest street").format(metres=f"{snap_m:.0f}")
    return _("not routed: too far from any street")


def _take(props: dict[str, list[Any]], rows: Iterable[int]) -> dict[str, list[Any]]:
    index = list(rows)
    return {name: [values[i] for i in index] for name, values in props.items()}


def _add_outline(fmap: folium.Map, area: Area, _: Callable[[str], str] = str) -> None:
    group = folium.FeatureGroup(name=_("Study area"), show=True).add_to(fmap)
    polygon = shapely.transform(area.study_polygon, lambda xy: np.round(xy, COORD_DECIMALS))
    data = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": shapely.geometry.mapping(polygon),
            }
        ],
    }
    Styled(
        data,
        line_style={
            "color": OUTLINE_COLOR, "weight": 2, "opacity": 0.9, "dashArray": "8 6",
            "fill": False, "interactive": False,
        },
    ).add_to(group)


def _add_base_tiles(fmap: folium.Map, tiles: bool, _: Callable[[str], str] = str) -> None:
    """Add the web base map, if any: the one place that knows about tiles."""
    if tiles:
        # an overlay that starts hidden: no tile is requested until the reader asks
        folium.TileLayer(
            "OpenStreetMap", name=_("Web map tiles (needs a connection)"), attr=_osm_attribution(_),
            max_zoom=19, overlay=True, control=True, show=False,
        ).add_to(fmap)


#: Line colours of the officers' loops (ColorBrewer Dark2 without the blue-violet close to
#: the passages' blue); the n-th officer takes the n-th colour, cycling.
OFFICER_COLORS: tuple[str, ...] = ("#d95f02", "#1b9e77", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")

#: Dash patterns (SVG ``stroke-dasharray``, pixels) of the officers' loops: the n-th officer
#: takes the n-th pattern, cycling, so two loops differ in dash as well as colour (and stay
#: apart on a greyscale print). Six patterns against seven colours: 42 officers before a
#: colour and dash pair comes back.
OFFICER_DASHES: tuple[str, ...] = ("14 6", "5 5", "18 5 4 5", "9 4", "2 5", "14 3 4 3 4 3")

#: The white casing under a loop, so a dashed loop stands out on a passage's blue.
LOOP_CASING = {"color": "#ffffff", "weight": 9, "opacity": 0.9, "interactive": False}

#: Width (pixels) of a footbeat loop.
LOOP_WEIGHT = 5.0

#: Panes of the officers' layers (see ``passages._map_elements.PANES``): above the passages.
LOOP_PANE = "pp-loops"
POST_PANE = "pp-posts"

POST_COLUMNS = ("number", "officer", "label")
LOOP_COLUMNS = ("officer", "label", "length_m", "minutes")


def officer_color(officer: int) -> str:
    """Return the colour of an officer's posts and loop (officers are numbered from 1)."""
    return OFFICER_COLORS[(int(officer) - 1) % len(OFFICER_COLORS)]


def officer_dash(officer: int) -> str:
    """Return the dash pattern of an officer's loop (officers are numbered from 1)."""
    return OFFICER_DASHES[(int(officer) - 1) % len(OFFICER_DASHES)]


def _officer_marker(number: str, color: str) -> str:
    return f'<div class="pp-officer" style="background:{color}">{html.escape(number)}</div>'


def _numbers_label(officer: int, what: str, numbers: Sequence[str], _: Callable[[str], str] = str) -> str:
    """Return "Officer 2: posts 1, 4" with the numbers the map's markers carry."""
    if what == "post":
        text = _("Officer {officer}: post {numbers}") if len(numbers) == 1 else _("Officer {officer}: posts {numbers}")
    else:
        text = _("Officer {officer}: stop {numbers}") if len(numbers) == 1 else _("Officer {officer}: stops {numbers}")
    return html.escape(text.format(officer=officer, numbers=", ".join(numbers)))


def _add_officers(fmap: folium.Map, posts: GeoDataFrame | None, loops: GeoDataFrame | None,
                  _: Callable[[str], str] = str) -> list[str]:
    """Draw footbeat loops and numbered posts, one colour and dash per officer; return legend rows.

    Loops and posts go in panes above the passages and the places. The legend gives each
    officer's loop (colour and dash) and the very numbers of the officer's markers.
    """
    loop_rows: dict[int, str] = {}
    numbers: dict[int, list[str]] = {}
    if loops is not None and len(loops):
        loops = _check_frame(loops, "loops", LOOP_COLUMNS, ("LineString", "MultiLineString"))
        group = folium.FeatureGroup(name=_("Footbeat loops"), show=True).add_to(fmap)
        loop_officers = loops["officer"].astype(int).to_numpy()
        for officer in sorted({int(o) for o in loop_officers}):
            rows = np.flatnonzero(loop_officers == officer)
            props: dict[str, list[Any]] = {
                "label": [_text(loops["label"].iloc[i], _("officer {officer}").format(officer=officer)) for i in rows],
                "length_m": [round(float(loops["length_m"].iloc[i])) for i in rows],
                "minutes": [round(float(loops["minutes"].iloc[i])) for i in rows],
            }
            Styled(feature_collection(loops.iloc[rows], {}), line_style=LOOP_CASING, pane=LOOP_PANE,
                   svg=True).add_to(group)
            Styled(
                feature_collection(loops.iloc[rows], props),
                line_style={"color": officer_color(officer), "weight": LOOP_WEIGHT, "opacity": 0.95,
                            "dashArray": officer_dash(officer), "lineCap": "butt"},
                tooltip=(("label", "length_m", "minutes"), (_("Footbeat"), _("Length (m)"), _("Minutes"))),
                pane=LOOP_PANE, svg=True,
            ).add_to(group)
            loop_rows[officer] = dash_row(
                officer_color(officer), LOOP_WEIGHT, officer_dash(officer),
                _("Officer {officer}: footbeat loop").format(officer=officer)
            )
    if posts is not None and len(posts):
        posts = _check_frame(posts, "posts", POST_COLUMNS, ("Point",))
        group = folium.FeatureGroup(name=_("Posts and stops"), show=True).add_to(fmap)
        for i in range(len(posts)):
            officer = int(posts["officer"].iloc[i])
            number = str(posts["number"].iloc[i])
            props = {"label": [_text(posts["label"].iloc[i], _("post {number}").format(number=number))]}
            Styled(
                feature_collection(posts.iloc[[i]], props),
                marker_html=_officer_marker(number, officer_color(officer)),
                tooltip=(("label",), ("label",)),
                labels=False,
                pane=POST_PANE,
            ).add_to(group)
            numbers.setdefault(officer, []).append(number)
    rows_html: list[str] = []
    for officer in sorted({*loop_rows, *numbers}):
        if officer in loop_rows:
            rows_html.append(loop_rows[officer])
        color = officer_color(officer)
        standing = [n for n in numbers.get(officer, []) if "." not in n]
        stops = [n for n in numbers.get(officer, []) if "." in n]
        for what, shown in (("post", standing), ("stop", stops)):
            if shown:
                keys = [_officer_marker(n, color) for n in shown[:2]]
                rows_html.append(icons_row(keys, _numbers_label(officer, what, shown, _)))
    return rows_html


def _add_labels(
    fmap: folium.Map,
    segments: GeoDataFrame,
    passages: GeoDataFrame,
    posts: GeoDataFrame | None,
    loops: GeoDataFrame | None,
    _: Callable[[str], str] = str,
    *,
    crs: str | None = None,
) -> int:
    """Draw the street names of the passages, loops and posts from street zoom up; return their number."""
    data = label_points(segments, passages, loops=loops, posts=posts, crs=crs)
    if not data["features"]:
        return 0
    group = folium.FeatureGroup(name=_("Street names (from zoom {zoom})").format(zoom=LABEL_MIN_ZOOM),
                                show=True).add_to(fmap)
    StreetLabels(data, group, min_zoom=LABEL_MIN_ZOOM).add_to(fmap)
    return len(data["features"])


def plan_map(
    *,
    area: Area,
    segments: GeoDataFrame,
    passages: GeoDataFrame,
    places: GeoDataFrame,
    title: str | None = None,
    credits: Sequence[str] = (),
    tiles: bool = True,
    self_contained: bool = True,
    posts: GeoDataFrame | None = None,
    loops: GeoDataFrame | None = None,
    community: bool = False,
    lang: str = "en",
    concerns: GeoDataFrame | None = None,
) -> folium.Map:
    """Return the folium map of one area's plan.

    Parameters
    ----------
    area
        The engagement area; the map opens on its study polygon, drawn dashed.
    segments
        Street segments, LineStrings in EPSG:4326, with ``name``, ``length_m`` (metres),
        ``risk_per_100m`` (>= 0) and ``hot`` (bool). Drawn in five quantile classes of risk
        per 100 m (zero-risk streets grey); hot segments again, thicker, on their own layer.
    passages
        The recommended Safe Passage network, LineStrings in EPSG:4326, with ``name``,
        ``length_m`` (metres), ``demand`` (walkers per day, relative) and ``risk_per_100m``.
        Drawn in :data:`PASSAGE_COLOR`, wider where demand is higher.
    places
        Destinations, Points in EPSG:4326, with ``kind`` (``"school"``, ``"transit"``,
        ``"park"``, ``"library"``), ``name``, ``snap_m`` (metres to the nearest street) and
        ``usable`` (bool); unusable places are greyed with a note. An optional ``routed``
        (bool) column says which places a route starts or ends at: the others (a downtown
        plan has over a hundred transit stops) show only from street zoom
        (:data:`UNROUTED_MIN_ZOOM`) up, so the first view is not buried under markers.
    title
        Shown at the top of the map and as the page title; default "Safe Passages: <area>".
    credits
        Further attribution lines (such as "Incidents: LAPD open data, aggregated to
        streets"), shown after "© OpenStreetMap contributors (ODbL)", which is always there.
    tiles
        Offer OpenStreetMap web tiles as a layer the reader can switch on (off at first, so
        the map makes no request until asked: the streets themselves are the base map);
        ``False`` leaves the layer out.
    self_contained
        Put Leaflet itself inside the HTML (from the package django-js-lib-leaflet), so the
        map opens with no connection at all: only the optional web tiles need one.
        ``False`` loads Leaflet from a CDN (a smaller file).
    posts
        Officer posts and footbeat stops, Points in EPSG:4326, with ``number`` (the label on
        the marker, e.g. "3" or "2.1"), ``officer`` (int, 1-based) and ``label`` (tooltip:
        corner, times).
    loops
        Footbeat loops, LineStrings in EPSG:4326, with ``officer`` (int, 1-based), ``label``,
        ``length_m`` (metres) and ``minutes``; each officer has one colour and one dash
        pattern (:func:`officer_color`, :func:`officer_dash`). Loops and posts are drawn
        above the passages and the places; the legend lists each officer's loop and the
        numbers of the officer's markers.
    community
        The public map: the streets in one grey, the Safe Passages and places; no street
        risk, no hot segments, no posts or loops (the risk of ``segments``, ``posts`` and
        ``loops`` are not drawn).
    lang
        Language of the map's own words (:data:`passages.i18n.LANGUAGES`); names from the
        data stay as they are.
    concerns
        The community's concerns (:mod:`passages.concerns`), Points or LineStrings in
        EPSG:4326 with ``category`` and ``date``: a layer for planners beside the risk
        (points as "!" markers, stretches dashed). Never on the public map.

    Street names (the ``name`` of the segments: the index's own names, blanks skipped)
    label the passages, the loops and the streets meeting at a post from zoom
    :data:`~passages._map_labels.LABEL_MIN_ZOOM` up: one label per run of consecutive
    segments of one name, turned along the street, drawn as text (no web tiles needed).

    Raises
    ------
    InputError
        A frame is not in EPSG:4326, lacks a column, has the wrong geometry type, negative
        or missing risk or demand, or a place of an unknown kind.
    """
    segments = _check_frame(segments, "segments", SEGMENT_COLUMNS, ("LineString", "MultiLineString"))
    passages = _check_frame(passages, "passages", PASSAGE_COLUMNS, ("LineString", "MultiLineString"))
    places = _check_frame(places, "places", PLACE_COLUMNS, ("Point",))
    risk = _check_numbers(segments, "segments", "risk_per_100m")
    demand = _check_numbers(passages, "passages", "demand")
    _check_numbers(segments, "segments", "length_m")
    _check_numbers(passages, "passages", "length_m")

    _ = translator(lang)
    title = title if title is not None else f"{_('Safe Passages')}: {area.name}"
    fmap = folium.Map(
        location=[area.lat, area.lon], zoom_start=15, tiles=None, prefer_canvas=True,
        control_scale=True, zoom_snap=0.25,
    )
    figure = fmap.get_root()
    assert isinstance(figure, branca.element.Figure)
    if self_contained:
        fmap.default_js = []
        fmap.default_css = []
        figure.header.add_child(RawText(inline_leaflet()), name="leaflet_inline")
    else:
        fmap.default_js = list(LEAFLET_JS)
        fmap.default_css = list(LEAFLET_CSS)
    figure.title = html.escape(title)
    _add_base_tiles(fmap, tiles, _)
    Panes().add_to(fmap)

    _add_outline(fmap, area, _)
    risk_rows = _add_plain_streets(fmap, segments, _) if community else _add_streets(fmap, segments, risk, _)
    passage_rows = _add_passages(fmap, passages, demand, _)
    # Above the passages, so a hot stretch of a passage shows as a dark core.
    n_hot = 0 if community else _add_hot(fmap, segments, risk, _)
    place_rows = _add_places(fmap, places, _)
    if community:
        posts = loops = None
    if posts is not None and len(posts):
        posts = _check_frame(posts, "posts", POST_COLUMNS, ("Point",))
    if loops is not None and len(loops):
        loops = _check_frame(loops, "loops", LOOP_COLUMNS, ("LineString", "MultiLineString"))
    officer_rows = _add_officers(fmap, posts, loops, _)
    concern_rows = [] if community or concerns is None or not len(concerns) else _add_concerns(fmap, concerns, _)
    _add_labels(fmap, segments, passages, posts, loops, _, crs=area.crs)

    if n_hot:
        risk_rows.append(swatch_row(HOT_COLOR, HOT_WEIGHT, _("Hot segment (highest risk)")))
    sections = [
        (_("Streets") if community else _("Street risk per 100 m"), risk_rows),
        (_("Safe Passages, walkers per day"), passage_rows),
        (_("Places"), place_rows),
        (_("Officers"), officer_rows),
        (_("Community concerns"), concern_rows),
    ]
    if community:
        sections = [(heading, rows) for heading, rows in sections if rows]
    Legend(html.escape(title), sections, legend_word=_("Legend")).add_to(fmap)
    Attribution([_osm_attribution(_), *(html.escape(str(c)) for c in credits)],
                more=_("Tap for all sources")).add_to(fmap)
    Locate({key: _(word) for key, word in LOCATE_WORDS.items()}).add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)

    west, south, east, north = area.study_polygon.bounds
    FitBounds([[south, west], [north, east]]).add_to(fmap)
    renumber(fmap.get_root())
    vars(fmap)["lang"] = check_lang(lang)  # read by map_html for <html lang="...">
    return fmap


def map_html(fmap: folium.Map) -> bytes:
    """Return the map's self-contained HTML document (UTF-8), with the language of its words."""
    with plain_rendering():
        page = fmap.get_root().render()
    lang = getattr(fmap, "lang", "en")
    return page.replace("<html>", f'<html lang="{html.escape(lang)}">', 1).encode("utf-8")


def save_map(fmap: folium.Map, path: str | Path) -> Path:
    """Write the map's HTML to ``path`` atomically and return ``path``.

    The HTML is rendered first, then written to a temporary file in the same folder and
    renamed over ``path``: a reader never sees a half-written map, and a failure leaves
    any previous map untouched. Missing parent folders are created.
    """
    return write_atomic(path, map_html(fmap))

"""Names an officer can walk by: sidewalks and crossings named after their streets, corners by two streets.

In dense areas most walked ways are OpenStreetMap sidewalks (``highway=footway``) and
crossings without a ``name``: downtown, more than half the street length. Directions that
read "unnamed way" are useless on patrol, so each unnamed way gets the name of the street
it belongs to, found from the geometry alone (the network keeps no ``footway=sidewalk`` tag):

* **beside**: it runs parallel to a named street (within :data:`PARALLEL_DEG` degrees) at
  most :data:`BESIDE_M` metres away: a sidewalk takes that street's name;
* **crossing**: a short way (at most :data:`CROSSING_MAX_M` metres) that crosses a named
  street at a wide angle: "across S Main St at E 5th St", the second street being the
  nearest named street running along the crossing (when there is one);
* **near**: any other way with a named street within :data:`NEAR_M` metres is named by
  what it is and that street: "alley off S Spring St", "steps off W 6th St";
* otherwise it keeps no name and is described by what it is ("footpath", "alley",
  "steps", ...), see :func:`describe`.

Corners (posts, footbeat stops) are always named by two streets where two differently named
streets are near: "E 5th St & S Main St" (:func:`corner_name`). Street names in corners and
labels are shortened the usual way ("East 5th Street" -> "E 5th St", :func:`abbreviate`).

Distances are in metres in the street index's projected CRS (UTM).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import shapely

from passages.i18n import N_, translator

if TYPE_CHECKING:
    from passages.streetindex import StreetIndex

#: An unnamed way whose middle lies at most this far from a parallel named street is named after it (m).
BESIDE_M = 20.0

#: Largest angle between an unnamed way and a street for the way to run "beside" it (degrees).
PARALLEL_DEG = 25.0

#: Smallest angle at which a way "crosses" a street (degrees).
CROSSING_DEG = 50.0

#: A crossing is at most this long (m); its end or middle lies at most CROSSING_NEAR_M from the street crossed.
CROSSING_MAX_M = 45.0

#: How near a crossing must come to the street it crosses (m).
CROSSING_NEAR_M = 6.0

#: An unnamed way with a named street this near (m) is called "<what it is> off <street>".
NEAR_M = 60.0

#: A corner with one street name is completed by the nearest other named street within this distance (m).
CORNER_NAME_M = 60.0

#: Failing that, by the nearest within this distance, with how far it is ("E 118th St, 90 m from Wilmington Ave").
CORNER_FAR_M = 250.0

#: How each unnamed kind of way is described when no street is near it.
KIND_WORDS = {
    "footway": N_("footpath"),
    "path": N_("footpath"),
    "pedestrian": N_("pedestrian way"),
    "steps": N_("steps"),
    "service": N_("alley"),
    "track": N_("track"),
    "cycleway": N_("cycle path"),
    "living_street": N_("living street"),
    "residential": N_("residential street"),
    "unclassified": N_("minor road"),
    "primary_link": N_("ramp"),
    "secondary_link": N_("ramp"),
    "tertiary_link": N_("ramp"),
    "trunk_link": N_("ramp"),
    "motorway_link": N_("ramp"),
}

#: The phrases this module makes of street names (English, as :class:`StreetIndex` stores them);
#: :func:`localise` reads them back and gives them in another language.
UNNAMED_WAY = N_("unnamed way")
UNNAMED_CORNER = N_("unnamed corner")
ACROSS = N_("across {street}")
ACROSS_AT = N_("across {street} at {cross}")
OFF = N_("{what} off {street}")
FAR_CORNER = N_("{street}, {metres} m from {other}")
NEAR = N_("near {street}")

_WORDS = {
    "north": "N", "south": "S", "east": "E", "west": "W",
    "street": "St", "avenue": "Ave", "boulevard": "Blvd", "place": "Pl", "drive": "Dr",
    "road": "Rd", "court": "Ct", "lane": "Ln", "terrace": "Ter", "parkway": "Pkwy",
    "highway": "Hwy", "freeway": "Fwy", "square": "Sq", "circle": "Cir",
}


def abbreviate(name: str) -> str:
    """Return a street name in its short form: directions and street types abbreviated.

    Only a leading direction ("East 5th Street" -> "E 5th St") and a trailing type are
    shortened, so "Avenue of the Stars" or "Grand Central Market" keep their words.
    Several names joined by " / " are shortened one by one.
    """
    if " / " in name:
        return " / ".join(abbreviate(part) for part in name.split(" / "))
    words = name.split()
    if len(words) >= 2 and words[0].lower() in ("north", "south", "east", "west"):
        words[0] = _WORDS[words[0].lower()]
    if len(words) >= 2 and words[-1].lower() in _WORDS and words[-1].lower() not in ("north", "south", "east", "west"):
        words[-1] = _WORDS[words[-1].lower()]
    return " ".join(words)


def describe(highway: str) -> str:
    """Return what an unnamed way is, from its OSM highway type ("footpath", "alley", ...)."""
    for kind in re.split(r"\s*/\s*", str(highway)):
        if kind in KIND_WORDS:
            return KIND_WORDS[kind]
    return UNNAMED_WAY


def _directions(lines: np.ndarray) -> np.ndarray:
    """Return the unit vector from the first to the last point of each line ((n, 2); 0 for a closed line)."""
    start = shapely.get_coordinates(shapely.get_point(lines, 0))
    end = shapely.get_coordinates(shapely.get_point(lines, -1))
    chord = end - start
    norm = np.linalg.norm(chord, axis=1, keepdims=True)
    return np.divide(chord, norm, out=np.zeros_like(chord), where=norm > 0)


def _local_directions(lines: np.ndarray, points: np.ndarray, *, step_m: float = 5.0) -> np.ndarray:
    """Return the unit direction of each line around the point of it nearest to ``points``."""
    along = shapely.line_locate_point(lines, points)
    before = shapely.line_interpolate_point(lines, np.maximum(along - step_m, 0.0))
    after = shapely.line_interpolate_point(lines, along + step_m)
    chord = shapely.get_coordinates(after) - shapely.get_coordinates(before)
    norm = np.linalg.norm(chord, axis=1, keepdims=True)
    return np.divide(chord, norm, out=np.zeros_like(chord), where=norm > 0)


def walking_names(names: np.ndarray, highways: np.ndarray, geometries: np.ndarray,
                  lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the name to walk by of each segment and where it comes from.

    Parameters
    ----------
    names
        OSM street name of each segment ("" when unnamed).
    highways
        OSM highway type of each segment.
    geometries
        Segment LineStrings in a projected CRS (metres).
    lengths
        Segment lengths (metres).

    Returns
    -------
    name, source
        Per segment: its name (the OSM name, the street it runs beside, "across X at Y",
        "alley off X", or "" when no named street is near) and where it comes from:
        ``"osm"``, ``"beside"``, ``"crossing"``, ``"near"`` or ``""``.
    """
    names = np.asarray(names, dtype=object)
    out = names.copy()
    source = np.where(names != "", "osm", "").astype(object)
    unnamed = np.flatnonzero(names == "")
    named = np.flatnonzero(names != "")
    if len(unnamed) == 0 or len(named) == 0:
        return out, source
    geometries = np.asarray(geometries, dtype=object)
    tree = shapely.STRtree(geometries[named])
    middles = shapely.line_interpolate_point(geometries[unnamed], 0.5, normalized=True)
    directions = _directions(geometries[unnamed])
    reach = max(BESIDE_M, CROSSING_NEAR_M)
    way, hit = tree.query(geometries[unnamed], predicate="dwithin", distance=reach)
    street = named[hit]
    street_lines = geometries[street]
    mid = middles[way]
    cos = np.abs(np.sum(directions[way] * _local_directions(street_lines, mid), axis=1))
    angle = np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))
    from_middle = shapely.distance(mid, street_lines)
    from_way = shapely.distance(geometries[unnamed][way], street_lines)
    # beside: parallel, the middle near the street; the nearest such street wins
    beside = (angle <= PARALLEL_DEG) & (from_middle <= BESIDE_M)
    best_beside = _nearest_per_way(way[beside], street[beside], from_middle[beside])
    for w, s in best_beside.items():
        out[unnamed[w]] = names[s]
        source[unnamed[w]] = "beside"
    # crossing: short, at a wide angle, over the street's line; along it, the nearest parallel street
    short = lengths[unnamed][way] <= CROSSING_MAX_M
    crosses = short & (angle >= CROSSING_DEG) & (from_way <= CROSSING_NEAR_M)
    crossed = _nearest_per_way(way[crosses], street[crosses], from_way[crosses])
    along_pairs = (angle <= PARALLEL_DEG) & (from_middle <= CORNER_NAME_M)
    along = _nearest_per_way(way[along_pairs], street[along_pairs], from_middle[along_pairs])
    for w, s in crossed.items():  # a crosswalk also runs beside the street it leads along: crossing first
        beside_street = along.get(w)
        if beside_street is not None and names[beside_street] != names[s]:
            label = ACROSS_AT.format(street=abbreviate(str(names[s])), cross=abbreviate(str(names[beside_street])))
        else:
            label = ACROSS.format(street=abbreviate(str(names[s])))
        out[unnamed[w]] = label
        source[unnamed[w]] = "crossing"
    # near: what it is, off the nearest named street
    rest = np.flatnonzero(source[unnamed] == "")
    if len(rest):
        way, hit = tree.query_nearest(geometries[unnamed[rest]], max_distance=NEAR_M, all_matches=False)
        for w, s in zip(way.tolist(), hit.tolist(), strict=True):
            segment = unnamed[rest[w]]
            out[segment] = OFF.format(what=describe(str(highways[segment])), street=abbreviate(str(names[named[s]])))
            source[segment] = "near"
    return out, source


def _nearest_per_way(way: np.ndarray, street: np.ndarray, distance: np.ndarray) -> dict[int, int]:
    """Return, for each way, the street at the least distance (the lower segment on a tie)."""
    order = np.lexsort((street, distance, way))
    way, street = way[order], street[order]
    first = np.r_[True, way[1:] != way[:-1]] if len(way) else np.empty(0, dtype=bool)
    return dict(zip(way[first].tolist(), street[first].tolist(), strict=True))


def corner_name(index: StreetIndex, position: int) -> str:
    """Return a corner's name: two streets joined by " & " ("E 5th St & S Main St").

    The streets are those of the segments meeting at the node (by position), by their
    walking names (a sidewalk counts as its street, a crossing as both of its streets).
    A corner with only one street is completed by the nearest other named street within
    :data:`CORNER_NAME_M` metres (one with none takes the two nearest); failing that,
    by the nearest within :data:`CORNER_FAR_M` with its distance ("E 118th St, 90 m from
    Wilmington Ave"); else "near <street>", or "unnamed corner".
    """
    at = np.flatnonzero((index.segment_u == position) | (index.segment_v == position))
    streets: list[str] = []
    for s in at.tolist():
        for street in _streets_of(str(index.segment_name[s]), str(index.segment_name_source[s])):
            if street not in streets:
                streets.append(street)
    point = shapely.Point(index.node_xy[position])
    if len(streets) < 2:
        near = index.segment_tree.query(point, predicate="dwithin", distance=CORNER_NAME_M)
        candidates = sorted((float(shapely.distance(point, index.segment_geometry[s])), int(s)) for s in near
                            if index.segment_name_source[s] in ("osm", "beside"))
        for _, s in candidates:
            for street in _streets_of(str(index.segment_name[s]), "osm"):
                if street not in streets:
                    streets.append(street)
            if len(streets) >= 2:
                break
    if len(streets) >= 2:
        return " & ".join(sorted(streets[:2]))
    # no second street at the corner: the nearest one farther away, with its distance
    far = index.segment_tree.query(point, predicate="dwithin", distance=CORNER_FAR_M)
    others = sorted((float(shapely.distance(point, index.segment_geometry[s])), int(s)) for s in far
                    if index.segment_name_source[s] in ("osm", "beside"))
    for distance, s in others:
        for street in _streets_of(str(index.segment_name[s]), "osm"):
            if street in streets:
                continue
            if streets:
                return FAR_CORNER.format(street=streets[0], metres=f"{10 * round(distance / 10):.0f}", other=street)
            streets.append(street)
    if streets:
        return NEAR.format(street=streets[0])
    return UNNAMED_CORNER


def _streets_of(name: str, source: str) -> list[str]:
    """Return the street names, abbreviated, that a walking name stands for (a crossing names two)."""
    if not name:
        return []
    if source == "crossing":
        match = re.fullmatch(r"across (.+?)(?: at (.+))?", name)
        return [part for part in (match.groups() if match else ()) if part]
    if source == "near":  # a footpath off a street does not make the corner that street's
        return []
    return [abbreviate(part) for part in name.split(" / ") if part]


def merge_steps(labels: Iterable[str], lengths: Iterable[float]) -> list[tuple[str, float]]:
    """Merge consecutive steps on one street into one: ``[(label, metres), ...]`` in walking order.

    Two halves of one crossing ("across S Main St at E 5th St", then "... at W 5th St",
    where 5th Street changes its name at Main) are one step too. An empty label reads
    "unnamed way".
    """
    steps: list[tuple[str, float]] = []
    for label, length in zip(labels, lengths, strict=True):
        label = str(label) or UNNAMED_WAY
        if steps and _same_step(steps[-1][0], label):
            steps[-1] = (steps[-1][0], steps[-1][1] + float(length))
        else:
            steps.append((label, float(length)))
    return steps


def _same_step(previous: str, label: str) -> bool:
    if previous == label:
        return True
    crossed = re.fullmatch(r"across (.+?)(?: at .+)?", previous)
    if crossed is None:
        return False
    return re.fullmatch(rf"across {re.escape(crossed.group(1))}(?: at .+)?", label) is not None


def _pattern(template: str, **fields: str) -> re.Pattern[str]:
    """Return the regular expression that reads a phrase made from ``template`` back into its fields.

    Each ``{field}`` becomes a named group of the pattern given in ``fields`` (default: any
    text, as short as the rest allows).
    """
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>{fields.get(part, '.+?')})"
                    for i, part in enumerate(parts))
    return re.compile(regex)


def _kinds_pattern() -> str:
    """Return a pattern matching any description of an unnamed way ("footpath", "alley", ...)."""
    words = sorted(set(KIND_WORDS.values()) | {UNNAMED_WAY}, key=len, reverse=True)
    return "|".join(re.escape(word) for word in words)


#: How each phrase is read back: the template and its pattern, the more specific first
#: ("across X at Y" before "across X").
_PHRASES = tuple((template, _pattern(template, **fields)) for template, fields in (
    (ACROSS_AT, {}),
    (ACROSS, {"street": ".+"}),
    (OFF, {"what": _kinds_pattern(), "street": ".+"}),
    (FAR_CORNER, {"metres": r"\d+", "other": ".+"}),
    (NEAR, {"street": ".+"}),
))


def localise(label: str, lang: str | None) -> str:
    """Return a walking name, corner or direction made by this module in ``lang``.

    :class:`~passages.streetindex.StreetIndex` stores the English phrases of
    :func:`walking_names`, :func:`describe`, :func:`corner_name` and :func:`merge_steps`
    ("across S Main St at E 5th St", "alley off W 6th St", "footpath", "E 118th St, 90 m
    from Wilmington Ave", "near S Main St", "unnamed corner"); this reads such a phrase
    back and writes it with the words of the catalogue of ``lang`` ("cruce de S Main St en
    E 5th St"). The street names in it (from OpenStreetMap) are kept as they are, and a
    label that is no phrase of this module (a street's own name) comes back unchanged.

    Parameters
    ----------
    label
        A walking name, corner name or step of directions, in English.
    lang
        Language code (see :data:`passages.i18n.LANGUAGES`; ``None`` is English).

    Returns
    -------
    str
        The label in ``lang``.
    """
    _ = translator(lang)
    if _ is str or not label:
        return label
    if label in KIND_WORDS.values() or label in (UNNAMED_WAY, UNNAMED_CORNER):
        return _(label)
    for template, pattern in _PHRASES:
        match = pattern.fullmatch(label)
        if match is not None:
            fields = match.groupdict()
            if "what" in fields:
                fields["what"] = _(fields["what"])
            return _(template).format(**fields)
    return label

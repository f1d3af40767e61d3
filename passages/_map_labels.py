"""Street-name labels for the officer maps: drawn from the network's own names, no tiles.

At street zoom an officer needs the names of the streets to walk and to stand at, and the
offline map has no web tiles to carry them. :func:`label_points` picks the streets worth a
label (the passages, the footbeat loops, the streets meeting at a post), merges consecutive
segments of one name into a run and places one label per run (one more per
:data:`LABEL_SPACING_M` of a long run, so a run crossing the screen at zoom 17 keeps a name
in view), turned along the street. :class:`StreetLabels` draws them as text with a white halo,
shown only from :data:`LABEL_MIN_ZOOM` up.

Private to :mod:`passages.maps`.
"""

from __future__ import annotations

import math
from typing import Any

import branca.element
import numpy as np
import pandas as pd
import shapely
from folium.template import Template
from geopandas import GeoDataFrame

from passages._map_elements import COORD_DECIMALS, PlainMacro, compact_json

#: Labels show from this zoom up (street zoom: a phone screen is about 600 m wide at 16).
LABEL_MIN_ZOOM = 16

#: A run shorter than this (metres) gets no label: a crossing or a driveway, not a street.
MIN_RUN_M = 35.0

#: One label per this many metres of a run (at least one): about a phone screen at zoom 17.
LABEL_SPACING_M = 450.0

#: Two labels of one name are at least this far apart (metres), longest runs first.
LABEL_GAP_M = 200.0

#: Segments within this distance (metres) of a footbeat loop are the loop's streets.
LOOP_SNAP_M = 2.0

#: Two labels of one name are at least this far apart (metres), longest runs first.
LABEL_GAP_M = 200.0

#: Segments within this distance (metres) of a post meet at its corner.
POST_SNAP_M = 3.0

#: Name of the map pane of the labels: above the lines, below the markers (600).
LABEL_PANE = "pp-labels"


def _name(value: Any) -> str:
    """Return a segment's name as plain text ("" when unnamed; lists joined as osmnx merges)."""
    if isinstance(value, list | tuple):
        value = " / ".join(str(v) for v in value if v is not None)
    elif value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return " ".join(str(value).split())


def labelled_segments(
    segments: GeoDataFrame,
    passages: GeoDataFrame,
    *,
    loops: GeoDataFrame | None = None,
    posts: GeoDataFrame | None = None,
    crs: str | None = None,
) -> GeoDataFrame:
    """Return the named street segments to label, projected to their local UTM zone (metres).

    Parameters
    ----------
    segments
        Every street segment, LineStrings in EPSG:4326 with ``name``; an optional
        ``label`` column is used instead where present (the street names only, without the
        descriptions of unnamed ways such as "alley off Main St", which make poor labels).
    passages
        The Safe Passage segments, LineStrings in EPSG:4326 with ``name`` (and ``label``).
    loops, posts
        Footbeat loops (LineStrings) and posts (Points) in EPSG:4326: the segments along a
        loop (within :data:`LOOP_SNAP_M`) and meeting at a post (within :data:`POST_SNAP_M`)
        are labelled too.
    crs
        The projected CRS to measure in (metres), e.g. the area's UTM zone ``"EPSG:32611"``;
        by default the UTM zone of the segments, looked up in the PROJ database (about
        0.15 s).

    Returns
    -------
    GeoDataFrame
        Columns ``name`` (plain text, never empty) and ``geometry``, in ``crs``, one row per
        distinct segment geometry.
    """
    if crs is None:
        crs = segments.estimate_utm_crs() if len(segments) else passages.estimate_utm_crs()
    segments, passages = _labels_as_names(segments), _labels_as_names(passages)
    picked = [passages[["name", "geometry"]].to_crs(crs)]
    near: list[tuple[GeoDataFrame | None, float]] = [(loops, LOOP_SNAP_M), (posts, POST_SNAP_M)]
    if len(segments) and any(frame is not None and len(frame) for frame, _ in near):
        streets = segments[["name", "geometry"]].to_crs(crs)
        tree = shapely.STRtree(np.asarray(streets.geometry.values, dtype=object))
        for frame, snap_m in near:
            if frame is None or not len(frame):
                continue
            geoms = np.asarray(frame.to_crs(crs).geometry.values, dtype=object)
            _, hits = tree.query(geoms, predicate="dwithin", distance=snap_m)
            if loops is frame:
                # along the loop, not across it: the segment's middle must lie on the loop
                middles = shapely.line_interpolate_point(
                    np.asarray(streets.geometry.values, dtype=object)[hits], 0.5, normalized=True)
                on_loop = shapely.dwithin(middles, shapely.union_all(geoms), snap_m)
                hits = hits[on_loop]
            picked.append(streets.iloc[np.unique(hits)])
    frame = pd.concat(picked, ignore_index=True)
    names = np.asarray([_name(v) for v in frame["name"]], dtype=object)
    frame = GeoDataFrame({"name": names}, geometry=frame.geometry.values, crs=crs)
    frame = frame[(names != "") & ~frame.geometry.is_empty]
    keys = shapely.to_wkb(shapely.normalize(np.asarray(frame.geometry.values, dtype=object)))
    return frame[~pd.Series(keys).duplicated().to_numpy()].reset_index(drop=True)


def _labels_as_names(frame: GeoDataFrame) -> GeoDataFrame:
    """Return ``frame`` with its ``label`` column (if any) as ``name``."""
    if "label" not in frame.columns:
        return frame
    return frame.drop(columns=["name"]).rename(columns={"label": "name"})


def _angle_deg(run: shapely.LineString, at_m: float) -> float:
    """Return the screen rotation (degrees clockwise, -90..90) of a run at ``at_m`` metres."""
    half = min(15.0, run.length / 2)
    start = run.interpolate(max(0.0, at_m - half))
    end = run.interpolate(min(run.length, at_m + half))
    east, north = end.x - start.x, end.y - start.y
    if east == 0 and north == 0:
        return 0.0
    angle = -math.degrees(math.atan2(north, east))  # screen y grows downwards
    if angle > 90:
        angle -= 180
    elif angle <= -90:
        angle += 180
    return round(angle)


def label_points(
    segments: GeoDataFrame,
    passages: GeoDataFrame,
    *,
    loops: GeoDataFrame | None = None,
    posts: GeoDataFrame | None = None,
    crs: str | None = None,
) -> dict[str, Any]:
    """Return the street-name labels as a GeoJSON FeatureCollection of Points (EPSG:4326).

    Consecutive segments of one name merge into a run; a run of at least
    :data:`MIN_RUN_M` metres gets a label at its middle, and one per
    :data:`LABEL_SPACING_M` metres when longer, evenly spaced; a label closer than
    :data:`LABEL_GAP_M` to one of the same name (on a longer run) is left out. Each Point has the
    properties ``name`` (plain text: it is set as text, never read as markup) and ``angle``
    (degrees clockwise on screen, so the text reads along the street and never upside down).
    The features are sorted by name and position, so the same plan gives the same labels.
    See :func:`labelled_segments` for the parameters.
    """
    chosen = labelled_segments(segments, passages, loops=loops, posts=posts, crs=crs)
    rows: list[tuple[str, shapely.Point, float]] = []
    for name, group in chosen.groupby("name", sort=True):
        merged = shapely.line_merge(shapely.union_all(np.asarray(group.geometry.values, dtype=object)))
        runs = sorted(getattr(merged, "geoms", [merged]), key=lambda run: -run.length)
        kept: list[shapely.Point] = []
        for run in runs:
            if run.is_empty or run.length < MIN_RUN_M:
                continue
            n_labels = max(1, round(run.length / LABEL_SPACING_M))
            for k in range(n_labels):
                at_m = run.length * (k + 0.5) / n_labels
                point = run.interpolate(at_m)
                # parallel runs of one name (a street and its sidewalk) would repeat it
                if any(point.distance(other) < LABEL_GAP_M for other in kept):
                    continue
                kept.append(point)
                rows.append((str(name), point, _angle_deg(run, at_m)))
    if not rows:
        return {"type": "FeatureCollection", "features": []}
    points = GeoDataFrame(
        {"name": [r[0] for r in rows], "angle": [r[2] for r in rows]},
        geometry=[r[1] for r in rows], crs=chosen.crs,
    ).to_crs(4326)
    xy = np.round(shapely.get_coordinates(np.asarray(points.geometry.values, dtype=object)), COORD_DECIMALS)
    labels = sorted(
        (str(name), float(x), float(y), int(angle))
        for name, angle, (x, y) in zip(points["name"], points["angle"], xy, strict=True)
    )
    features = [
        {"type": "Feature", "properties": {"name": name, "angle": angle},
         "geometry": {"type": "Point", "coordinates": [x, y]}}
        for name, x, y, angle in labels
    ]
    return {"type": "FeatureCollection", "features": features}


class StreetLabels(PlainMacro):
    """The street-name labels: small text with a white halo, turned along the street.

    A GeoJSON layer of :func:`label_points`; each label is a non-interactive marker in its
    own pane (above the lines, below the place markers) whose text is set with
    ``textContent``, so a name is never read as HTML. It is put on the map only from
    ``min_zoom`` up, inside ``group`` (the "Street names" entry of the layer control), so
    switching the entry off keeps it off at every zoom.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, group) {
          if (!map.getPane({{ this.pane_js }})) { map.createPane({{ this.pane_js }}).style.zIndex = 560; }
          var labels = L.geoJson(null, {
            pointToLayer: function (feature, latlng) {
              var text = document.createElement("span");
              text.className = "pp-street-label";
              text.textContent = feature.properties.name;
              text.style.transform = "translate(-50%, -50%) rotate(" + feature.properties.angle + "deg)";
              return L.marker(latlng, {icon: L.divIcon({html: text, className: "pp-label-anchor",
                                                         iconSize: [0, 0]}),
                                       interactive: false, keyboard: false, pane: {{ this.pane_js }}});
            }
          });
          labels.addData({{ this.data_js }});
          function show() {
            if (map.getZoom() >= {{ this.min_zoom }}) { group.addLayer(labels); }
            else { group.removeLayer(labels); }
          }
          map.on("zoomend", show);
          show();
        })({{ this._parent.get_name() }}, {{ this.group.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, Any], group: branca.element.Element, *,
                 min_zoom: int = LABEL_MIN_ZOOM) -> None:
        super().__init__()
        self._name = "StreetLabels"
        self.data_js = compact_json(data)
        self.group = group
        self.min_zoom = int(min_zoom)
        self.pane_js = compact_json(LABEL_PANE)


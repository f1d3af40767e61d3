"""The building blocks of the folium maps: inline Leaflet, compact GeoJSON, styled layers,
the legend, the attribution, the page style sheet and deterministic element ids.

Private to :mod:`passages.maps`; nothing here knows about plans.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any, ClassVar

import branca.element
import folium
import numpy as np
import shapely
from folium.template import Template
from geopandas import GeoDataFrame

from passages._errors import PassagesError

#: Decimal places kept in coordinates (6 decimals = 0.1 m; finer is noise and bytes).
COORD_DECIMALS = 6

#: Leaflet is the only script and style sheet the maps need; folium's defaults also pull
#: jQuery, Bootstrap and Font Awesome from CDNs, which a phone on a weak connection pays for.
LEAFLET_JS = [("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js")]
LEAFLET_CSS = [("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css")]

#: Where the package django-js-lib-leaflet keeps Leaflet 1.9.4 (plain files; no Django needed).
LEAFLET_PACKAGE = ("js_lib_leaflet", "static/js_lib_leaflet")


def inline_leaflet() -> str:
    """Return Leaflet's style sheet and script as inline HTML, its images as data URIs."""
    try:
        folder = resources.files(LEAFLET_PACKAGE[0]).joinpath(LEAFLET_PACKAGE[1])
        script = folder.joinpath("leaflet.js").read_text(encoding="utf-8")
        css = folder.joinpath("leaflet.css").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise PassagesError(
            f"self-contained maps need Leaflet from the package django-js-lib-leaflet ({exc}): "
            "pip install django-js-lib-leaflet"
        ) from None
    for image in ("layers.png", "layers-2x.png", "marker-icon.png"):
        data = base64.b64encode(folder.joinpath("images", image).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{image})", f"url(data:image/png;base64,{data})")
    # the script must not close the page's <script> element early
    script = script.replace("</script", "<\\/script")
    return f"<style>{css}</style>\n<script>{script}</script>"



# --------------------------------------------------------------------------- GeoJSON


def compact_json(value: Any) -> str:
    """Return JSON for a ``<script>``: no spaces, UTF-8 kept, nothing that can end the script.

    folium's ``tojson`` adds a space after every comma and colon: 8 % of a street map.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def feature_collection(frame: GeoDataFrame, properties: dict[str, list[Any]]) -> dict:
    """Return a GeoJSON FeatureCollection with rounded coordinates and only ``properties``.

    Points and LineStrings (nearly everything a map draws) take their coordinates from one
    rounded coordinate table, sliced per feature; other geometries go through
    ``shapely.geometry.mapping``.
    """
    geoms = np.asarray(frame.geometry.values, dtype=object)
    coords = np.round(shapely.get_coordinates(geoms), COORD_DECIMALS).tolist()
    ends = np.cumsum(shapely.get_num_coordinates(geoms)).tolist()
    kinds = shapely.get_type_id(geoms).tolist()
    names = list(properties)
    features = []
    start = 0
    for i, (kind, end) in enumerate(zip(kinds, ends, strict=True)):
        if kind == 0 and end > start:
            geometry: dict[str, Any] = {"type": "Point", "coordinates": coords[start]}
        elif kind == 1:
            geometry = {"type": "LineString", "coordinates": coords[start:end]}
        else:
            rounded = shapely.transform(geoms[i], lambda xy: np.round(xy, COORD_DECIMALS))
            geometry = dict(shapely.geometry.mapping(rounded))
        start = end
        features.append({"type": "Feature", "properties": {name: properties[name][i] for name in names},
                         "geometry": geometry})
    return {"type": "FeatureCollection", "features": features}


class RawText(branca.element.Element):
    """Text put into the page exactly as given: never compiled or rendered as a template."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """Return the text unchanged."""
        return self.text


class PlainMacro(branca.element.MacroElement):
    """A MacroElement whose rendered parts go into the page as text.

    branca's ``MacroElement.render`` wraps each rendered part (header, html, script) in a new
    ``Element(text)``, which compiles that text as a Jinja template and renders it again.
    The text holds the map's data, so a name such as ``{{ ... }}`` in a user's places file
    would run as template code (Jinja's default environment is not sandboxed), and compiling
    hundreds of kilobytes of GeoJSON costs about 0.2 s per map. Every element of our maps
    renders through here instead; put it last among the bases of a folium class
    (``class Styled(folium.GeoJson, PlainMacro)``) so that it replaces ``MacroElement.render``
    in the chain of ``super().render`` calls.
    """

    def render(self, **kwargs: Any) -> str:
        """Add the header, html and script macros of the template to the page, as text.

        Returns "" (what is drawn goes into the page's parts, as in branca).
        """
        figure = self.get_root()
        if not isinstance(figure, branca.element.Figure):
            raise PassagesError("a map element was rendered outside a map")
        macros = self._template.module.__dict__
        for part, target in (("header", figure.header), ("html", figure.html), ("script", figure.script)):
            macro = macros.get(part)
            if macro is not None:
                target.add_child(RawText(str(macro(self, kwargs))), name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)
        return ""


_RENDERING = threading.Lock()


@contextmanager
def plain_rendering() -> Iterator[None]:
    """Render folium's own elements too as :class:`PlainMacro` does, while the block runs.

    Our elements render through :class:`PlainMacro`; folium's (the map, its layer groups
    and layer control, the calls that add a layer to its group: about a hundred per plan
    map) still compile their rendered text as templates, about 1 ms each. Their text is
    ours (ids, translated layer names), so this is for speed: ``MacroElement.render`` is
    swapped for :meth:`PlainMacro.render` inside the block and put back after it. Maps are
    rendered one at a time in a process while it is swapped (a lock), so another thread
    never sees it half done.
    """
    with _RENDERING:
        original = branca.element.MacroElement.render
        branca.element.MacroElement.render = PlainMacro.render  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            branca.element.MacroElement.render = original  # type: ignore[method-assign]


class Tooltip(folium.GeoJsonTooltip, PlainMacro):
    """folium's GeoJsonTooltip (a table of the feature's fields), rendered as plain text.

    folium's ``render`` compiles a new template for the tooltip's style sheet, and its
    parts again, on every layer (about 10 ms each); this one renders its style sheet from
    a template compiled once and its parts through :class:`PlainMacro`. The fields are
    ours, so folium's check that each is in the data is left out.
    """

    _style = Template(
        """
        <style>
            .{{ this.class_name }} { {{ this.style }} }
            .{{ this.class_name }} table { margin: auto; }
            .{{ this.class_name }} tr { text-align: left; }
            .{{ this.class_name }} th { padding: 2px; padding-right: 8px; }
        </style>
        """
    )

    def render(self, **kwargs: Any) -> str:
        """Add the style sheet and the tooltip's script to the page."""
        figure = self.get_root()
        if not isinstance(figure, branca.element.Figure):
            raise PassagesError("a map element was rendered outside a map")
        figure.header.add_child(RawText(self._style.render(this=self)), name=self.get_name() + "tablestyle")
        return PlainMacro.render(self, **kwargs)


class Styled(folium.GeoJson, PlainMacro):
    """A GeoJson layer drawn in one style given once, as Leaflet's ``style`` option.

    folium's GeoJson either styles through a per-feature lookup table or resets each
    feature's style from ``feature.properties.style``; one style per layer (a layer per
    risk class) costs no bytes per feature. Points become markers with a ``L.divIcon``
    (plain HTML, nothing loaded from a CDN). ``pane`` puts the layer in one of
    :data:`PANES`; ``svg`` draws its lines with an SVG renderer instead of the map's canvas.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJson(null, {
            style: {{ this.line_style_js }},
            {%- if this.pane_js %}
            pane: {{ this.pane_js }},
            {%- endif %}
            {%- if this.svg %}
            renderer: L.svg({pane: {{ this.pane_js or '"overlayPane"' }}}),
            {%- endif %}
            {%- if this.marker_icon_js %}
            pointToLayer: function (feature, latlng) {
                return L.marker(latlng, {icon: L.divIcon({{ this.marker_icon_js }})
                    {%- if this.pane_js %}, pane: {{ this.pane_js }}{% endif %}});
            },
            {%- endif %}
        });
        {{ this.get_name() }}.addData({{ this.data_js }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        data: dict[str, Any],
        *,
        line_style: dict[str, Any] | None = None,
        marker_html: str | None = None,
        tooltip: tuple[Sequence[str], Sequence[str]] | None = None,
        labels: bool = True,
        pane: str | None = None,
        svg: bool = False,
    ) -> None:
        super().__init__(data, control=False)
        # A map pane of its own (see PANES) orders layers above others; an SVG renderer in
        # that pane keeps the canvas of the layers below reachable by the pointer.
        self.pane_js = compact_json(pane) if pane else ""
        self.svg = svg
        self.data_js = compact_json(data)
        self.line_style_js = compact_json(line_style or {})
        self.marker_icon_js = (
            compact_json(
                {"html": marker_html, "className": "pp-icon", "iconSize": [20, 20],
                 "iconAnchor": [10, 10]}
            )
            if marker_html
            else ""
        )
        if tooltip is not None:
            fields, aliases = tooltip
            self.add_child(Tooltip(fields=list(fields), aliases=list(aliases), labels=labels))



# --------------------------------------------------------------------------- legend


def swatch_row(color: str, weight: float, label: str) -> str:
    return (
        f'<div class="pp-row"><span class="pp-line" '
        f'style="border-top:{weight:g}px solid {color}"></span>{label}</div>'
    )


def icon_row(marker_html: str, label: str) -> str:
    return f'<div class="pp-row"><span class="pp-key">{marker_html}</span>{label}</div>'


def dash_row(color: str, weight: float, dash: str, label: str) -> str:
    """Return a legend row with a dashed line drawn as the map draws it (an inline SVG)."""
    return (
        f'<div class="pp-row"><svg class="pp-line" width="28" height="{weight + 4:g}" aria-hidden="true">'
        f'<line x1="0" y1="{weight / 2 + 2:g}" x2="28" y2="{weight / 2 + 2:g}" stroke="{color}" '
        f'stroke-width="{weight:g}" stroke-dasharray="{dash}"/></svg>{label}</div>'
    )


def icons_row(markers_html: Sequence[str], label: str) -> str:
    """Return a legend row with several markers side by side (an officer's numbered posts)."""
    keys = "".join(markers_html)
    return f'<div class="pp-row"><span class="pp-keys">{keys}</span>{label}</div>'


MAP_CSS = """
.leaflet-container { background: #ffffff; }
.leaflet-control-attribution { max-width: calc(100vw - 120px); }
@media (max-width: 600px) { .leaflet-control-attribution { font-size: 9px; } }
/* beside the open legend (10 + 250 px wide at the bottom left), never under it */
@media (min-width: 601px) { .leaflet-control-attribution { max-width: calc(100vw - 290px); } }
/* the sources take one line (OpenStreetMap's credit first, always shown) until tapped: five
   lines of credits would cover the bottom of a phone map */
.leaflet-control-attribution.pp-short { white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  cursor: pointer; }
@media print { .leaflet-control-attribution.pp-short { white-space: normal; } }
.pp-box { position: fixed; z-index: 1000; background: rgba(255,255,255,0.94);
  border: 1px solid #8c8c8c; border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,0.3);
  font: 12px/1.35 "Helvetica Neue", Arial, sans-serif; color: #1a1a1a; }
.pp-title { top: 10px; left: 66px; max-width: calc(100% - 142px); box-sizing: border-box; padding: 6px 10px;
  font-size: 15px; font-weight: bold; }
.pp-legend { left: 10px; bottom: 62px; padding: 6px 10px; max-width: 250px;
  max-height: calc(100% - 250px); overflow-y: auto; }
.pp-legend summary { font-weight: bold; cursor: pointer; min-height: 32px; line-height: 32px; }
.pp-legend h4 { margin: 6px 0 2px; font-size: 12px; }
.pp-row { display: flex; align-items: center; min-height: 18px; }
.pp-line { display: inline-block; width: 28px; margin-right: 8px; }
.pp-key { display: inline-block; width: 28px; margin-right: 8px; }
.pp-key .pp-place { margin: 1px 3px; }
.pp-keys { display: inline-flex; gap: 3px; min-width: 28px; margin-right: 8px; }
.pp-street-label { position: absolute; left: 0; top: 0; white-space: nowrap; pointer-events: none;
  font: bold 11px/1.1 "Helvetica Neue", Arial, sans-serif; color: #1a1a1a; letter-spacing: 0.2px;
  text-shadow: 0 0 2px #ffffff, 0 0 2px #ffffff, 0 0 3px #ffffff, 0 0 4px #ffffff; }
.pp-label-anchor { background: none; border: none; }
.leaflet-pp-loops-pane > svg { pointer-events: none; }
.pp-icon { background: none; border: none; }
.pp-place { width: 16px; height: 16px; border-radius: 50%; border: 2px solid #ffffff;
  box-shadow: 0 0 2px #000000; color: #ffffff; text-align: center;
  font: bold 11px/16px Arial, sans-serif; }
.pp-unusable { background: #9e9e9e; opacity: 0.8; border-style: dashed; border-color: #4d4d4d; }
.leaflet-touch .leaflet-bar a { width: 44px; height: 44px; line-height: 44px; font-size: 22px; }
.leaflet-touch .leaflet-control-layers-toggle { width: 44px; height: 44px; }
.leaflet-control-layers-list label { min-height: 32px; line-height: 32px; }
.pp-locate a { cursor: pointer; font-weight: bold; }
.pp-officer { min-width: 18px; height: 18px; padding: 0 3px; border-radius: 3px; border: 2px solid #ffffff;
  box-shadow: 0 0 2px #000000; color: #ffffff; text-align: center; font: bold 12px/18px Arial, sans-serif; }
.pp-located { color: #1a1a1a; }
@media print {
  .pp-box { box-shadow: none; }
  .leaflet-control-layers, .leaflet-control-zoom, .pp-locate { display: none; }
  .pp-legend { max-height: none; overflow: visible; }
}
"""


class Legend(PlainMacro):
    """The title box, the legend box and their style sheet, as fixed-position HTML."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="pp-box pp-title">{{ this.title }}</div>
        <details class="pp-box pp-legend" id="pp-legend" open>
        <summary>{{ this.legend_word }}</summary>
        {{ this.body }}
        </details>
        <script>
        // closed on a phone and in a small frame (a side-by-side page): open, it would hide the map
        if (window.innerWidth < 600 || window.innerHeight < 700) { document.getElementById("pp-legend").open = false; }
        window.addEventListener("beforeprint", function () {
          document.getElementById("pp-legend").open = true;
        });
        </script>
        {% endmacro %}
        """
    )

    def __init__(self, title: str, sections: Sequence[tuple[str, Sequence[str]]], *, legend_word: str = "Legend"
                 ) -> None:
        super().__init__()
        self._name = "Legend"
        self.title = title
        self.legend_word = html.escape(legend_word)
        self.css = MAP_CSS
        self.body = "\n".join(
            f"<h4>{heading}</h4>\n" + "\n".join(rows) for heading, rows in sections if rows
        )


class Attribution(PlainMacro):
    """Attribution lines added to the map's attribution control (they stay without tiles)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {%- for line in this.lines %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ line }});
        {%- endfor %}
        (function (box) {
          // one line until tapped (a tap on a link still follows it); the class outlives Leaflet's redraws
          box.classList.add("pp-short");
          box.title = {{ this.more|tojson }};
          box.addEventListener("click", function (event) {
            if (event.target.closest("a")) { return; }
            box.classList.toggle("pp-short");
          });
        })({{ this._parent.get_name() }}.attributionControl.getContainer());
        {% endmacro %}
        """
    )

    def __init__(self, lines: Sequence[str], *, more: str = "Tap for all sources") -> None:
        super().__init__()
        self._name = "Attribution"
        self.more = more
        # Kept readable in the HTML (a literal ©), but never able to close the script.
        self.lines = [compact_json(line) for line in lines]


class FitBounds(PlainMacro):
    """Open the map on a bounding box at once, without the zoom animation.

    folium's ``fit_bounds`` animates from the initial view; a canvas drawn mid-animation
    stays clipped to the old view in a headless screenshot or an early print.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.fitBounds({{ this.bounds|tojson }}, {animate: false});
        {% endmacro %}
        """
    )

    def __init__(self, bounds: list[list[float]]) -> None:
        super().__init__()
        self._name = "FitBounds"
        self.bounds = bounds


# --------------------------------------------------------------------------- map

#: Map panes above Leaflet's overlay pane (400, the streets and passages) and their z-index:
#: footbeat loops above the passages, street names above the lines, posts above the place
#: markers (600) and below the tooltips (650).
PANES: dict[str, int] = {"pp-loops": 450, "pp-labels": 560, "pp-posts": 620}


class Panes(PlainMacro):
    """Create the map panes of :data:`PANES`; add it to the map before any layer."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {%- for name, z_index in this.panes %}
        {{ this._parent.get_name() }}.createPane({{ name }}).style.zIndex = {{ z_index }};
        {%- endfor %}
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "Panes"
        self.panes = [(compact_json(name), int(z_index)) for name, z_index in PANES.items()]


class ZoomGate(PlainMacro):
    """Show layers only from a zoom level up (street zoom), or only below it with ``below``.

    A layer is added to and removed from its parent (a layer-control group), not the map,
    so a group the reader switched off stays off at every zoom.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, pairs) {
          function show() {
            var near = map.getZoom() >= {{ this.min_zoom }}{{ " === false" if this.below }};
            pairs.forEach(function (pair) {
              if (near) { pair[1].addLayer(pair[0]); } else { pair[1].removeLayer(pair[0]); }
            });
          }
          map.on("zoomend", show);
          show();
        })({{ this._parent.get_name() }}, [
        {%- for layer in this.layers -%}
        [{{ layer.get_name() }}, {{ layer._parent.get_name() }}]{{ "," if not loop.last }}
        {%- endfor %}]);
        {% endmacro %}
        """
    )

    def __init__(self, layers: Sequence[branca.element.Element], *, min_zoom: int, below: bool = False) -> None:
        super().__init__()
        self._name = "ZoomGate"
        self.layers = list(layers)
        self.min_zoom = int(min_zoom)
        self.below = below


def renumber(root: branca.element.Element) -> None:
    """Give every element of the tree a counter id, so the same plan gives the same HTML.

    folium draws element ids from ``os.urandom``; they end up as JavaScript variable names.
    """
    counter = itertools.count(1)

    def visit(element: branca.element.Element) -> None:
        old_name = element.get_name()
        element._id = str(next(counter))
        if element._parent is not None and old_name in element._parent._children:
            siblings = element._parent._children
            element._parent._children = OrderedDict(
                (element.get_name() if key == old_name else key, child)
                for key, child in siblings.items()
            )
        for child in list(element._children.values()):
            visit(child)
        for part in ("header", "html", "script"):
            sub = getattr(element, part, None)
            if isinstance(sub, branca.element.Element) and element is root:
                visit(sub)

    visit(root)


class Locate(PlainMacro):
    """A "where am I" button: the browser's geolocation (the phone's GPS), no server asked.

    Shows the position as a dot with its accuracy circle, and says so in the title box
    when the position is refused or unknown.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map) {
          var control = L.control({position: "topleft"});
          control.onAdd = function () {
            var box = L.DomUtil.create("div", "leaflet-bar leaflet-control pp-locate");
            var link = L.DomUtil.create("a", "", box);
            link.href = "#"; link.title = {{ this.words.where|tojson }}; link.setAttribute("role", "button");
            link.setAttribute("aria-label", {{ this.words.where|tojson }});
            // drawn, not a font glyph: every phone shows it the same
            link.innerHTML = '<svg width="22" height="22" viewBox="0 0 22 22" style="vertical-align:middle">'
              + '<circle cx="11" cy="11" r="6" fill="none" stroke="#1a1a1a" stroke-width="2"/>'
              + '<circle cx="11" cy="11" r="2.2" fill="#1a1a1a"/>'
              + '<path d="M11 1v4M11 17v4M1 11h4M17 11h4" stroke="#1a1a1a" stroke-width="2"/></svg>';
            L.DomEvent.on(link, "click", function (event) {
              L.DomEvent.stop(event);
              map.locate({setView: true, maxZoom: 17, enableHighAccuracy: true});
            });
            return box;
          };
          control.addTo(map);
          var here = L.layerGroup().addTo(map);
          map.on("locationfound", function (event) {
            here.clearLayers();
            L.circle(event.latlng, {radius: event.accuracy, weight: 1, color: "#136aec",
                                    fillOpacity: 0.1, interactive: false}).addTo(here);
            L.circleMarker(event.latlng, {radius: 7, weight: 3, color: "#ffffff", fillColor: "#136aec",
                                          fillOpacity: 1}).bindTooltip({{ this.words.here|tojson }}).addTo(here);
          });
          map.on("locationerror", function (event) {
            var title = document.querySelector(".pp-title");
            if (title) { title.textContent = title.textContent.split(" \u2014 ")[0]
                         + " \u2014 " + {{ this.words.unknown|tojson }} + ": " + event.message; }
          });
          // Leaflet's own zoom buttons, in the map's language
          [["in", {{ this.words.zoom_in|tojson }}], ["out", {{ this.words.zoom_out|tojson }}]].forEach(function (z) {
            var button = map.getContainer().querySelector(".leaflet-control-zoom-" + z[0]);
            if (button) { button.title = z[1]; button.setAttribute("aria-label", z[1]); }
          });
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    #: The button's and messages' words in English; :func:`passages.maps.plan_map` gives them translated.
    WORDS: ClassVar[dict[str, str]] = {"where": "Where am I?", "here": "You are here", "unknown": "position unknown",
             "zoom_in": "Zoom in", "zoom_out": "Zoom out"}

    def __init__(self, words: dict[str, str] | None = None) -> None:
        super().__init__()
        self._name = "Locate"
        self.words = {**self.WORDS, **(words or {})}

"""Engagement areas: the eight CSP sites, the offline sample areas, a planner's own.

An :class:`Area` is a site (a centre point, or a polygon a planner supplies) and a walking
radius around it; the *study polygon* is the site buffered by that radius, and is what the
street network, the places and the incidents are clipped to.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from passages import settings
from passages._errors import InputError, UnknownAreaError
from passages._inputs import check_text_file
from passages._names import clean_name
from passages._names import slug as safe_slug

#: Kinds of area: a CSP engagement area, an offline sample area, a planner's own.
AREA_KINDS = ("csp", "sample", "custom")


def _reproject(geom: BaseGeometry, transformer: pyproj.Transformer) -> BaseGeometry:
    def coords(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    result: BaseGeometry = shapely.transform(geom, coords)
    return result


def utm_crs_for(lat: float, lon: float) -> str:
    """Return the EPSG code (``"EPSG:326NN"`` or ``"EPSG:327NN"``) of the UTM zone of a point.

    Parameters
    ----------
    lat, lon
        The point in EPSG:4326 degrees.
    """
    zone = math.floor((lon + 180.0) / 6.0) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


@dataclass(frozen=True)
class Area:
    """One engagement area.

    Attributes
    ----------
    slug
        Short identifier used on the command line and in output paths.
    name
        Human name shown on maps.
    kind
        ``"csp"``, ``"sample"`` or ``"custom"``.
    lat, lon
        Site centre in EPSG:4326 degrees.
    radius_m
        Walking radius around the site, in metres.
    site
        The site polygon in EPSG:4326 when a planner supplied one, else ``None``
        (the site is then its centre point).
    division
        LAPD division(s), for information.
    sources
        The local files each stage reads, by kind (``"network"``, ``"incidents"``,
        ``"schools"``, ``"transit"``, ``"parks"``, ``"libraries"``), relative to the shared
        data folder. Shipped areas use the Los Angeles-wide files for every kind but the
        network, which only the sample areas have locally.
    """

    slug: str
    name: str
    kind: str
    lat: float
    lon: float
    radius_m: float = settings.radius_m
    site: BaseGeometry | None = None
    division: str = ""
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def crs(self) -> str:
        """EPSG code of the area's UTM zone, where every metric step runs."""
        return utm_crs_for(self.lat, self.lon)

    @property
    def offline(self) -> bool:
        """Whether the area has a local street network (the sample areas do)."""
        return "network" in self.sources

    @cached_property
    def _to_utm(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(settings.input_crs, self.crs, always_xy=True)

    @cached_property
    def _to_wgs(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(self.crs, settings.input_crs, always_xy=True)

    def to_utm(self, geom: BaseGeometry) -> BaseGeometry:
        """Return ``geom`` (EPSG:4326) in the area's UTM CRS (metres)."""
        return _reproject(geom, self._to_utm)

    def to_wgs(self, geom: BaseGeometry) -> BaseGeometry:
        """Return ``geom`` (area UTM, metres) in EPSG:4326."""
        return _reproject(geom, self._to_wgs)

    @property
    def site_utm(self) -> BaseGeometry:
        """The site (polygon, or centre point) in the area's UTM CRS."""
        return self.to_utm(self.site if self.site is not None else Point(self.lon, self.lat))

    @property
    def study_polygon_utm(self) -> Polygon | MultiPolygon:
        """The site buffered by ``radius_m``, in the area's UTM CRS (metres)."""
        polygon = shapely.buffer(self.site_utm, self.radius_m, quad_segs=32)
        assert isinstance(polygon, Polygon | MultiPolygon)
        return polygon

    @property
    def study_polygon(self) -> Polygon | MultiPolygon:
        """The site buffered by ``radius_m``, in EPSG:4326."""
        polygon = self.to_wgs(self.study_polygon_utm)
        assert isinstance(polygon, Polygon | MultiPolygon)
        return polygon

    def with_radius(self, radius_m: float) -> Area:
        """Return a copy of this area with another walking radius (metres)."""
        if not radius_m > 0:
            raise InputError(
                f"walking radius must be positive, got {radius_m}",
                field="radius_m",
                fix="Give a radius in metres, such as 1200.",
            )
        return Area(
            self.slug, self.name, self.kind, self.lat, self.lon, radius_m,
            self.site, self.division, self.sources,
        )

    def source_paths(self, kind: str, data_dir: Path) -> list[Path]:
        """Return the local files of one kind for this area, resolved under ``data_dir``."""
        return [data_dir / rel for rel in self.sources.get(kind, ())]


#: Walking radii an area file or a scenario may give (metres, inclusive): a CSP
#: engagement area reaches 400 m to 2 km around the site; 100 m is a block, 5 km an hour
#: of walking. A larger radius would make every later stage download and plan a city.
RADIUS_RANGE_M = (100.0, 5000.0)

#: Largest side of a planner's site polygon (metres): CSP sites are housing developments
#: of a few hundred metres; a polygon larger than this is a wrong file or a wrong CRS.
MAX_SITE_SPAN_M = 10_000.0


def _number(value: Any, *, path: str | Path, row: int | None, field: str,
            low: float | None = None, high: float | None = None, unit: str = "") -> float:
    """Return ``value`` as a finite float within [low, high], else raise InputError.

    Numbers and text holding a number (``"800"``) are accepted; booleans, other text,
    NaN and infinities are not.
    """
    fix = (f"Give {field} as a number" + (f" from {low:g} to {high:g}{unit}" if low is not None
                                           and high is not None else "") + ".")
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None:
        shown = repr(value) if len(repr(value)) <= 40 else f"a {type(value).__name__}"
        raise InputError(f"expected a number, got {shown}", path=path, row=row, field=field, fix=fix)
    if not math.isfinite(number):
        raise InputError(f"must be a finite number, got {number}", path=path, row=row, field=field, fix=fix)
    if (low is not None and number < low) or (high is not None and number > high):
        raise InputError(f"{number:g}{unit} is out of range", path=path, row=row, field=field, fix=fix)
    return number


def _radius(value: Any, *, path: str | Path, row: int | None) -> float:
    """Return a walking radius in metres, checked against :data:`RADIUS_RANGE_M`."""
    low, high = RADIUS_RANGE_M
    return _number(value, path=path, row=row, field="radius_m", low=low, high=high, unit=" m")


def _text_field(value: Any, *, path: str | Path, row: int | None, field: str, default: str) -> str:
    """Return a display text (name, division) cleaned by :func:`clean_name`; refuse non-text."""
    if value is None:
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InputError(f"expected text, got a {type(value).__name__}", path=path, row=row,
                         field=field, fix=f"Give {field} as text.")
    return clean_name(value, default=default)


def _area_from_record(record: Any, origin: str | Path, row: int | None = None) -> Area:
    """Return the area of one record of ``areas.json``, every field checked.

    ``slug`` must pass :func:`passages._names.slug`; ``lat`` and ``lon`` are finite
    degrees (±90, ±180); ``radius_m`` lies within :data:`RADIUS_RANGE_M` (metres); ``name``
    and ``division`` pass :func:`passages._names.clean_name`; ``sources`` maps a kind to a
    list of relative paths.
    """
    if not isinstance(record, dict):
        raise InputError(f"an area must be an object, got a {type(record).__name__}", path=origin,
                         row=row, fix="Each area needs slug, lat and lon.")
    for key in ("slug", "lat", "lon"):
        if key not in record:
            raise InputError("area record lacks a required key", path=origin, row=row, field=key,
                             fix="Each area needs slug, lat and lon.")
    try:
        area_slug = safe_slug(record["slug"], field="slug", path=origin)
    except InputError as exc:
        raise InputError(exc.problem, path=origin, row=row, field="slug", fix=exc.fix) from None
    sources = record.get("sources", {})
    if not isinstance(sources, dict) or not all(
            isinstance(v, list) and all(isinstance(p, str) for p in v) for v in sources.values()):
        raise InputError("sources must map a kind to a list of file paths", path=origin, row=row,
                         field="sources", fix='Write sources as {"schools": ["poi/schools.geojson"]}.')
    return Area(
        slug=area_slug,
        name=_text_field(record.get("name"), path=origin, row=row, field="name", default=area_slug),
        kind=str(record.get("kind", "custom")) if record.get("kind", "custom") in AREA_KINDS else "custom",
        lat=_number(record["lat"], path=origin, row=row, field="lat", low=-90, high=90, unit="°"),
        lon=_number(record["lon"], path=origin, row=row, field="lon", low=-180, high=180, unit="°"),
        radius_m=_radius(record.get("radius_m", settings.radius_m), path=origin, row=row),
        division=_text_field(record.get("division"), path=origin, row=row, field="division", default=""),
        sources={str(k): tuple(v) for k, v in sources.items()},
    )


def builtin_areas() -> dict[str, Area]:
    """Return the shipped areas (eight CSP sites and three samples) by slug."""
    text = resources.files("passages").joinpath("data/areas.json").read_text(encoding="utf-8")
    data = json.loads(text)
    areas = {}
    for number, record in enumerate(data["areas"], start=1):
        # every shipped area is in Los Angeles: the LA-wide files serve each stage the
        # area does not name a file of its own for
        record = {**record, "sources": {**data["la_sources"], **record.get("sources", {})}}
        area = _area_from_record(record, "passages/data/areas.json", number)
        areas[area.slug] = area
    return areas


def _site_geometry(feature: dict[str, Any], path: Path, row: int) -> BaseGeometry:
    """Return a feature's Point, Polygon or MultiPolygon, checked to be finite degrees."""
    fix = "Use Point, Polygon or MultiPolygon geometries in EPSG:4326 (longitude, latitude)."
    raw = feature.get("geometry")
    if raw is None:
        raise InputError("feature has no geometry", path=path, row=row, field="geometry", fix=fix)
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises many types on malformed GeoJSON geometries
        raise InputError(f"bad geometry ({type(exc).__name__}: {exc})", path=path, row=row,
                         field="geometry", fix=fix) from None
    if geom.geom_type not in ("Point", "Polygon", "MultiPolygon"):
        raise InputError(f"unsupported geometry {geom.geom_type}", path=path, row=row,
                         field="geometry", fix=fix)
    if geom.is_empty:
        raise InputError("geometry is empty", path=path, row=row, field="geometry", fix=fix)
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise InputError("geometry has coordinates that are not finite numbers", path=path, row=row,
                         field="geometry", fix=fix)
    if not ((np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all()):
        raise InputError("coordinates are not longitude/latitude", path=path, row=row,
                         field="geometry", fix="Reproject the file to EPSG:4326.")
    if not geom.is_valid:
        geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
        if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError("the site polygon is invalid and cannot be repaired", path=path,
                             row=row, field="geometry", fix=fix)
    return geom


def areas_from_geojson(path: str | Path, *, radius_m: float | None = None) -> dict[str, Area]:
    """Read a planner's own areas from a GeoJSON file.

    Each feature is one area: a Polygon or MultiPolygon (the site itself, at most
    :data:`MAX_SITE_SPAN_M` metres across), or a Point (a site centre), in EPSG:4326.
    Properties: ``slug`` (required; 1 to 64 letters, digits, ``-`` or ``_``, unique in
    the file: it names output folders), ``name`` (shown on maps), ``division``,
    ``radius_m`` (walking radius in metres, from 100 to 5,000 m,
    :data:`RADIUS_RANGE_M`; default ``radius_m`` or :data:`passages.settings.radius_m`;
    a number or text holding one).

    Parameters
    ----------
    path
        GeoJSON file in EPSG:4326.
    radius_m
        Walking radius for features that do not carry one, in metres.

    Returns
    -------
    dict of str to Area
        The areas by slug, in file order.

    Raises
    ------
    InputError
        One line naming the file, the feature number (``row``, 1-based) and the field:
        the file is missing, a folder, binary or not JSON; it has no ``features`` list; a
        feature is not an object, its ``properties`` are not an object, its slug is
        missing, unsafe (``..``, ``a/b``, too long) or repeated, its ``radius_m`` is not a
        finite number within range, its geometry is missing, malformed, not finite, not
        longitude/latitude, or a site polygon too large.
    """
    path = check_text_file(path, what="areas file", fix="Give a GeoJSON file of areas.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=path,
                         fix="Export the areas as GeoJSON.") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not features:
        raise InputError("no features", path=path, field="features",
                         fix="The file must be a GeoJSON FeatureCollection with one feature per area.")
    default_radius = _radius(radius_m if radius_m is not None else settings.radius_m, path=path, row=None)
    areas: dict[str, Area] = {}
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict):
            raise InputError(f"a feature must be an object, got a {type(feature).__name__}", path=path,
                             row=number, fix="Give GeoJSON Features with properties and geometry.")
        props = feature.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise InputError(f"properties must be an object, got a {type(props).__name__}", path=path,
                             row=number, field="properties", fix='Give properties such as {"slug": "my-site"}.')
        if props.get("slug") in (None, ""):
            raise InputError("feature has no slug", path=path, row=number, field="slug",
                             fix="Give every feature a short 'slug' property such as 'my-site'.")
        try:
            area_slug = safe_slug(props["slug"], field="slug", path=path)
        except InputError as exc:
            raise InputError(exc.problem, path=path, row=number, field="slug", fix=exc.fix) from None
        if area_slug in areas:
            raise InputError(f"slug {area_slug!r} is used twice", path=path, row=number, field="slug",
                             fix="Give every area its own slug.")
        radius = _radius(props.get("radius_m", default_radius), path=path, row=number)
        geom = _site_geometry(feature, path, number)
        site: BaseGeometry | None
        if isinstance(geom, Point):
            site = None
            lon, lat = geom.x, geom.y
        else:
            site = geom
            lon, lat = geom.centroid.x, geom.centroid.y
        area = Area(area_slug, _text_field(props.get("name"), path=path, row=number, field="name",
                                           default=area_slug),
                    "custom", lat, lon, radius, site,
                    _text_field(props.get("division"), path=path, row=number, field="division", default=""))
        if site is not None:
            west, south, east, north = area.site_utm.bounds
            if max(east - west, north - south) > MAX_SITE_SPAN_M:
                raise InputError(
                    f"the site polygon is {max(east - west, north - south) / 1000:,.1f} km across, more "
                    f"than {MAX_SITE_SPAN_M / 1000:g} km", path=path, row=number, field="geometry",
                    fix="Draw the site itself (the housing development), not the whole study area; "
                        "radius_m adds the walking distance around it.")
        areas[area_slug] = area
    return areas


def load_areas(path: str | Path | None = None) -> dict[str, Area]:
    """Return every known area by slug: the shipped ones, plus a planner's GeoJSON file.

    A planner's area with the slug of a shipped one replaces it.
    """
    areas = builtin_areas()
    if path is not None:
        areas.update(areas_from_geojson(path))
    return areas


def get_area(slug: str, *, areas_file: str | Path | None = None) -> Area:
    """Return the area called ``slug``; raise :class:`UnknownAreaError` naming the choices."""
    areas = load_areas(areas_file)
    if slug not in areas:
        raise UnknownAreaError(
            f"unknown area {slug!r}", field="--area",
            fix="Known areas: " + ", ".join(sorted(areas)) + ". Run 'passages areas' to list them.",
        )
    return areas[slug]

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


def _area_from_record(record: dict[str, Any], origin: str) -> Area:
    try:
        slug = str(record["slug"])
        return Area(
            slug=slug,
            name=str(record.get("name", slug)),
            kind=str(record.get("kind", "custom")),
            lat=float(record["lat"]),
            lon=float(record["lon"]),
            radius_m=float(record.get("radius_m", settings.radius_m)),
            division=str(record.get("division", "")),
            sources={k: tuple(v) for k, v in record.get("sources", {}).items()},
        )
    except KeyError as exc:
        raise InputError(
            "area record lacks a required key", path=origin, field=str(exc.args[0]),
            fix="Each area needs slug, lat and lon.",
        ) from None


def builtin_areas() -> dict[str, Area]:
    """Return the shipped areas (eight CSP sites and three samples) by slug."""
    text = resources.files("passages").joinpath("data/areas.json").read_text(encoding="utf-8")
    data = json.loads(text)
    areas = {}
    for record in data["areas"]:
        # every shipped area is in Los Angeles: the LA-wide files serve each stage the
        # area does not name a file of its own for
        record = {**record, "sources": {**data["la_sources"], **record.get("sources", {})}}
        areas[record["slug"]] = _area_from_record(record, "passages/data/areas.json")
    return areas


def areas_from_geojson(path: str | Path, *, radius_m: float | None = None) -> dict[str, Area]:
    """Read a planner's own areas from a GeoJSON file.

    Each feature is one area: a Polygon or MultiPolygon (the site itself), or a Point (a
    site centre). Properties: ``slug`` (required), ``name``, ``radius_m`` (walking radius
    in metres; default ``radius_m`` or :data:`passages.settings.radius_m`).

    Parameters
    ----------
    path
        GeoJSON file in EPSG:4326.
    radius_m
        Walking radius for features that do not carry one, in metres.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, fix="Check the path of the areas file.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=path,
                         fix="Export the areas as GeoJSON.") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not features:
        raise InputError("no features", path=path,
                         fix="The file must be a GeoJSON FeatureCollection with one feature per area.")
    areas: dict[str, Area] = {}
    for number, feature in enumerate(features, start=1):
        props = feature.get("properties") or {}
        slug = props.get("slug")
        if not slug:
            raise InputError("feature has no slug", path=path, row=number, field="slug",
                             fix="Give every feature a short 'slug' property such as 'my-site'.")
        try:
            geom = shape(feature["geometry"])
        except Exception as exc:
            raise InputError(f"bad geometry ({exc})", path=path, row=number, field="geometry",
                             fix="Use Point, Polygon or MultiPolygon geometries.") from None
        radius = float(props.get("radius_m", radius_m if radius_m is not None else settings.radius_m))
        if not radius > 0:
            raise InputError(f"radius_m must be positive, got {radius}", path=path, row=number,
                             field="radius_m", fix="Give the walking radius in metres.")
        if isinstance(geom, Point):
            site = None
            lon, lat = geom.x, geom.y
        elif geom.geom_type in ("Polygon", "MultiPolygon"):
            site = geom
            lon, lat = geom.centroid.x, geom.centroid.y
        else:
            raise InputError(f"unsupported geometry {geom.geom_type}", path=path, row=number,
                             field="geometry", fix="Use Point, Polygon or MultiPolygon geometries.")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise InputError("coordinates are not longitude/latitude", path=path, row=number,
                             field="geometry", fix="Reproject the file to EPSG:4326.")
        areas[str(slug)] = Area(str(slug), str(props.get("name", slug)), "custom", lat, lon,
                                radius, site, str(props.get("division", "")))
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

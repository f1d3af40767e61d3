"""Where walks to school start: the site, the homes of the study area, or both.

Demand models (the plan parameter ``demand``, :data:`passages.scenarios.DEMAND_MODELS`)
----------------------------------------------------------------------------------------
``"site"``
    Every school's walkers start at the site: its centre, or a site polygon's entrances
    (:func:`passages.routes.site_origins`). Right for the children of one housing
    development; it leaves the rest of a school's attendance area without demand.
``"homes"``
    Walks start from the *home blocks* of the study area. Where people live is read from
    the street network itself: OSM ``highway=residential`` and ``living_street`` segments
    (a segment of several merged ways counts when any of them is residential). Their
    length is gathered in square cells of :data:`passages.settings.home_cell_m` metres;
    each cell with residential street is one home block, whose origin is the end node of
    one of its residential segments nearest the cell's length-weighted centre. Each block
    walks to its nearest school along the network (its *catchment*), if that school is
    within :data:`passages.settings.home_walk_m` metres of walking; blocks farther from
    every school have no walk (counted, not routed). A school's walkers (its enrolment,
    else :data:`passages.settings.default_enrollment`) are shared among the blocks of its
    catchment in proportion to their residential street length, so the demand of the home
    walks adds up to the walkers of the schools they reach: nothing is made or lost.
``"both"``
    The two together: the site's walks stand for the development's own children (the
    CSP program's focus) and the home walks for the schools' whole attendance areas; a
    segment walked by both carries the walkers of both. The default for CSP sites
    (:func:`default_demand`).

School-to-transit, park and library links (:func:`passages.routes.od_pairs`) are the same
in every model.

Building footprints or ``landuse=residential`` polygons would place homes better than
street length; the OSM extracts the tool reads hold highway ways only, so they are not
used yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from passages import settings
from passages._errors import InputError
from passages.areas import Area
from passages.streetindex import StreetIndex

#: OSM highway values taken as streets people live on.
RESIDENTIAL_HIGHWAYS = frozenset({"residential", "living_street"})

#: Purpose of a walk from a home block to its school (site walks are ``"home-school"``).
HOME_PURPOSE = "home-school"

#: Prefix of the origin id of a home block (``"home-0001"``).
HOME_ID_PREFIX = "home-"

_PAIR_COLUMNS = ["purpose", "origin_id", "origin_name", "origin_node",
                 "dest_id", "dest_name", "dest_kind", "dest_node", "demand"]


def default_demand(area: Area) -> str:
    """Return the demand model an area plans with when none is given.

    ``"both"`` for a CSP site (the development's children and the schools' attendance
    areas); ``"site"`` for the sample and custom areas, whose plans stay as they were
    before home blocks existed unless ``demand`` is given.
    """
    return "both" if area.kind == "csp" else "site"


def residential_length(index: StreetIndex) -> np.ndarray:
    """Return the residential street length of every segment (metres; 0 for other streets).

    A segment counts whole when any of its OSM highway values (merged ways are joined by
    ``" / "``) is in :data:`RESIDENTIAL_HIGHWAYS`.
    """
    flags = np.fromiter(
        (any(part.strip() in RESIDENTIAL_HIGHWAYS for part in str(h).split("/")) for h in index.segment_highway),
        dtype=bool, count=index.n_segments)
    return np.where(flags, index.segment_length, 0.0)


@dataclass(frozen=True)
class HomeBlocks:
    """The home blocks of a study area: where home walks start.

    Attributes
    ----------
    origin_id
        ``"home-0001"``, ... in order of the cells from south-west to north-east.
    name
        The longest residential street of the block (``"unnamed"`` fallback from the index).
    node
        OSM node id of each block's origin.
    residential_m
        Residential street length of each block (metres), its weight.
    cell_m
        Side of the cells (metres).
    """

    origin_id: list[str]
    name: list[str]
    node: np.ndarray
    residential_m: np.ndarray
    cell_m: float

    def __len__(self) -> int:
        return len(self.origin_id)


def home_blocks(index: StreetIndex, *, cell_m: float | None = None) -> HomeBlocks:
    """Gather the residential streets of an index into home blocks.

    Parameters
    ----------
    index
        Street index of the projected graph (metres).
    cell_m
        Side of the square cells (metres); default :data:`passages.settings.home_cell_m`.

    Returns
    -------
    HomeBlocks
        One block per cell with residential street; two cells whose origins fall on the
        same node make one block.
    """
    cell_m = settings.home_cell_m if cell_m is None else float(cell_m)
    if not cell_m > 0:
        raise InputError(f"home cell size must be positive, got {cell_m}", field="home_cell_m",
                         fix="Give the cell side in metres, such as 100.")
    weight = residential_length(index)
    segs = np.flatnonzero(weight > 0)
    if len(segs) == 0:
        return HomeBlocks([], [], np.empty(0, dtype=np.int64), np.empty(0), cell_m)
    mid = shapely.get_coordinates(shapely.line_interpolate_point(index.segment_geometry[segs], 0.5, normalized=True))
    cell_xy = np.floor(mid / cell_m).astype(np.int64)
    # cells in order south-west to north-east (row by row), so ids do not depend on segment order
    _, cell_of = np.unique(cell_xy[:, ::-1], axis=0, return_inverse=True)
    cell_of = cell_of.ravel()
    w = weight[segs]
    cell_w = np.bincount(cell_of, weights=w)
    centre = np.column_stack([np.bincount(cell_of, weights=w * mid[:, 0]),
                              np.bincount(cell_of, weights=w * mid[:, 1])]) / cell_w[:, None]
    # every end of every residential segment is a candidate origin of its segment's cell
    ends = np.concatenate([index.segment_u[segs], index.segment_v[segs]])
    end_cell = np.concatenate([cell_of, cell_of])
    gap = np.linalg.norm(index.node_xy[ends] - centre[end_cell], axis=1)
    order = np.lexsort((index.node_ids[ends], gap, end_cell))
    first = order[np.r_[True, end_cell[order][1:] != end_cell[order][:-1]]]
    cell_node = ends[first]  # node position, one per cell in cell order
    # the block's name: its longest residential segment's street
    seg_order = np.lexsort((segs, -w, cell_of))
    longest = segs[seg_order[np.r_[True, cell_of[seg_order][1:] != cell_of[seg_order][:-1]]]]
    labels = index.segment_label[longest]
    # cells whose origins share a node are one block (the first cell's name)
    nodes, first_cell, block_of = np.unique(cell_node, return_index=True, return_inverse=True)
    block_order = np.argsort(first_cell, kind="stable")
    rank = np.empty(len(nodes), dtype=np.int64)
    rank[block_order] = np.arange(len(nodes))
    block_w = np.bincount(rank[block_of.ravel()], weights=cell_w, minlength=len(nodes))
    return HomeBlocks(
        origin_id=[f"{HOME_ID_PREFIX}{i + 1:04d}" for i in range(len(nodes))],
        name=[str(labels[c]) for c in first_cell[block_order]],
        node=index.node_ids[nodes[block_order]].astype(np.int64),
        residential_m=block_w,
        cell_m=cell_m,
    )


@dataclass(frozen=True)
class HomeDemand:
    """What the home walks of a plan are made of, for the summary.

    Attributes
    ----------
    blocks
        Home blocks of the study area.
    reached
        Blocks within the walking limit of a school (each has one walk per school at its
        nearest school's node).
    walkers
        Demand of the home walks (walkers per day): the walkers of the schools reached.
    schools_reached, schools_without_homes
        Schools with and without a home block in their catchment.
    walk_limit_m
        The walking limit (metres).
    """

    blocks: int
    reached: int
    walkers: float
    schools_reached: int
    schools_without_homes: int
    walk_limit_m: float

    def summary(self) -> dict[str, Any]:
        """Return the figures as JSON-ready values."""
        return {
            "home_blocks": self.blocks,
            "home_blocks_within_walk": self.reached,
            "home_walkers": round(self.walkers, 3),
            "schools_with_home_walks": self.schools_reached,
            "schools_without_home_walks": self.schools_without_homes,
            "walk_limit_m": self.walk_limit_m,
        }


def school_walkers(places: gpd.GeoDataFrame, *, default_enrollment: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Return the rows of the usable schools and each one's walkers per day.

    Walkers are the school's enrolment where it is known and positive, else
    ``default_enrollment`` (default :data:`passages.settings.default_enrollment`).
    """
    default_enrollment = settings.default_enrollment if default_enrollment is None else default_enrollment
    usable = places["usable"].to_numpy(dtype=bool)
    rows = np.flatnonzero(usable & (places["kind"].to_numpy(dtype=str) == "school"))
    enrollment = pd.to_numeric(places["enrollment"], errors="coerce").to_numpy(dtype=float)[rows]
    return rows, np.where(np.isfinite(enrollment) & (enrollment > 0), enrollment, float(default_enrollment))


def home_pairs(
    blocks: HomeBlocks,
    places: gpd.GeoDataFrame,
    index: StreetIndex,
    *,
    walk_limit_m: float | None = None,
    default_enrollment: int | None = None,
) -> tuple[pd.DataFrame, HomeDemand]:
    """Return the walks from home blocks to their nearest schools, with their demand.

    Parameters
    ----------
    blocks
        From :func:`home_blocks`.
    places
        Snapped places (columns ``place_id``, ``kind``, ``name``, ``enrollment``, ``node``,
        ``usable``).
    index
        Street index.
    walk_limit_m
        Longest walk from a block to its school along the network (metres); default
        :data:`passages.settings.home_walk_m`.
    default_enrollment
        Walkers of a school of unknown enrolment.

    Returns
    -------
    pairs, report
        The pairs in :func:`passages.routes.od_pairs`'s columns but ``pair_id``, the
        destination always a school; and the figures of :class:`HomeDemand`.
    """
    walk_limit_m = settings.home_walk_m if walk_limit_m is None else float(walk_limit_m)
    if not walk_limit_m > 0:
        raise InputError(f"home walking limit must be positive, got {walk_limit_m}", field="home_walk_m",
                         fix="Give the longest walk to school in metres, such as 1600.")
    rows, walkers = school_walkers(places, default_enrollment=default_enrollment)
    empty = pd.DataFrame({c: [] for c in _PAIR_COLUMNS})
    if len(rows) == 0 or len(blocks) == 0:
        return empty, HomeDemand(len(blocks), 0, 0.0, 0, len(rows), walk_limit_m)
    school_pos = index.node_positions(places["node"].to_numpy(dtype=np.int64)[rows])
    sources = np.unique(school_pos)
    graph = index.weighted(index.segment_length)
    dist, _, nearest = dijkstra(graph.matrix, indices=sources, min_only=True, limit=walk_limit_m,
                                return_predecessors=True)
    block_pos = index.node_positions(blocks.node)
    reached = np.isfinite(dist[block_pos]) & (dist[block_pos] <= walk_limit_m)
    # each reached block walks to every school at its nearest school node, sharing that school's walkers
    block_rows = np.flatnonzero(reached)
    school_of_node = {int(p): np.flatnonzero(school_pos == p) for p in sources}
    weight = blocks.residential_m
    catchment_w = {int(p): float(weight[block_rows][nearest[block_pos[block_rows]] == p].sum()) for p in sources}
    place_id = places["place_id"].to_numpy(dtype=str)[rows]
    place_name = [str(v) for v in places["name"].to_numpy(dtype=object)[rows]]
    place_node = places["node"].to_numpy(dtype=np.int64)[rows]
    out: list[tuple[Any, ...]] = []
    schools_reached = np.zeros(len(rows), dtype=bool)
    for b in block_rows.tolist():
        node = int(nearest[block_pos[b]])
        for s in school_of_node[node].tolist():
            schools_reached[s] = True
            share = float(walkers[s]) * float(weight[b]) / catchment_w[node]
            out.append((HOME_PURPOSE, blocks.origin_id[b], blocks.name[b], int(blocks.node[b]),
                        str(place_id[s]), place_name[s], "school", int(place_node[s]), share))
    pairs = pd.DataFrame(out, columns=_PAIR_COLUMNS) if out else empty
    pairs = pairs.astype({"origin_node": np.int64, "dest_node": np.int64, "demand": float})
    report = HomeDemand(len(blocks), len(block_rows), float(walkers[schools_reached].sum()),
                        int(schools_reached.sum()), int((~schools_reached).sum()), walk_limit_m)
    return pairs, report


def residential_near_passages(index: StreetIndex, segment_demand: np.ndarray, *,
                              within_m: float | None = None) -> tuple[float, float]:
    """Return the residential street length of the area and the part within reach of a passage.

    Parameters
    ----------
    index
        Street index.
    segment_demand
        Demand of every segment; the passages are the segments with demand above 0.
    within_m
        Straight-line reach of a passage (metres); default
        :data:`passages.settings.near_passage_m`.

    Returns
    -------
    residential_m, near_m
        Residential street length (metres), and the length of it lying within ``within_m``
        of a passage segment (pieces of a segment count by their own length).
    """
    within_m = settings.near_passage_m if within_m is None else float(within_m)
    weight = residential_length(index)
    total = float(weight.sum())
    passages = np.flatnonzero(np.asarray(segment_demand) > 0)
    if total == 0 or len(passages) == 0:
        return total, 0.0
    reach = shapely.union_all(shapely.buffer(index.segment_geometry[passages], within_m, quad_segs=4))
    shapely.prepare(reach)
    residential = np.flatnonzero(weight > 0)
    inside = shapely.intersection(index.segment_geometry[residential], reach)
    return total, float(shapely.length(inside).sum())

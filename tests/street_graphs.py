"""Made-up street networks for tests: grids of streets in metres, every street both ways, as osmnx stores them."""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx
from shapely.geometry import LineString

#: The CRS of the made-up networks (UTM zone 11N, Los Angeles): coordinates are metres.
CRS = "EPSG:32611"


def street_grid(columns: int, rows: int, spacing: float = 100.0, *,
                highways: Mapping[tuple[int, int], str] | None = None) -> nx.MultiDiGraph:
    """A grid of ``columns`` x ``rows`` nodes ``spacing`` metres apart, every street both ways.

    Node ``row * columns + col`` lies at ``(col * spacing, row * spacing)``. The street from
    node ``u`` to its right or upper neighbour ``v`` is named ``"u-v"`` and is residential
    unless ``highways[(u, v)]`` says otherwise. Each node's streets are added right, then up.
    """
    graph = nx.MultiDiGraph(crs=CRS)
    for row in range(rows):
        for col in range(columns):
            graph.add_node(row * columns + col, x=col * spacing, y=row * spacing)
    for row in range(rows):
        for col in range(columns):
            here = row * columns + col
            for there in ([here + 1] if col < columns - 1 else []) + ([here + columns] if row < rows - 1 else []):
                kind = (highways or {}).get((here, there), "residential")
                for u, v in ((here, there), (there, here)):
                    a, b = graph.nodes[u], graph.nodes[v]
                    graph.add_edge(u, v, length=spacing, name=f"{here}-{there}", highway=kind,
                                   geometry=LineString([(a["x"], a["y"]), (b["x"], b["y"])]))
    return graph


def ladder(n: int = 6, spacing: float = 100.0) -> nx.MultiDiGraph:
    """Two parallel streets (``y = 0`` and ``y = spacing``) of ``n`` nodes joined by rungs."""
    return street_grid(n, 2, spacing)

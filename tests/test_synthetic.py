"""Synthetic networks built from a real extract: mirrored copies, stitched, labelled, reproducible."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from passages._errors import InputError
from passages.areas import load_areas
from passages.incidents import load_incidents
from passages.risk import score_segments
from passages.streetindex import StreetIndex
from passages.synthetic import (
    TileLayout,
    central_square,
    resampled_incidents,
    synthetic_city,
    tiled_network,
    tiles_for_edges,
)

WEIGHTED = "incidents/licgermancardenas_LAPD-DATA-CRIME/crime_points_by_hour.csv"


@pytest.fixture(scope="module")
def real(sample_graphs: dict) -> nx.MultiDiGraph:
    return sample_graphs["south-la"]


@pytest.fixture(scope="module")
def tiled(real: nx.MultiDiGraph) -> tuple[nx.MultiDiGraph, TileLayout]:
    return tiled_network(real, columns=3, rows=2)


def test_the_network_says_it_is_synthetic(tiled: tuple[nx.MultiDiGraph, TileLayout]) -> None:
    graph, layout = tiled
    assert graph.graph["synthetic"] is True
    assert graph.graph["source"].startswith("synthetic: 3 x 2 mirrored copies")
    assert graph.graph["crs"] is not None and (layout.columns, layout.rows) == (3, 2)


def test_copies_are_stitched_into_one_walkable_network(tiled: tuple[nx.MultiDiGraph, TileLayout],
                                                       real: nx.MultiDiGraph) -> None:
    graph, layout = tiled
    assert nx.is_strongly_connected(graph)
    cx, cy, side = central_square(real)
    half = side / 2
    inside = [n for n, d in real.nodes(data=True) if abs(d["x"] - cx) <= half and abs(d["y"] - cy) <= half]
    inner_edges = real.subgraph(inside).number_of_edges()
    connectors = [(u, v) for u, v, h in graph.edges(data="highway") if h == "synthetic_connector"]
    assert len(connectors) > 0
    # every copy's streets are there (up to the stray pieces dropped with the small components)
    assert 0.95 * layout.tiles * inner_edges <= graph.number_of_edges() - len(connectors) <= layout.tiles * inner_edges
    # a connector joins a node to its own reflection across a shared side, so it crosses that side
    for u, v in connectors[:50]:
        a, b = graph.nodes[u], graph.nodes[v]
        col_a = np.floor((a["x"] - (cx - half)) / side)
        col_b = np.floor((b["x"] - (cx - half)) / side)
        row_a = np.floor((a["y"] - (cy - half)) / side)
        row_b = np.floor((b["y"] - (cy - half)) / side)
        assert abs(col_a - col_b) + abs(row_a - row_b) <= 1


def test_neighbouring_copies_are_mirror_images(tiled: tuple[nx.MultiDiGraph, TileLayout],
                                               real: nx.MultiDiGraph) -> None:
    graph, layout = tiled
    n_local = graph.graph["synthetic_tiles"]["nodes_per_tile"]
    xy = np.array([[graph.nodes[n]["x"], graph.nodes[n]["y"]] for n in range(n_local) if n in graph
                   and n + n_local in graph])
    twin = np.array([[graph.nodes[n + n_local]["x"], graph.nodes[n + n_local]["y"]] for n in range(n_local)
                     if n in graph and n + n_local in graph])
    border = layout.centre_x + layout.side_m / 2
    assert np.allclose(twin[:, 0] - border, border - xy[:, 0])
    assert np.allclose(twin[:, 1], xy[:, 1])
    # street lengths survive the mirroring
    real_lengths = sorted(round(d, 6) for _, _, d in real.edges(data="length"))
    copy_lengths = [round(d, 6) for u, v, d in graph.edges(data="length") if u < n_local and v < n_local]
    assert set(copy_lengths) <= set(real_lengths)


def test_tile_count_follows_the_edge_target(real: nx.MultiDiGraph) -> None:
    columns, rows = tiles_for_edges(real, 20_000)
    graph, _ = tiled_network(real, columns=columns, rows=rows)
    assert 0.7 * 20_000 <= graph.number_of_edges() <= 1.3 * 20_000


def test_resampled_incidents_are_labelled_reproducible_and_inside_the_copies(
        tiled: tuple[nx.MultiDiGraph, TileLayout], shared_data: Path) -> None:
    _, layout = tiled
    real_points = load_incidents(shared_data / WEIGHTED, area=load_areas()["south-la"]).points
    first = resampled_incidents(real_points, layout, count=5000, seed=3)
    again = resampled_incidents(real_points, layout, count=5000, seed=3)
    other = resampled_incidents(real_points, layout, count=5000, seed=4)
    assert first.equals(again) and not first.equals(other)
    assert first["synthetic"].all() and first["source_id"].str.startswith("synthetic-").all()
    assert set(np.unique(first["weight"])) <= set(np.unique(real_points["weight"]))
    xy = shapely.get_coordinates(first.geometry.to_numpy())
    low = np.array([layout.centre_x, layout.centre_y]) - layout.side_m / 2
    high = low + np.array([layout.columns, layout.rows]) * layout.side_m
    assert (xy >= low - 60).all() and (xy <= high + 60).all()  # jitter of 10 m: 6 sigma
    assert first.crs == real_points.crs


def test_risk_on_a_synthetic_city_conserves_the_resampled_weight(shared_data: Path) -> None:
    city = synthetic_city(load_areas()["south-central"], target_edges=8000, incident_count=20_000,
                          data_dir=shared_data, seed=1)
    index = StreetIndex(city.graph)
    score = score_segments(index, city.incidents)
    assert score.snapped > 0.9 * len(city.incidents)
    assert score.mass.sum() == pytest.approx(score.snapped_weight, rel=1e-9)


def test_bad_requests_are_input_errors(real: nx.MultiDiGraph, shared_data: Path) -> None:
    with pytest.raises(InputError, match="columns"):
        tiled_network(real, columns=0, rows=2)
    layout = TileLayout(0.0, 0.0, 100.0, 1, 1, "EPSG:32611")
    empty = gpd.GeoDataFrame({"weight": [1.0]}, geometry=[shapely.Point(5000, 5000)], crs="EPSG:32611")
    with pytest.raises(InputError, match="incidents"):
        resampled_incidents(empty, layout, count=10)
    with pytest.raises(InputError, match="count"):
        resampled_incidents(empty, layout, count=-1)
    with pytest.raises(InputError, match="local street network"):
        synthetic_city(load_areas()["jordan-downs"], target_edges=1000, incident_count=10, data_dir=shared_data)

"""Walking names: sidewalks take their street's name, crossings name two streets, corners two streets."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from passages.street_names import abbreviate, corner_name, describe, merge_steps, walking_names
from passages.streetindex import StreetIndex

CRS = "EPSG:32611"


def _street(graph: nx.MultiDiGraph, u: int, v: int, **attrs: object) -> None:
    a, b = graph.nodes[u], graph.nodes[v]
    length = math.dist((a["x"], a["y"]), (b["x"], b["y"]))
    graph.add_edge(u, v, length=length, **attrs)
    graph.add_edge(v, u, length=length, **attrs)


@pytest.fixture(scope="module")
def corner() -> StreetIndex:
    """East 5th Street (west-east) meets South Main Street (south-north) at node 1 (0, 0).

    A sidewalk runs 8 m north of 5th Street; a crosswalk crosses 5th Street 8 m east of
    Main Street; an alley leaves 5th Street to the south, 70 m long; a footpath lies
    400 m away from every street.
    """
    graph = nx.MultiDiGraph(crs=CRS)
    nodes = {1: (0, 0), 2: (-150, 0), 3: (150, 0), 4: (0, -150), 5: (0, 150),
             10: (10, 8), 11: (140, 8), 20: (8, -8), 21: (8, 8), 30: (-80, 0), 31: (-80, -70),
             40: (400, 400), 41: (460, 400)}
    for node, (x, y) in nodes.items():
        graph.add_node(node, x=float(x), y=float(y))
    for u, v in ((2, 1), (1, 3)):
        _street(graph, u, v, name="East 5th Street", highway="secondary")
    for u, v in ((4, 1), (1, 5)):
        _street(graph, u, v, name="South Main Street", highway="secondary")
    _street(graph, 10, 11, highway="footway")  # sidewalk
    _street(graph, 20, 21, highway="footway")  # crosswalk
    _street(graph, 30, 31, highway="service")  # alley
    _street(graph, 40, 41, highway="footway")  # far footpath
    return StreetIndex(graph)


def _segment(index: StreetIndex, u: int, v: int) -> int:
    pu, pv = index.node_positions([u, v])
    both = ((index.segment_u == pu) & (index.segment_v == pv)) | ((index.segment_u == pv) & (index.segment_v == pu))
    return int(np.flatnonzero(both)[0])


def test_a_sidewalk_takes_the_name_of_the_street_it_runs_beside(corner: StreetIndex) -> None:
    s = _segment(corner, 10, 11)
    assert corner.segment_osm_name[s] == ""
    assert corner.segment_name[s] == "East 5th Street"
    assert corner.segment_name_source[s] == "beside"


def test_a_crossing_names_the_street_it_crosses_and_the_one_it_runs_along(corner: StreetIndex) -> None:
    s = _segment(corner, 20, 21)
    assert corner.segment_name[s] == "across E 5th St at S Main St"
    assert corner.segment_name_source[s] == "crossing"


def test_a_way_off_a_street_says_what_it_is_and_which_street(corner: StreetIndex) -> None:
    s = _segment(corner, 30, 31)
    assert corner.segment_name[s] == "alley off E 5th St"
    assert corner.segment_name_source[s] == "near"


def test_a_way_far_from_every_street_stays_unnamed_and_is_described(corner: StreetIndex) -> None:
    s = _segment(corner, 40, 41)
    assert corner.segment_name[s] == ""
    assert corner.segment_label[s] == "footpath"


def test_osm_names_are_kept_as_they_are(corner: StreetIndex) -> None:
    named = corner.segment_osm_name != ""
    assert (corner.segment_name[named] == corner.segment_osm_name[named]).all()
    assert set(corner.segment_name_source[named]) == {"osm"}


def test_corners_are_named_by_two_streets(corner: StreetIndex) -> None:
    assert corner_name(corner, int(corner.node_positions([1])[0])) == "E 5th St & S Main St"
    # the end of the sidewalk by the corner: 5th Street (beside) and Main Street nearby
    assert corner_name(corner, int(corner.node_positions([10])[0])) == "E 5th St & S Main St"
    # the end of the crosswalk names both of its streets
    assert corner_name(corner, int(corner.node_positions([21])[0])) == "E 5th St & S Main St"


def test_a_corner_with_one_street_near_says_how_far_the_next_one_is(corner: StreetIndex) -> None:
    # node 3: the east end of 5th Street, 150 m from Main Street
    assert corner_name(corner, int(corner.node_positions([3])[0])) == "E 5th St, 150 m from S Main St"
    assert corner_name(corner, int(corner.node_positions([41])[0])) == "unnamed corner"


@pytest.mark.parametrize(("name", "short"), [
    ("East 5th Street", "E 5th St"),
    ("South Main Street", "S Main St"),
    ("West Martin Luther King Junior Boulevard", "W Martin Luther King Junior Blvd"),
    ("Avenue of the Stars", "Avenue of the Stars"),
    ("North", "North"),
    ("Grand Avenue / West 2nd Street", "Grand Ave / W 2nd St"),
])
def test_abbreviate(name: str, short: str) -> None:
    assert abbreviate(name) == short


def test_describe_reads_the_first_known_kind() -> None:
    assert describe("steps / footway") == "steps"
    assert describe("service") == "alley"
    assert describe("weird") == "unnamed way"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-300, 300), st.floats(-300, 300), st.floats(-300, 300), st.floats(-300, 300),
                          st.booleans()), min_size=1, max_size=12))
def test_walking_names_keep_every_osm_name_and_name_only_unnamed_ways(
        ways: list[tuple[float, float, float, float, bool]]) -> None:
    lines = np.empty(len(ways), dtype=object)
    lines[:] = [LineString([(x0, y0), (x1 + 0.5, y1)]) for x0, y0, x1, y1, _ in ways]
    names = np.array([f"Street {i}" if named else "" for i, (*_, named) in enumerate(ways)], dtype=object)
    highways = np.array(["residential" if n else "footway" for n in names], dtype=object)
    out, source = walking_names(names, highways, lines, np.array([line.length for line in lines]))
    assert (out[names != ""] == names[names != ""]).all()
    assert set(source[names != ""]) <= {"osm"}
    assert set(source[names == ""]) <= {"beside", "crossing", "near", ""}
    # a derived name always mentions a real street of the input
    streets = {abbreviate(n) for n in names if n} | {n for n in names if n}
    for name, how in zip(out[names == ""], source[names == ""], strict=True):
        assert (how == "") == (name == "")
        if name:
            assert any(street in name for street in streets)


def test_steps_on_one_street_and_two_halves_of_a_crossing_merge() -> None:
    steps = merge_steps(["S Main St", "S Main St", "across W 5th St at S Main St", "across W 5th St at Harlem Pl",
                         "", "W 5th St"], [10, 5, 9, 11, 4, 100])
    assert steps == [("S Main St", 15.0), ("across W 5th St at S Main St", 20.0), ("unnamed way", 4.0),
                     ("W 5th St", 100.0)]
    assert merge_steps(["across A St", "across B St"], [1, 2]) == [("across A St", 1.0), ("across B St", 2.0)]

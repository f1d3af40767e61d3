"""Business corridors: storefronts read, grouped into runs of street, walked to."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

from passages._errors import InputError
from passages.businesses import business_pairs, group_corridors, read_storefronts
from passages.streetindex import StreetIndex

CRS = "EPSG:32611"


def main_street(n: int = 10, spacing: float = 100.0) -> nx.MultiDiGraph:
    """Main St from x = 0 to x = n * spacing, with a side street (Oak Ave) north from every node."""
    graph = nx.MultiDiGraph(crs=CRS)
    for i in range(n + 1):
        graph.add_node(i, x=i * spacing, y=0.0)
        graph.add_node(100 + i, x=i * spacing, y=spacing)

    def street(u: int, v: int, name: str) -> None:
        a, b = graph.nodes[u], graph.nodes[v]
        for s, t in ((u, v), (v, u)):
            graph.add_edge(s, t, length=float(np.hypot(a["x"] - b["x"], a["y"] - b["y"])), name=name,
                           highway="secondary",
                           geometry=LineString([(graph.nodes[s]["x"], graph.nodes[s]["y"]),
                                                (graph.nodes[t]["x"], graph.nodes[t]["y"])]))

    for i in range(n):
        street(i, i + 1, "Main St")
        street(100 + i, 101 + i, "Back St")
    for i in range(n + 1):
        street(i, 100 + i, f"Oak Ave {i}")
    return graph


def shops_on(index: StreetIndex, placement: list[tuple[int, float]]) -> gpd.GeoDataFrame:
    """Storefronts 10 m south of Main St at the given (segment from x = 100 * i, share along it)."""
    points = [Point(100.0 * i + 100.0 * t, -10.0) for i, t in placement]
    return gpd.GeoDataFrame({"storefront_id": [str(k) for k in range(len(points))], "name": "shop",
                             "source": "test"}, geometry=points, crs=CRS)


def test_a_run_of_storefronts_is_one_corridor_and_a_lone_shop_is_none() -> None:
    index = StreetIndex(main_street())
    # blocks 1 and 2 have shops, block 3 none, block 4 shops again: one run across the gap; block 8 alone
    shops = shops_on(index, [(1, 0.3), (1, 0.6), (2, 0.5), (4, 0.2), (4, 0.7), (8, 0.5)])
    corridors = group_corridors(shops, index, min_storefronts=3)
    assert len(corridors) == 1
    corridor = corridors.iloc[0]
    assert corridor["kind"] == "business" and corridor["storefronts"] == 5
    assert corridor["name"].startswith("Main St")
    assert corridor["length_m"] == pytest.approx(400.0)  # blocks 1-4, the empty block 3 included
    # the Main St node nearest the storefronts' centre: x = (130 + 160 + 250 + 420 + 470) / 5 = 286 m
    assert corridor["node"] == 3
    # with one storefront enough, the lone shop is a corridor of its own
    assert sorted(group_corridors(shops, index, min_storefronts=1)["storefronts"]) == [1, 5]


def test_two_empty_blocks_break_a_run_and_other_streets_never_join_it() -> None:
    index = StreetIndex(main_street())
    shops = shops_on(index, [(1, 0.5), (1, 0.6), (4, 0.5), (4, 0.6)])
    assert group_corridors(shops, index, min_storefronts=3).empty
    # shops on the side streets at the same nodes are other streets: they do not add up with Main St's
    side = gpd.GeoDataFrame({"storefront_id": ["a", "b"], "name": "x", "source": "t"},
                            geometry=[Point(195.0, 50.0), Point(305.0, 50.0)], crs=CRS)
    both = pd.concat([shops_on(index, [(2, 0.5), (2, 0.6)]), side], ignore_index=True)
    assert group_corridors(gpd.GeoDataFrame(both, crs=CRS), index, min_storefronts=3).empty


def test_storefronts_too_far_from_a_street_are_left_out() -> None:
    index = StreetIndex(main_street())
    far = gpd.GeoDataFrame({"storefront_id": ["1", "2", "3"], "name": "x", "source": "t"},
                           geometry=[Point(150.0, -80.0), Point(160.0, -80.0), Point(170.0, -80.0)], crs=CRS)
    assert group_corridors(far, index, snap_m=40.0, min_storefronts=3).empty
    assert len(group_corridors(far, index, snap_m=100.0, min_storefronts=3)) == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.floats(0.05, 0.95)), max_size=25), st.integers(1, 5))
def test_every_corridor_is_one_street_with_enough_storefronts(placement: list[tuple[int, float]], least: int) -> None:
    index = StreetIndex(main_street())
    corridors = group_corridors(shops_on(index, placement), index, min_storefronts=least)
    assert (corridors["storefronts"] >= least).all()
    assert corridors["storefronts"].sum() <= len(placement)
    seen: set[int] = set()
    for segments in corridors["segments"]:
        assert set(index.segment_name[segments]) == {"Main St"}
        assert not seen & set(segments.tolist())  # no segment in two corridors
        seen |= set(segments.tolist())
    # every block with 'least' or more storefronts of its own lies in a corridor
    per_block = np.bincount([i for i, _ in placement], minlength=10)
    for block in np.flatnonzero(per_block >= least):
        segment = next(s for s in range(index.n_segments) if index.segment_name[s] == "Main St"
                       and {int(index.node_ids[index.segment_u[s]]), int(index.node_ids[index.segment_v[s]])}
                       == {int(block), int(block) + 1})
        assert segment in seen


def test_walks_to_corridors_carry_a_share_of_their_origins_walkers() -> None:
    index = StreetIndex(main_street())
    corridors = group_corridors(shops_on(index, [(7, 0.4), (7, 0.5), (7, 0.6)]), index)
    walks = pd.DataFrame([
        ("home-school", "site", "Site", 0, "school:1", "School", "school", 5, 300.0),
        ("home-school", "site", "Site", 0, "school:2", "School 2", "school", 105, 100.0),
        ("school-transit", "school:1", "School", 5, "transit:1", "Stop", "transit", 10, 25.0),
    ], columns=["purpose", "origin_id", "origin_name", "origin_node", "dest_id", "dest_name", "dest_kind",
                "dest_node", "demand"])
    pairs = business_pairs(corridors, walks, index, share=0.1, walk_limit_m=1600,
                           link_radius_m=500)
    assert set(pairs["purpose"]) == {"home-business", "transit-business"}
    home = pairs[pairs["purpose"] == "home-business"].iloc[0]
    assert home["origin_id"] == "site" and home["demand"] == pytest.approx(0.1 * 400.0)
    stop = pairs[pairs["purpose"] == "transit-business"].iloc[0]
    assert stop["origin_id"] == "transit:1" and stop["demand"] == pytest.approx(0.1 * 25.0)
    assert (pairs["dest_id"] == corridors["place_id"].iloc[0]).all()
    # the site is 700 m away: with a 500 m limit its walk goes, the stop's (300 m away) stays
    near = business_pairs(corridors, walks, index, share=0.1, walk_limit_m=500,
                          link_radius_m=500)
    assert list(near["purpose"]) == ["transit-business"]


def test_the_business_readers_keep_open_storefronts_only(tmp_path: Path) -> None:
    listing = tmp_path / "listing.csv"
    listing.write_text(
        "LOCATION ACCOUNT #,BUSINESS NAME,DBA NAME,LOCATION END DATE,LOCATION\n"
        'A1,ACME LLC,Corner Market,,"(34.0500, -118.2500)"\n'
        'A2,GONE INC,,2019-01-01,"(34.0510, -118.2510)"\n'
        'A3,NO PLACE,,,\n', encoding="utf-8")
    frame = read_storefronts(listing)
    assert frame["storefront_id"].tolist() == ["A1"] and frame["name"].tolist() == ["Corner Market"]
    assert frame.geometry.iloc[0].y == pytest.approx(34.05)
    pois = tmp_path / "pois.csv"
    pois.write_text("FID,osm_id,code,fclass,name,lon,lat\n0,1,2901,toilet, ,-118.25,34.05\n"
                    "1,2,2301,restaurant,Taqueria,-118.251,34.051\n", encoding="utf-8")
    assert read_storefronts(pois)["name"].tolist() == ["Taqueria"]
    feet = tmp_path / "feet.csv"
    feet.write_text("name,lat,lon\na,1839421.5,6481234.2\nb,1839422.5,6481235.2\n", encoding="utf-8")
    with pytest.raises(InputError, match="not longitude/latitude degrees") as caught:
        read_storefronts(feet)
    assert caught.value.path == feet
    pickled = tmp_path / "pickled.csv"
    pickled.write_bytes(b"\x80\x04\x95" + bytes(range(64)))
    with pytest.raises(InputError, match="pickle"):
        read_storefronts(pickled)
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("name,address\na,1 Main St\n", encoding="utf-8")
    with pytest.raises(InputError, match="no latitude and longitude"):
        read_storefronts(nothing)


def test_the_city_grocery_shapefile_reads_open_stores_in_degrees(shared_data: Path) -> None:
    path = shared_data / "poi" / "la_city_grocery_stores_2020" / "GroceryStore_sp.zip"
    if not path.is_file():
        pytest.skip(f"{path} is not in the shared data")
    frame = read_storefronts(path)
    assert 1000 < len(frame) <= 1163  # 1,163 stores in the file, none closed, a few without a location
    x, y = frame.geometry.x, frame.geometry.y
    assert x.between(-118.5, -118.1).all() and y.between(33.9, 34.2).all()


def test_a_vector_file_whose_content_is_not_its_type_is_refused_before_gdal_opens_it(tmp_path: Path) -> None:
    # GDAL picks its driver by content: a ".geojson" holding a VRT could make it read any file
    vrt = tmp_path / "shops.geojson"
    vrt.write_text('<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource>'
                   "</OGRVRTLayer></OGRVRTDataSource>", encoding="utf-8")
    with pytest.raises(InputError, match=r"not a \.geojson file"):
        read_storefronts(vrt)

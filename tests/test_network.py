"""The walking network: sources, walk filter, clipping, cache, and bad input."""

from __future__ import annotations

import bz2
import json
from pathlib import Path

import networkx as nx
import osmnx as ox
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from passages import network as network_module
from passages._errors import EmptyResultError, InputError
from passages.areas import Area, load_areas
from passages.network import is_walkable, load_network, network_source_kind
from passages.streetindex import StreetIndex

SAMPLE_SLUGS = ("south-la", "south-central", "downtown")

OAKLAND = "osm/fallback_west_oakland/West-Oakland.osm.bz2"


def oakland_area(radius_m: float = 400.0) -> Area:
    return Area("west-oakland", "West Oakland", "custom", 37.8076, -122.3004, radius_m)


@pytest.mark.parametrize("slug", SAMPLE_SLUGS)
def test_sample_networks_are_walkable_connected_and_projected(slug: str, sample_graphs: dict) -> None:
    graph = sample_graphs[slug]
    area = load_areas()[slug]
    assert graph.graph["crs"] == "EPSG:32611" == area.crs
    assert nx.is_weakly_connected(graph)
    highways = {h for _, _, h in graph.edges(data="highway") for h in (h if isinstance(h, list) else [h])}
    assert not any("motorway" in h or h == "cycleway" for h in highways)
    assert all(length > 0 for _, _, length in graph.edges(data="length"))
    # clipped by edge (as osmnx's truncate_by_edge): streets reach into the study polygon,
    # and the few that do not join two kept nodes just outside it
    index = StreetIndex(graph)
    study = area.study_polygon_utm.buffer(1.0)
    assert shapely.intersects(index.segment_geometry, study).mean() > 0.99
    assert shapely.distance(index.segment_geometry, study).max() < 100.0
    inside = shapely.contains_xy(study, index.node_xy[:, 0], index.node_xy[:, 1])
    assert inside.mean() > 0.9


def test_walk_filter_drops_motorways_and_foot_no(shared_data: Path, tmp_path: Path) -> None:
    raw = json.loads((shared_data / load_areas()["south-central"].sources["network"][0]).read_text())
    ways = [e for e in raw["elements"] if e["type"] == "way"]
    assert any("motorway" in w["tags"].get("highway", "") for w in ways), "the extract should hold motorways"
    # tag one walkable street foot=no and check it disappears
    street = next(w for w in ways if w["tags"].get("highway") == "residential" and w["tags"].get("name"))
    street["tags"]["foot"] = "no"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(raw))
    graph = load_network(load_areas()["south-central"], path, use_cache=False)
    osmids = set()
    for _, _, osmid in graph.edges(data="osmid"):
        osmids.update(osmid if isinstance(osmid, list) else [osmid])
    assert street["id"] not in osmids
    assert not any("motorway" in str(h) for _, _, h in graph.edges(data="highway"))


@given(
    highway=st.sampled_from(["residential", "footway", "primary", "motorway", "motorway_link", "cycleway",
                             "service", "construction", "steps"]),
    foot=st.sampled_from([None, "yes", "no", "designated"]),
    access=st.sampled_from([None, "yes", "private", "permissive"]),
)
def test_is_walkable_matches_the_osmnx_walk_rules(highway: str, foot: str | None, access: str | None) -> None:
    tags = {"highway": highway}
    if foot:
        tags["foot"] = foot
    if access:
        tags["access"] = access
    expected = (
        highway not in {"motorway", "motorway_link", "cycleway", "construction"}
        and foot != "no"
        and access != "private"
    )
    assert is_walkable(tags) is expected


def test_osm_xml_source(shared_data: Path, tmp_path: Path) -> None:
    graph = load_network(oakland_area(), shared_data / OAKLAND, cache_dir=tmp_path)
    assert graph.graph["crs"] == "EPSG:32610"
    assert graph.number_of_edges() > 20
    assert nx.is_weakly_connected(graph)


def test_plain_osm_xml_and_graphml_sources_agree(shared_data: Path, tmp_path: Path) -> None:
    plain = tmp_path / "west-oakland.osm"
    plain.write_bytes(bz2.decompress((shared_data / OAKLAND).read_bytes()))
    from_xml = load_network(oakland_area(), plain, use_cache=False)
    saved = tmp_path / "west-oakland.graphml"
    ox.save_graphml(ox.project_graph(from_xml, to_crs="EPSG:4326"), saved)
    from_graphml = load_network(oakland_area(), saved, use_cache=False)
    assert from_graphml.graph["crs"] == from_xml.graph["crs"]
    assert from_graphml.number_of_edges() == from_xml.number_of_edges()
    total = sum(d for _, _, d in from_xml.edges(data="length"))
    assert sum(d for _, _, d in from_graphml.edges(data="length")) == pytest.approx(total, rel=1e-6)


def test_second_run_reads_the_cache(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    area = load_areas()["south-la"]
    source = shared_data / area.sources["network"][0]
    first = load_network(area, source, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("south-la-*.manifest.json"))) == 1
    assert not list(tmp_path.glob("*.pickle"))

    class NotCachedError(BaseException):
        """Raised past load_network's guard, which turns any Exception into an InputError."""

    def fail(*args: object, **kwargs: object) -> None:
        raise NotCachedError("the cached network should have been used")

    monkeypatch.setattr(network_module, "_read_graph", fail)
    second = load_network(area, source, cache_dir=tmp_path)
    assert second.number_of_edges() == first.number_of_edges()
    # another polygon is another cache entry, so it must be built again
    with pytest.raises(NotCachedError, match="cached network"):
        load_network(area.with_radius(900), source, cache_dir=tmp_path)


def test_overpass_source_uses_osmnx_with_its_cache_under_data_raw(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    area = oakland_area()
    local = ox.graph_from_xml(shared_data / OAKLAND)
    calls: list[dict] = []

    def fake_graph_from_polygon(polygon: object, **kwargs: object) -> nx.MultiDiGraph:
        calls.append({"polygon": polygon, **kwargs, "cache_folder": ox.settings.cache_folder})
        return local

    monkeypatch.setattr(ox, "graph_from_polygon", fake_graph_from_polygon)
    monkeypatch.setattr(network_module.settings, "raw_dir", tmp_path / "raw")
    graph = load_network(area, None, cache_dir=tmp_path / "processed")
    assert calls and calls[0]["network_type"] == "walk"
    assert calls[0]["polygon"].equals(area.study_polygon)
    assert Path(calls[0]["cache_folder"]) == tmp_path / "raw" / "osmnx-cache"
    assert graph.graph["crs"] == area.crs


def test_offline_without_a_local_network_is_refused() -> None:
    with pytest.raises(InputError, match="--offline"):
        load_network(load_areas()["jordan-downs"], None, offline=True)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "file not found"),
        ("empty.json", b"", "file is empty"),
        ("broken.json", b"{not json", "not a readable Overpass JSON"),
        ("noelements.json", b'{"version": 0.6}', "elements"),
        ("streets.shp", b"x", "unknown street network format"),
        ("nothing.json", b'{"elements": [{"type": "node", "id": 1, "lat": 0, "lon": 0}]}', "no walkable streets"),
    ],
)
def test_bad_network_files_name_the_file(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_network(oakland_area(), path, use_cache=False)
    assert str(path) in str(info.value)


def test_network_outside_the_area_says_so(shared_data: Path) -> None:
    far_away = Area("nowhere", "Nowhere", "custom", 34.2662, -118.4245, 500)
    source = shared_data / load_areas()["south-la"].sources["network"][0]
    with pytest.raises(EmptyResultError, match="no street"):
        load_network(far_away, source, use_cache=False)


def test_source_kinds() -> None:
    assert network_source_kind("a.osm.pbf") == "pbf"
    assert network_source_kind("a.OSM.BZ2") == "xml"
    assert network_source_kind("cache/abc.json") == "json"
    assert network_source_kind(None) == "overpass"


def _write_pbf(source: Path, target: Path) -> None:
    """Convert an OSM XML file to PBF with pyosmium (the test's own small input)."""
    osmium = pytest.importorskip("osmium", reason="pyosmium writes the PBF fixture (dev dependency)")
    writer = osmium.SimpleWriter(str(target))

    class Copy(osmium.SimpleHandler):  # type: ignore[misc]
        def node(self, node: object) -> None:
            writer.add_node(node)

        def way(self, way: object) -> None:
            writer.add_way(way)

    Copy().apply_file(str(source))
    writer.close()


def test_pbf_source_gives_the_same_streets_as_the_xml(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyrosm", reason="reading .osm.pbf needs pyrosm (the pbf extra)")
    pbf = tmp_path / "west-oakland.osm.pbf"
    _write_pbf(shared_data / OAKLAND, pbf)
    area = oakland_area()
    from_pbf = load_network(area, pbf, use_cache=False)
    from_xml = load_network(area, shared_data / OAKLAND, use_cache=False)
    assert from_pbf.graph["crs"] == from_xml.graph["crs"] == area.crs
    assert nx.is_weakly_connected(from_pbf)
    # the two readers clip ways differently at the edge of the area, but agree inside it
    study = area.study_polygon_utm

    def inside_nodes(graph: nx.MultiDiGraph) -> set[int]:
        index = StreetIndex(graph)
        keep = shapely.contains_xy(study, index.node_xy[:, 0], index.node_xy[:, 1])
        return set(index.node_ids[keep].tolist())

    assert inside_nodes(from_pbf) == inside_nodes(from_xml)
    assert len(inside_nodes(from_xml)) > 20


_MERGED_NAMES = """
import json, sys
from pathlib import Path
from passages.areas import get_area
from passages.network import load_network
area = get_area("downtown")
graph = load_network(area, Path(sys.argv[1]) / area.sources["network"][0], use_cache=False)
merged = sorted({" / ".join(d["name"]) for _, _, d in graph.edges(data=True) if isinstance(d.get("name"), list)})
print(json.dumps(merged))
"""


def test_merged_street_names_keep_one_order_whatever_the_hash_seed(shared_data: Path) -> None:
    """osmnx merges the names of joined ways through a set: sorted, a build gives the same names every time."""
    import os
    import subprocess
    import sys

    runs = []
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", _MERGED_NAMES, str(shared_data)], capture_output=True,
                              text=True, timeout=600, env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0] and runs[0] == runs[1]
    assert all(name.split(" / ") == sorted(name.split(" / ")) for name in runs[0])

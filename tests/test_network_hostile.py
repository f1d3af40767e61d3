"""Hostile and damaged input to the network stage: the cache, local files, fuzzing.

The processed-network cache holds no pickle and trusts nothing it reads back; every bad
network file ends in one InputError naming it (or in a counted note when only some
elements are bad); and fuzzed Overpass JSON, OSM XML and GraphML give a graph or an
InputError/EmptyResultError, never another exception.
"""

from __future__ import annotations

import bz2
import io
import json
import os
import pickle
import random
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from passages import _network_cache
from passages import network as network_module
from passages._errors import EmptyResultError, InputError
from passages.areas import Area, load_areas
from passages.network import load_network
from passages.streetindex import StreetIndex

OAKLAND = "osm/fallback_west_oakland/West-Oakland.osm.bz2"
VAN_NUYS = "osm/la_van_nuys_overpass/481f8aa7178672d7ef4503ff7a40a862e3013787.json"
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def oakland_area() -> Area:
    return Area("west-oakland", "West Oakland", "custom", 37.8076, -122.3004, 400.0)


def van_nuys_area() -> Area:
    return Area("van-nuys", "Van Nuys", "custom", 34.1938, -118.4654, 600.0)


def assert_same_graph(first: nx.MultiDiGraph, second: nx.MultiDiGraph) -> None:
    """Equal nodes, edges, attributes (with their types) and graph attributes (but the
    time the graph was made, which differs between two builds)."""
    def made(graph: nx.MultiDiGraph) -> dict[str, Any]:
        return {k: v for k, v in graph.graph.items() if k != "created_date"}

    assert made(first) == made(second)
    assert list(first.nodes(data=True)) == list(second.nodes(data=True))
    edges_a, edges_b = list(first.edges(keys=True, data=True)), list(second.edges(keys=True, data=True))
    assert [e[:3] for e in edges_a] == [e[:3] for e in edges_b]
    for (*_, a), (*_, b) in zip(edges_a, edges_b, strict=True):
        assert a.keys() == b.keys()
        for name in a:
            if name == "geometry":
                assert a[name].equals_exact(b[name], 0.0)
            else:
                assert a[name] == b[name] and type(a[name]) is type(b[name]), name
    index_a, index_b = StreetIndex(first), StreetIndex(second)
    for name, value in vars(index_a).items():
        if isinstance(value, np.ndarray) and value.dtype != object:
            np.testing.assert_array_equal(value, vars(index_b)[name], err_msg=name)


def no_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    class RebuiltError(BaseException):
        pass

    def fail(*args: object, **kwargs: object) -> None:
        raise RebuiltError("the cache should have been used")

    monkeypatch.setattr(network_module, "_read_graph", fail)


# --------------------------------------------------------------------------------------
# the cache


def test_cache_holds_data_only_and_reads_back_the_same_graph(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    area = load_areas()["downtown"]
    source = area.source_paths("network", shared_data)[0]
    built = load_network(area, source, cache_dir=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n.split(".", 1)[1] for n in names] == ["arrays.npz", "attributes.json", "manifest.json"]
    assert all(n.startswith("downtown-") for n in names)
    for path in tmp_path.iterdir():
        assert b"\x80\x04\x95" not in path.read_bytes()[:64], "no pickle stream"
    with np.load(next(tmp_path.glob("*.npz")), allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
    no_rebuild(monkeypatch)
    started = time.perf_counter()
    cached = load_network(area, source, cache_dir=tmp_path)
    assert time.perf_counter() - started < 2.0
    assert_same_graph(built, cached)
    assert cached.graph == built.graph
    assert cached.graph["crs"] == "EPSG:32611"
    assert cached.graph["osm_timestamp"] == "2023-01-04T14:48:54Z"


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0x5A
    path.write_bytes(bytes(data))


def _nan_coordinate_with_a_matching_hash(folder: Path) -> None:
    """A consistent but invalid entry: a NaN node x, the manifest's SHA-256 updated."""
    arrays_path = next(folder.glob("*.arrays.npz"))
    with np.load(arrays_path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["node_x"][3] = np.nan
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    arrays_path.write_bytes(buffer.getvalue())
    _rehash(folder, "arrays", buffer.getvalue())


def _edges_changed_with_a_matching_hash(folder: Path, how: str) -> None:
    """A consistent but invalid entry: an edge repeated, or one ending at no node."""
    arrays_path = next(folder.glob("*.arrays.npz"))
    with np.load(arrays_path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    if how == "repeat":
        for name in ("edge_u", "edge_v", "edge_key"):
            arrays[name][1] = arrays[name][0]
    else:
        arrays["edge_v"][5] = arrays["node_id"].max() + 1
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    arrays_path.write_bytes(buffer.getvalue())
    _rehash(folder, "arrays", buffer.getvalue())


def _rehash(folder: Path, part: str, data: bytes) -> None:
    import hashlib

    manifest_path = next(folder.glob("*.manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][part] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest_path.write_text(json.dumps(manifest))


def _pickle_as_arrays_with_a_matching_hash(folder: Path) -> None:
    data = pickle.dumps({"node_id": [1, 2, 3]})
    next(folder.glob("*.arrays.npz")).write_bytes(data)
    _rehash(folder, "arrays", data)


def _folder_in_place(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _edit_manifest(folder: Path, change: dict[str, Any]) -> None:
    path = next(folder.glob("*.manifest.json"))
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))


TAMPERING = {
    "a byte of the arrays changed": lambda f: _flip(next(f.glob("*.arrays.npz")), 200),
    "a byte of the attributes changed": lambda f: _flip(next(f.glob("*.attributes.json")), 100),
    "the manifest cut short": lambda f: next(f.glob("*.manifest.json")).write_bytes(b'{"format": "pas'),
    "the attributes missing": lambda f: next(f.glob("*.attributes.json")).unlink(),
    "the arrays a folder": lambda f: _folder_in_place(next(f.glob("*.arrays.npz"))),
    "another format version": lambda f: _edit_manifest(f, {"version": 99}),
    "another cache key": lambda f: _edit_manifest(f, {"key": "0" * 16}),
    "a node count that lies": lambda f: _edit_manifest(f, {"nodes": 3}),
    "a NaN coordinate with its hash updated": _nan_coordinate_with_a_matching_hash,
    "a pickle as the arrays with its hash updated": _pickle_as_arrays_with_a_matching_hash,
    "an edge repeated with its hash updated": lambda f: _edges_changed_with_a_matching_hash(f, "repeat"),
    "an edge to no node with its hash updated": lambda f: _edges_changed_with_a_matching_hash(f, "no node"),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_a_damaged_or_changed_cache_entry_is_ignored_with_a_note_and_rebuilt(
    shared_data: Path, tmp_path: Path, tampering: str
) -> None:
    area, source = oakland_area(), shared_data / OAKLAND
    built = load_network(area, source, cache_dir=tmp_path)
    TAMPERING[tampering](tmp_path)
    with pytest.warns(UserWarning, match=r"network cache west-oakland-\w+ was damaged or changed .*; rebuilt"):
        rebuilt = load_network(area, source, cache_dir=tmp_path)
    assert_same_graph(built, rebuilt)
    if tampering == "the arrays a folder":
        return  # a folder in the way is not removed: the run goes on uncached, with a note
    # the rebuild wrote a whole entry again, which now reads back without a note
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same_graph(built, load_network(area, source, cache_dir=tmp_path))


class _Marker:
    """Unpickling this creates the marker file: proof that a pickle was opened."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.marker,))


def test_an_old_pickle_in_the_cache_folder_is_never_unpickled(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    area, source = oakland_area(), shared_data / OAKLAND
    marker = tmp_path / "unpickled.marker"
    cache = tmp_path / "networks"
    cache.mkdir()
    payload = pickle.dumps(_Marker(marker))
    pickle.loads(payload)  # the payload works: it does make the marker
    assert marker.exists()
    marker.unlink()
    # named as the old cache named its entries (the same stem) and as another area's
    stem = f"west-oakland-{network_module._cache_key(area, source)}"
    planted = [cache / f"{stem}.pickle", cache / "south-la-0123456789abcdef.pickle"]
    for path in planted:
        path.write_bytes(payload)
    graph = load_network(area, source, cache_dir=cache)
    assert graph.number_of_edges() > 20
    assert not marker.exists()
    assert not any(p.exists() for p in planted), "old pickles are deleted unread"
    load_network(area, source, cache_dir=cache)
    assert not marker.exists()


def test_stale_temporaries_of_killed_writers_are_removed(shared_data: Path, tmp_path: Path) -> None:
    old = tmp_path / ".west-oakland-0.arrays.npz.abc123.tmp"
    fresh = tmp_path / ".west-oakland-0.manifest.json.def456.tmp"
    for path in (old, fresh):
        path.write_bytes(b"half")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    load_network(oakland_area(), shared_data / OAKLAND, cache_dir=tmp_path)
    assert not old.exists()
    assert fresh.exists(), "a writer still at work is left alone"


def test_an_unsafe_area_slug_never_becomes_a_cache_path(shared_data: Path, tmp_path: Path) -> None:
    area = Area("../../escape", "Escape", "custom", 37.8076, -122.3004, 400.0)
    with pytest.raises(InputError, match="cannot be used in a file name"):
        load_network(area, shared_data / OAKLAND, cache_dir=tmp_path / "networks")
    assert not any(tmp_path.rglob("*escape*"))


def test_save_graph_refuses_what_it_cannot_store(tmp_path: Path) -> None:
    graph = nx.MultiDiGraph(crs="EPSG:32611")
    graph.add_node("a", x=0.0, y=0.0)
    with pytest.warns(UserWarning, match="not cached"):
        assert not _network_cache.save_graph(graph, tmp_path, "x", "k")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------
# hostile local files


def _overpass(elements: Any, **extra: Any) -> bytes:
    return json.dumps({"version": 0.6, "elements": elements, **extra}).encode()


STREET = [
    {"type": "node", "id": 1, "lat": 37.8070, "lon": -122.3010},
    {"type": "node", "id": 2, "lat": 37.8075, "lon": -122.3004},
    {"type": "node", "id": 3, "lat": 37.8080, "lon": -122.2998},
    {"type": "way", "id": 10, "nodes": [1, 2, 3], "tags": {"highway": "residential", "name": "A St"}},
]

REFUSED: dict[str, tuple[str, bytes, str]] = {
    "random bytes as pbf": ("garbage.osm.pbf", random.Random(1).randbytes(4096), "not an OSM PBF file"),
    "text renamed pbf": ("text.osm.pbf", b"<osm>\n" * 100, "not an OSM PBF file"),
    "pbf header then garbage": ("cut.osm.pbf", b"\x00\x00\x00\x0d\x0a\x09OSMHeader" + bytes(range(256)) * 4,
                                "not a readable OSM PBF file"),
    "a JSON list": ("list.json", b"[1, 2, 3]", "the JSON is a list, not an Overpass response"),
    "a JSON number": ("number.json", b"42", "the JSON is a number"),
    "elements an object": ("dict.json", _overpass({"a": 1}), "'elements' is an object, not a list"),
    "elements null": ("null.json", _overpass(None), "'elements' is null, not a list"),
    "deep nesting": ("deep.json", b"[" * 200_000 + b"]" * 200_000, "not a readable Overpass JSON"),
    "not UTF-8": ("latin.json", b'{"elements": ["\xff\xfe"]}', "not a readable Overpass JSON"),
    "only missing nodes": ("missing.json", _overpass([{"type": "way", "id": 1, "nodes": [5, 6],
                                                       "tags": {"highway": "residential"}}]),
                           "no walkable streets"),
    "only bad nodes": ("badnodes.json", _overpass([{"type": "node", "id": 1, "lat": "x", "lon": 0},
                                                   {"type": "node", "id": 2, "lat": 95.0, "lon": 0},
                                                   {"type": "way", "id": 3, "nodes": [1, 2],
                                                    "tags": {"highway": "residential"}}]),
                       "no walkable streets"),
    "garbage osm": ("garbage.osm", b"\x00\x01 this is not xml <<<", "not readable OpenStreetMap XML"),
    "truncated osm": ("cut.osm", b'<?xml version="1.0"?><osm version="0.6"><node id="1" lat="37.8" lon=',
                      "not readable OpenStreetMap XML"),
    "garbage bz2": ("garbage.osm.bz2", random.Random(2).randbytes(2048), "not readable OpenStreetMap XML"),
    "truncated bz2": ("cut.osm.bz2", bz2.compress(b'<osm version="0.6">' + b"<node/>" * 1000)[:60],
                      "not readable OpenStreetMap XML"),
    "non-numeric lat in XML": ("bad.osm", b'<osm><node id="1" lat="north" lon="0"/></osm>',
                               "not readable OpenStreetMap XML"),
    "garbage graphml": ("garbage.graphml", b"<graphml><graph><node id=", "not a readable GraphML graph"),
    "graphml of random bytes": ("random.graphml", random.Random(3).randbytes(1024), "not a readable GraphML graph"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_hostile_network_files_end_in_one_input_error_naming_the_file(tmp_path: Path, case: str) -> None:
    name, content, message = REFUSED[case]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_network(oakland_area(), path, use_cache=False)
    text = str(info.value)
    assert str(path) in text and "\n" not in text and "Traceback" not in text


def test_folders_and_devices_are_refused_as_networks(tmp_path: Path) -> None:
    folder = tmp_path / "streets.osm"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder"):
        load_network(oakland_area(), folder, use_cache=False)
    if Path("/dev/zero").exists():
        with pytest.raises(InputError, match="not a regular file") as info:
            load_network(oakland_area(), "/dev/zero", use_cache=False)
        assert "/dev/zero" in str(info.value)


def test_bad_elements_are_dropped_with_one_counted_note(tmp_path: Path) -> None:
    bad = [
        "not an object", 7, None, [1, 2],
        {"type": "node", "id": 20, "lon": -122.30},  # no lat
        {"type": "node", "id": 21, "lat": "37.8", "lon": -122.30},  # text lat
        {"type": "node", "id": 22, "lat": 37.8, "lon": 400.0},  # out of range
        {"type": "node", "id": 23, "lat": True, "lon": -122.30},  # a boolean
        {"type": "node", "id": "24", "lat": 37.8, "lon": -122.30},  # text id
        {"type": "way", "id": 30, "nodes": "1,2", "tags": {"highway": "residential"}},
        {"type": "way", "id": 31, "nodes": [1, 99, 2, 3], "tags": {"highway": "footway", "name": 5}},
    ]
    path = tmp_path / "mixed.json"
    path.write_bytes(_overpass([*STREET, *bad]))
    area = Area("tiny", "Tiny", "custom", 37.8075, -122.3004, 300.0)
    with pytest.warns(UserWarning) as notes:
        graph = load_network(area, path, use_cache=False)
    (note,) = [str(n.message) for n in notes if str(path) in str(n.message)]
    assert "4 elements that are not objects" in note
    assert "4 nodes without a valid lat/lon" in note
    assert "1 nodes without an integer id" in note
    assert "1 ways without an integer id and a list of node ids" in note
    assert "1 references of ways to missing nodes" in note
    assert "1 tags that are not text" in note
    assert graph.number_of_edges() >= 2


def test_a_way_cut_by_missing_nodes_keeps_its_pieces(shared_data: Path, tmp_path: Path) -> None:
    raw = json.loads((shared_data / VAN_NUYS).read_text())
    nodes = {e["id"] for e in raw["elements"] if e["type"] == "node"}
    way = max((e for e in raw["elements"] if e["type"] == "way" and e["tags"].get("highway") == "residential"),
              key=lambda e: len(e["nodes"]))
    assert len(way["nodes"]) >= 5 and set(way["nodes"]) <= nodes
    middle = way["nodes"][len(way["nodes"]) // 2]
    raw["elements"] = [e for e in raw["elements"] if e.get("id") != middle or e["type"] != "node"]
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(raw))
    with pytest.warns(UserWarning, match=r"skipped \d+ references of ways to missing nodes"):
        graph = load_network(van_nuys_area(), path, use_cache=False)
    assert middle not in graph.nodes
    osmids: set[int] = set()
    for _, _, osmid in graph.edges(data="osmid"):
        osmids.update(osmid if isinstance(osmid, list) else [osmid])
    assert way["id"] in osmids, "the pieces of the cut way are kept"


def test_graphml_with_a_node_without_coordinates_is_refused(shared_data: Path, tmp_path: Path) -> None:
    graph = ox.project_graph(load_network(oakland_area(), shared_data / OAKLAND, use_cache=False), to_crs="EPSG:4326")
    node = next(iter(graph.nodes))
    graph.nodes[node]["x"] = float("nan")
    path = tmp_path / "nan.graphml"
    ox.save_graphml(graph, path)
    with pytest.raises(InputError, match=r"node \d+ has no finite x/y") as info:
        load_network(oakland_area(), path, use_cache=False)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------------------
# fuzzing: a graph, an InputError or an EmptyResultError, nothing else


def _outcome(path: Path, area: Area) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            graph = load_network(area, path, use_cache=False)
        except (InputError, EmptyResultError) as exc:
            assert str(path) in str(exc) or isinstance(exc, EmptyResultError)
            event(f"refused: {type(exc).__name__}")
            return "refused"
    assert isinstance(graph, nx.MultiDiGraph) and graph.number_of_edges() > 0
    assert graph.graph["crs"] == area.crs
    event("graph")
    return "graph"


_ids = st.integers(min_value=1, max_value=12)
_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_lat = st.floats(37.803, 37.812) | st.floats() | st.text(max_size=4) | st.none() | st.integers(-200, 200)
_lon = st.floats(-122.305, -122.296) | st.floats() | st.text(max_size=4) | st.none() | st.integers(-400, 400)
_node = st.fixed_dictionaries({"type": st.just("node"), "id": _ids | _anything, "lat": _lat, "lon": _lon})
_highway = st.sampled_from(["residential", "footway", "motorway", "service"]) | st.text(max_size=6)
_way = st.fixed_dictionaries({
    "type": st.just("way"),
    "id": _ids | _anything,
    "nodes": st.lists(_ids, max_size=6) | _anything,
    "tags": st.fixed_dictionaries({"highway": _highway}, optional={"name": _anything, "oneway": _anything})
    | _anything,
})
_overpass_doc = st.one_of(
    st.fixed_dictionaries({"elements": st.lists(st.one_of(_node, _node, _way, _anything), max_size=25)},
                          optional={"osm3s": _anything, "version": _anything}),
    _anything,
)


def _grid() -> list[dict[str, Any]]:
    """A valid 3 x 3 street grid around the West Oakland centre, 9 nodes and 6 ways."""
    nodes = [{"type": "node", "id": 1 + 3 * r + c, "lat": 37.8066 + 0.001 * r, "lon": -122.3014 + 0.001 * c}
             for r in range(3) for c in range(3)]
    rows = [[1 + 3 * r + c for c in range(3)] for r in range(3)]
    ways = [{"type": "way", "id": 100 + i, "nodes": refs, "tags": {"highway": "residential", "name": f"St {i}"}}
            for i, refs in enumerate(rows + [list(col) for col in zip(*rows, strict=True)])]
    return nodes + ways


@FUZZ
@given(document=_overpass_doc)
def test_fuzzed_overpass_json_gives_a_graph_or_an_input_error(document: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.json"
        path.write_text(json.dumps(document))
        _outcome(path, oakland_area())


@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(0, 14), st.sampled_from(["id", "lat", "lon", "nodes", "tags", "type"]),
                             _anything | _ids), max_size=4),
    extra=st.lists(st.one_of(_node, _way, _anything), max_size=4),
)
def test_fuzzed_edits_of_a_valid_overpass_json_give_a_graph_or_an_input_error(
    edits: list[tuple[int, str, Any]], extra: list[Any]
) -> None:
    elements = _grid()
    for index, key, value in edits:
        elements[index][key] = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.json"
        path.write_bytes(_overpass([*elements, *extra]))
        _outcome(path, oakland_area())


@pytest.fixture(scope="module")
def oakland_xml(shared_data: Path) -> bytes:
    return bz2.decompress((shared_data / OAKLAND).read_bytes())


@FUZZ
@given(cut=st.floats(0.0, 1.0), start=st.floats(0.0, 1.0), junk=st.binary(max_size=40), compress=st.booleans())
def test_fuzzed_osm_xml_gives_a_graph_or_an_input_error(
    oakland_xml: bytes, cut: float, start: float, junk: bytes, compress: bool
) -> None:
    data = oakland_xml
    at = int(start * len(data))
    data = data[:at] + junk + data[at + len(junk):]  # overwrite a slice with junk
    data = data[: max(1, int(cut * len(data)))] if cut < 0.98 else data  # often cut short
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("fuzz.osm.bz2" if compress else "fuzz.osm")
        path.write_bytes(bz2.compress(data) if compress else data)
        _outcome(path, oakland_area())


_xml_value = st.sampled_from(['"1"', '"-1"', '"nan"', '"inf"', '"x"', '"1e400"', '""', '"&amp;"'])


@FUZZ
@given(
    attribute=st.sampled_from(["lat", "lon", "id", "ref", "k", "v"]),
    value=_xml_value,
    occurrence=st.integers(0, 200),
)
def test_fuzzed_osm_xml_attributes_give_a_graph_or_an_input_error(
    oakland_xml: bytes, attribute: str, value: str, occurrence: int
) -> None:
    text = oakland_xml.decode()
    marker = f' {attribute}="'
    positions = [i for i in range(len(text)) if text.startswith(marker, i)][:201]
    if positions:
        at = positions[occurrence % len(positions)] + len(marker) - 1
        end = text.index('"', at + 1) + 1
        text = text[:at] + value + text[end:]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.osm"
        path.write_text(text)
        _outcome(path, oakland_area())


@pytest.fixture(scope="module")
def oakland_graphml(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    graph = load_network(oakland_area(), shared_data / OAKLAND, use_cache=False)
    path = tmp_path_factory.mktemp("graphml") / "oakland.graphml"
    ox.save_graphml(ox.project_graph(graph, to_crs="EPSG:4326"), path)
    return path.read_text()


@FUZZ
@given(
    data_index=st.integers(0, 5000),
    value=st.sampled_from(["", "nan", "-inf", "x", "1e999", "LINESTRING (0 0)", "POINT (1 2)", "[1, 2]",
                           "True", "-1", "EPSG:99999", "{"]),
    cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_fuzzed_graphml_gives_a_graph_or_an_input_error(
    oakland_graphml: str, data_index: int, value: str, cut: float | None
) -> None:
    # replace the text of one <data> element (a node x, an edge length, a geometry, the crs...)
    parts = oakland_graphml.split("<data ")
    i = 1 + data_index % (len(parts) - 1)
    head, sep, tail = parts[i].partition(">")
    parts[i] = head + sep + value + tail[tail.index("</data>"):]
    text = "<data ".join(parts)
    if cut is not None:
        text = text[: int(cut * len(text))]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.graphml"
        path.write_text(text)
        _outcome(path, oakland_area())

"""The online path (osmnx ``graph_from_polygon``) against a local Overpass stand-in.

A stdlib HTTP server on 127.0.0.1 (an ephemeral port, a thread per request) answers
osmnx's ``/status`` and ``/interpreter`` requests, replaying a real Overpass response that
osmnx's cache wrote (``osm/la_downtown_overpass/*.json``, read where it lies), or answering
429, 504, 400, a hang longer than the client's timeout, or malformed JSON. Nothing here
touches the internet: the Overpass URL is a setting pointed at the local server, proxies
are switched off for the test, and osmnx's HTTP cache goes to a temporary folder.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import networkx as nx
import osmnx as ox
import pytest
import shapely

from passages import settings
from passages._errors import EmptyResultError, PassagesError
from passages._overpass import NO_CONNECTION, OverpassError
from passages.areas import Area, load_areas
from passages.network import load_network
from passages.streetindex import StreetIndex

# What osmnx reads on line 5 of /status: a number of free slots means "no pause".
STATUS_TEXT = (
    "Connected as: 1\nCurrent time: 2024-01-01T00:00:00Z\nAnnounced endpoint: none\n"
    "Rate limit: 2\n2 slots available now.\nCurrently running queries (pid, space limit, time limit, start time):\n"
)

# Words of requests'/urllib3's own messages that must never reach the user.
RAW_TEXT = ("urllib3", "HTTPConnectionPool", "Max retries", "Traceback", "Read timed out", "<html")


@dataclass
class Stub:
    """The local Overpass: a script of answers for successive /interpreter requests."""

    url: str
    payload: bytes = b""
    script: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def next_answer(self) -> str:
        return self.script.pop(0) if self.script else "json"


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/status"):
                self._send(200, STATUS_TEXT.encode(), "text/plain")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            stub.queries.append(parse_qs(body).get("data", [""])[0])
            answer = stub.next_answer()
            try:
                if answer == "json":
                    self._send(200, stub.payload)
                elif answer == "empty":
                    self._send(200, b'{"version": 0.6, "elements": []}')
                elif answer == "garbage":
                    self._send(200, stub.payload[: len(stub.payload) // 2])  # cut mid-way: not JSON
                elif answer == "list":
                    self._send(200, b"[1, 2, 3]")
                elif answer == "hang":
                    stub.stop.wait(10.0)  # far longer than the client's timeout
                    self._send(200, stub.payload)
                else:
                    status = int(answer)
                    self._send(status, f"<html><body>error {status}</body></html>".encode(), "text/html")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout case)

    return Handler


@pytest.fixture
def overpass(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stub]:
    """A local Overpass replaying the small Van Nuys response; settings shrunk for fast tests."""
    payload = next((shared_data / "osm" / "la_van_nuys_overpass").glob("*.json")).read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    stub = Stub(url=f"http://127.0.0.1:{server.server_address[1]}/api", payload=payload)
    server.RequestHandlerClass = _handler(stub)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)  # osmnx's DNS pinning is undone
    monkeypatch.setattr(settings, "overpass_url", stub.url)
    monkeypatch.setattr(settings, "overpass_timeout_s", 1.0)
    monkeypatch.setattr(settings, "overpass_tries", 2)
    monkeypatch.setattr(settings, "overpass_retry_pause_s", 0.01)
    monkeypatch.setattr(settings, "raw_dir", tmp_path / "raw")
    try:
        yield stub
    finally:
        stub.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def van_nuys() -> Area:
    """A small area inside the Van Nuys response (not a CSP site: a fast fixture)."""
    return Area("van-nuys", "Van Nuys", "custom", 34.1938, -118.4654, 600.0)


def test_replayed_overpass_response_gives_the_areas_walking_graph(
    overpass: Stub, shared_data: Path, tmp_path: Path
) -> None:
    area = load_areas()["downtown"]
    overpass.payload = next((shared_data / "osm" / "la_downtown_overpass").glob("*.json")).read_bytes()
    cache_before = (ox.settings.cache_folder, ox.settings.overpass_url, ox.settings.requests_timeout)
    graph = load_network(area, None, cache_dir=tmp_path / "processed")
    # osmnx asked our server once, with its walk filter and the area's (buffered) polygon
    assert len(overpass.queries) == 1
    assert '["foot"!~"no"]' in overpass.queries[0] and "poly:" in overpass.queries[0]
    assert "[timeout:1" in overpass.queries[0]
    # a real graph of the area: projected, connected, inside the study polygon
    assert graph.graph["crs"] == area.crs
    assert graph.graph["source"] == "OpenStreetMap via Overpass"
    assert nx.is_weakly_connected(graph)
    assert graph.number_of_edges() > 1000
    index = StreetIndex(graph)
    inside = shapely.contains_xy(area.study_polygon_utm.buffer(1.0), index.node_xy[:, 0], index.node_xy[:, 1])
    assert inside.mean() > 0.9  # truncate_by_edge keeps the ends of streets leaving the polygon
    assert not any("motorway" in str(h) for _, _, h in graph.edges(data="highway"))
    # osmnx's cache went to the temporary raw folder, and osmnx's settings were restored
    assert list((tmp_path / "raw" / "osmnx-cache").glob("*.json"))
    assert (ox.settings.cache_folder, ox.settings.overpass_url, ox.settings.requests_timeout) == cache_before
    # the same streets as the same response read as a local file, where both reach
    local = load_network(area, area.source_paths("network", shared_data)[0], use_cache=False)
    names = {str(n) for _, _, n in graph.edges(data="name") if n}
    local_names = {str(n) for _, _, n in local.edges(data="name") if n}
    assert len(names & local_names) > 0.9 * len(local_names)


def test_osmnx_http_cache_is_reused_without_asking_again(overpass: Stub, tmp_path: Path) -> None:
    first = load_network(van_nuys(), None, use_cache=False)
    second = load_network(van_nuys(), None, use_cache=False)
    assert len(overpass.queries) == 1
    assert second.number_of_edges() == first.number_of_edges()


def test_a_passing_429_is_retried_once(overpass: Stub) -> None:
    overpass.script = ["429"]
    graph = load_network(van_nuys(), None, use_cache=False)
    assert len(overpass.queries) == 2
    assert graph.number_of_edges() > 300


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (["429", "429"], r"Overpass \(127\.0\.0\.1:\d+\) answered HTTP 429 Too Many Requests \(2 tries\)"),
        (["504", "504"], r"Overpass \(127\.0\.0\.1:\d+\) answered HTTP 504 Gateway Timeout \(2 tries\)"),
        (["hang", "hang"], r"Overpass \(127\.0\.0\.1:\d+\) did not answer within 1 s \(2 tries\)"),
        (["garbage", "garbage"], r"Overpass \(127\.0\.0\.1:\d+\) sent an answer that is not JSON \(2 tries\)"),
        (["list", "list"], r"Overpass \(127\.0\.0\.1:\d+\) sent JSON that is not an Overpass response"),
    ],
)
def test_overpass_failures_end_in_one_clear_line_after_a_short_retry(
    overpass: Stub, script: list[str], expected: str
) -> None:
    overpass.script = list(script)
    with pytest.raises(OverpassError, match=expected) as info:
        load_network(van_nuys(), None, use_cache=False)
    message = str(info.value)
    assert len(overpass.queries) == 2, "one retry, then stop"
    assert "street network of 'van-nuys'" in message
    assert "--network FILE" in message and "Try again" in message
    assert "\n" not in message and not any(raw in message for raw in RAW_TEXT)
    assert not list((settings.raw_dir / "osmnx-cache").glob("*.json")), "a failed answer is never cached"


def test_a_lasting_http_error_is_not_retried(overpass: Stub) -> None:
    overpass.script = ["400"]
    with pytest.raises(OverpassError, match=r"answered HTTP 400 Bad Request\. Try again") as info:
        load_network(van_nuys(), None, use_cache=False)
    assert len(overpass.queries) == 1
    assert not any(raw in str(info.value) for raw in RAW_TEXT)


def test_an_answer_without_streets_is_an_empty_result(overpass: Stub) -> None:
    overpass.script = ["empty"]
    with pytest.raises(EmptyResultError, match=r"Overpass .* no walkable street .*'van-nuys'"):
        load_network(van_nuys(), None, use_cache=False)
    assert len(overpass.queries) == 1


def test_no_server_listening_is_a_clear_connection_error(overpass: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(settings, "overpass_url", f"http://127.0.0.1:{port}/api")
    with pytest.raises(PassagesError) as info:
        load_network(van_nuys(), None, use_cache=False)
    assert str(info.value) == NO_CONNECTION
    assert not any(raw in str(info.value) for raw in RAW_TEXT)


def test_a_damaged_osmnx_cache_file_is_removed_and_downloaded_again(overpass: Stub) -> None:
    first = load_network(van_nuys(), None, use_cache=False)
    (cached,) = (settings.raw_dir / "osmnx-cache").glob("*.json")
    cached.write_bytes(cached.read_bytes()[:1000])  # a killed write
    with pytest.warns(UserWarning, match="download cache .* damaged; downloading again"):
        second = load_network(van_nuys(), None, use_cache=False)
    assert len(overpass.queries) == 2
    assert second.number_of_edges() == first.number_of_edges()
    json.loads(cached.read_text())  # the cache file is whole again

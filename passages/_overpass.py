"""Downloading the walking network from Overpass through osmnx, with a bounded retry.

osmnx 2.x sends the query itself (``osmnx._overpass._overpass_request``): it first asks the
server's ``/status`` endpoint how long to pause, then POSTs to ``/interpreter`` with
``requests``, passing ``settings.requests_kwargs`` through. On HTTP 429 or 504 it sleeps
55 s and tries again, without limit; a non-JSON answer becomes an
``InsufficientResponseError`` or ``ResponseStatusCodeError`` quoting the whole body.

This module works with that machinery rather than around it:

* the endpoint, the timeout and osmnx's HTTP cache folder are osmnx settings, set here
  for the duration of one download (from :data:`passages.settings.overpass_url` and
  :data:`~passages.settings.overpass_timeout_s`) and restored afterwards;
* a ``requests`` response hook (given through ``settings.requests_kwargs``) looks at every
  ``/interpreter`` answer before osmnx does: an HTTP error status, or a body that is not an
  Overpass JSON object, stops osmnx's endless 55 s retry loop at once;
* :func:`download_graph` then retries itself, :data:`~passages.settings.overpass_tries`
  times in all, :data:`~passages.settings.overpass_retry_pause_s` apart, for the passing
  causes (HTTP 429 and 5xx, a timeout, a lost connection, a malformed answer), and ends in
  one :class:`~passages._errors.PassagesError` line naming Overpass, the status or cause
  and the fix, never the text of a ``requests``/``urllib3`` exception or of the answer;
* a file of osmnx's own cache that is not JSON (a killed write) is removed with a note and
  the download made again, instead of failing on every run;
* every connection (``/status``, osmnx's DNS-over-HTTPS lookup, the query) gives up after
  :data:`~passages.settings.overpass_connect_timeout_s`: without a connection the download
  asks ``/status`` once more after :data:`~passages.settings.overpass_reconnect_pause_s` and
  stops with :data:`NO_CONNECTION`, well within 20 s, instead of waiting minutes.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import networkx as nx
import osmnx as ox
import requests
from osmnx._errors import InsufficientResponseError
from shapely.geometry import MultiPolygon, Polygon

from passages import settings
from passages._errors import EmptyResultError, PassagesError, printable

__all__ = ["OverpassError", "download_graph"]

#: HTTP statuses worth another try: rate limiting and the server's passing failures.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})

_FIX = "Try again in a few minutes, or give a local street network file with --network FILE."

#: The whole message of a download that could not connect to Overpass at all.
NO_CONNECTION = "no connection to the OpenStreetMap Overpass API; give --network FILE or try again"


class OverpassError(PassagesError):
    """The Overpass API could not give the street network (after the retries)."""


class _FailureError(Exception):
    """One failed try; ``retry`` says whether another try may help."""

    def __init__(self, cause: str, *, retry: bool, no_connection: bool = False) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry = retry
        self.no_connection = no_connection


def _timeout() -> tuple[float, float]:
    """Return the ``requests`` timeout (seconds): (to connect, to wait for the answer)."""
    return (min(settings.overpass_connect_timeout_s, settings.overpass_timeout_s), settings.overpass_timeout_s)


def _check_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """``requests`` response hook: refuse an ``/interpreter`` answer osmnx should not see."""
    if not urlparse(response.url).path.rstrip("/").endswith("/interpreter"):
        return  # the /status endpoint: osmnx handles its answers itself
    if response.status_code >= 400:
        reason = printable(response.reason or "", limit=60)
        raise _FailureError(f"answered HTTP {response.status_code} {reason}".rstrip(),
                       retry=response.status_code in RETRY_STATUS)
    try:
        data = response.json()
    except (ValueError, RecursionError):
        raise _FailureError("sent an answer that is not JSON", retry=True) from None
    if not isinstance(data, dict) or not isinstance(data.get("elements"), list):
        raise _FailureError("sent JSON that is not an Overpass response (no 'elements' list)", retry=True)
    if not all(isinstance(e, dict) for e in data["elements"]):
        raise _FailureError("sent elements that are not JSON objects", retry=True)


def _status(url: str | None = None) -> str:
    """Ask the Overpass ``/status`` endpoint: ``"ok"``, ``"no connection"`` or ``"no answer"``.

    osmnx asks ``/status`` before every query to respect the server's slots, and when it
    cannot reach it, it sleeps 60 s before trying the query anyway. Asking first lets a
    run without a connection fail at once (or be served from osmnx's cache at once).
    ``"no connection"`` means the server could not be connected to (no network, no DNS,
    nothing listening) within :data:`~passages.settings.overpass_connect_timeout_s`.
    """
    url = (url or settings.overpass_url).rstrip("/") + "/status"
    try:
        response = requests.get(url, timeout=(_timeout()[0], min(10.0, settings.overpass_timeout_s)),
                                headers={"User-Agent": ox.settings.http_user_agent}, **ox.settings.requests_kwargs)
        text = response.text
    except requests.exceptions.ConnectionError:  # ConnectTimeout too
        return "no connection"
    except requests.exceptions.RequestException:
        return "no answer"
    # osmnx reads the slots on line 5 and, failing that, pauses 60 s: an answer that is not
    # Overpass's status (a proxy's error page) switches that pause off instead
    return "ok" if response.status_code == 200 and len(text.split("\n")) >= 5 else "no answer"


@contextlib.contextmanager
def _osmnx_settings(cache_folder: Path, *, rate_limit: bool) -> Iterator[None]:
    """Point osmnx at our endpoint, timeout, cache folder and response hook, then restore.

    ``rate_limit=False`` skips osmnx's ``/status`` check (used when it is unreachable).
    """
    names = ("overpass_url", "requests_timeout", "use_cache", "cache_folder", "requests_kwargs",
             "overpass_rate_limit", "overpass_settings", "doh_url_template")
    saved = {name: getattr(ox.settings, name) for name in names}
    kwargs = dict(saved["requests_kwargs"])
    hooks = dict(kwargs.get("hooks") or {})
    previous = hooks.get("response", [])
    hooks["response"] = [*(previous if isinstance(previous, list) else [previous]), _check_response]
    kwargs["hooks"] = hooks
    try:
        ox.settings.overpass_url = settings.overpass_url
        # the query's [timeout:N] is written in (the same text as before, so osmnx's cache
        # keys do not change), which frees requests_timeout to carry a short connect timeout
        ox.settings.overpass_settings = str(saved["overpass_settings"]).replace(
            "{timeout}", str(settings.overpass_timeout_s))
        ox.settings.requests_timeout = _timeout()  # type: ignore[assignment]
        if not rate_limit:  # /status was unreachable: no DNS-over-HTTPS detour either
            ox.settings.doh_url_template = None
        ox.settings.use_cache = True
        ox.settings.cache_folder = str(cache_folder)
        ox.settings.requests_kwargs = kwargs
        ox.settings.overpass_rate_limit = bool(saved["overpass_rate_limit"]) and rate_limit
        yield
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)


def _remove_unreadable_cache_files(cache_folder: Path) -> int:
    """Remove the files of osmnx's cache that are not JSON (a killed write); return how many."""
    removed = 0
    if not cache_folder.is_dir():
        return 0
    for entry in cache_folder.glob("*.json"):
        if not entry.is_file():
            continue
        try:
            json.loads(entry.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            entry.unlink(missing_ok=True)
            removed += 1
        except OSError:
            continue
    return removed


def _one_try(polygon: Polygon | MultiPolygon, cache_folder: Path) -> nx.MultiDiGraph:
    """Download and build the graph once; raise :class:`_FailureError` on a failed try."""
    reachable = _status() == "ok" if ox.settings.overpass_rate_limit else True
    try:
        with _osmnx_settings(cache_folder, rate_limit=reachable):
            graph: nx.MultiDiGraph = ox.graph_from_polygon(
                polygon, network_type="walk", simplify=True, retain_all=False, truncate_by_edge=True,
            )
        return graph
    except _FailureError:
        raise
    except requests.exceptions.ConnectionError:  # ConnectTimeout too (a subclass of both)
        raise _FailureError("could not be reached (no connection)", retry=True, no_connection=True) from None
    except requests.exceptions.Timeout:
        raise _FailureError(f"did not answer within {settings.overpass_timeout_s:g} s", retry=True) from None
    except requests.exceptions.RequestException as exc:
        raise _FailureError(f"could not be asked ({type(exc).__name__})", retry=True) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        # not from the answer (the hook checked it): from a damaged file of osmnx's cache
        if _remove_unreadable_cache_files(cache_folder):
            warnings.warn(f"a file of the download cache in {cache_folder} was damaged; downloading again",
                          UserWarning, stacklevel=4)
            raise _FailureError("had a damaged cached answer", retry=True) from None
        raise _FailureError("sent an answer that could not be read", retry=False) from None


def download_graph(polygon: Polygon | MultiPolygon, *, cache_folder: Path, label: str) -> nx.MultiDiGraph:
    """Return osmnx's ``walk`` graph of ``polygon`` (EPSG:4326), downloaded from Overpass.

    Parameters
    ----------
    polygon
        The study polygon, in longitude/latitude.
    cache_folder
        osmnx's HTTP cache folder (answers are reused from there).
    label
        What is downloaded (``"the street network of 'watts'"``), for the messages.

    Returns
    -------
    networkx.MultiDiGraph
        osmnx's simplified walking graph, unprojected (EPSG:4326).

    Raises
    ------
    OverpassError
        After :data:`passages.settings.overpass_tries` failed tries (a passing cause), or at
        once (a lasting one, such as HTTP 400): one line naming Overpass and its address,
        the status or cause, and the fix.
    EmptyResultError
        Overpass answered, but with no walkable street inside the polygon.
    """
    host = printable(urlparse(settings.overpass_url).netloc or settings.overpass_url, limit=100)
    tries = max(1, int(settings.overpass_tries))
    failure = _FailureError("was not asked", retry=False)
    for attempt in range(1, tries + 1):
        if failure.no_connection and _status() == "no connection":
            # osmnx's cache was looked in already: only a connection can help now
            raise OverpassError(NO_CONNECTION)
        try:
            return _one_try(polygon, cache_folder)
        except _FailureError as exc:
            failure = exc
        except InsufficientResponseError:
            raise EmptyResultError(
                f"Overpass ({host}) has no walkable street for {label}. "
                "Check the area, or give a local street network file with --network FILE."
            ) from None
        except ValueError as exc:
            if "no graph nodes" in str(exc).lower():
                raise EmptyResultError(
                    f"Overpass ({host}) has no walkable street inside the study area for {label}. "
                    "Check the area, or give a local street network file with --network FILE."
                ) from None
            failure = _FailureError(f"sent data that is not a street network ({type(exc).__name__})", retry=False)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            failure = _FailureError(f"sent data that is not a street network ({type(exc).__name__})", retry=False)
        if not failure.retry or attempt == tries:
            break
        pause = settings.overpass_reconnect_pause_s if failure.no_connection else settings.overpass_retry_pause_s
        time.sleep(max(0.0, pause))
    if failure.no_connection:
        raise OverpassError(NO_CONNECTION)
    tried = f" ({attempt} tries)" if attempt > 1 else ""
    raise OverpassError(f"could not download {label}: Overpass ({host}) {failure.cause}{tried}. {_FIX}")

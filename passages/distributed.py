"""Fan area x scenario plans out over a Dask cluster, each walking graph loaded once per worker.

:func:`run_plans` sends one task per (area, scenario) :class:`PlanJob` to a
``dask.distributed`` cluster: the scheduler at an address (``passages plan --all-areas
--scheduler tcp://host:8786``) or, without one, a :class:`~distributed.LocalCluster` of
local processes. Each worker keeps the walking graphs it has loaded in a
:class:`NetworkCache` (installed by :class:`NetworkCachePlugin`), so a graph is read once
per worker, not shipped with every task; each task returns the bytes of its summary and
its map, and the client writes them (atomically) where the serial run would. The same
jobs run with :func:`run_serial` give the same summaries, byte for byte.

Needs the ``dask`` extra (``pip install 'passages[dask]'``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from passages import settings
from passages._errors import InputError
from passages._io import output_set
from passages._names import slug
from passages.areas import Area
from passages.network import load_network
from passages.scenarios import PlanParameters

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class PlanJob:
    """One plan to make: an area, a named set of parameters and where the inputs are.

    Attributes
    ----------
    area
        The area.
    name
        Scenario name; the outputs are ``<name>.html`` and ``<name>-summary.json``.
    params
        Plan parameters.
    data_dir, offline, network, incidents, places, use_cache
        As for :func:`passages.plan.make_plan` (``places`` is its ``place_sources``).
    tiles
        Add OpenStreetMap web tiles to the map.
    lang
        Language of the map's words (``"en"`` or ``"es"``).
    """

    area: Area
    name: str = "plan"
    params: PlanParameters = field(default_factory=PlanParameters)
    data_dir: Path | None = None
    offline: bool = False
    network: Path | None = None
    incidents: tuple[Path, ...] | None = None
    places: Mapping[str, Sequence[Path]] | None = None
    use_cache: bool = True
    tiles: bool = True
    lang: str = "en"


@dataclass(frozen=True)
class PlanOutput:
    """What one plan produced: the bytes of its summary (JSON) and of its map (HTML)."""

    slug: str
    name: str
    summary_json: bytes
    map_html: bytes

    def summary(self) -> dict[str, Any]:
        """Return the summary as a dict."""
        result: dict[str, Any] = json.loads(self.summary_json)
        return result


def plan_jobs(
    areas: Sequence[Area], *, scenario: str | Path | None = None, **options: Any
) -> list[PlanJob]:
    """Return one job per area and scenario of ``scenario`` (one ``"plan"`` job per area without one).

    ``options`` are the other fields of :class:`PlanJob`.
    """
    from passages.scenarios import read_scenarios

    runs = [(s.name, s.params) for s in read_scenarios(scenario)] if scenario is not None else [
        ("plan", PlanParameters())]
    return [PlanJob(area, name, params, **options) for area in areas for name, params in runs]


def run_job(job: PlanJob) -> PlanOutput:
    """Make one plan and return its summary and map as bytes (written through a temporary folder)."""
    from passages.plan import make_plan, plan_documents

    plan = make_plan(job.area, params=job.params, data_dir=job.data_dir, offline=job.offline, network=job.network,
                     incidents=list(job.incidents) if job.incidents is not None else None,
                     place_sources=job.places, use_cache=job.use_cache)
    page, summary = plan_documents(plan, tiles=job.tiles, lang=job.lang)
    return PlanOutput(job.area.slug, job.name, summary, page)


def run_serial(jobs: Sequence[PlanJob]) -> list[PlanOutput]:
    """Run the jobs one after another in this process."""
    return [run_job(job) for job in jobs]


# -- the graph, once per worker ------------------------------------------------------------


class NetworkCache:
    """Walking graphs loaded once and handed out as copies (a plan writes edge attributes).

    Keyed by the area (slug, radius and study polygon), the network source and the
    loading options. Safe to share between the threads of a worker.
    """

    def __init__(self) -> None:
        self._graphs: dict[tuple[Any, ...], nx.MultiDiGraph] = {}
        self._lock = threading.Lock()
        self.loads = 0
        self.hits = 0

    def load(self, area: Area, source: str | Path | None = None, **options: Any) -> nx.MultiDiGraph:
        """Return a copy of the area's graph, loading it with :func:`load_network` the first time."""
        key = (area.slug, area.radius_m, area.study_polygon_utm.wkb, str(source),
               tuple(sorted((k, str(v)) for k, v in options.items())))
        with self._lock:
            graph = self._graphs.get(key)
            if graph is None:
                graph = load_network(area, source, **options)
                self._graphs[key] = graph
                self.loads += 1
            else:
                self.hits += 1
        return graph.copy()

    def stats(self) -> dict[str, int]:
        """Return how many graphs were loaded and how many requests were served from memory."""
        return {"graphs": len(self._graphs), "loads": self.loads, "hits": self.hits}


_active = threading.local()


def _load_network_through_cache(area: Area, source: str | Path | None = None, **options: Any) -> nx.MultiDiGraph:
    """``load_network`` as :mod:`passages.plan` calls it: from the worker's cache inside a task."""
    cache: NetworkCache | None = getattr(_active, "cache", None)
    if cache is None:
        return load_network(area, source, **options)
    return cache.load(area, source, **options)


def _route_plans_through_cache() -> None:
    # make_plan reads the network through the name ``load_network`` of passages.plan and takes
    # no graph; this routes that name through the cache of the task's worker. Outside a task
    # (no cache set on the thread) it is load_network itself, so a serial run is unchanged.
    import passages.plan

    if passages.plan.load_network is not _load_network_through_cache:
        passages.plan.load_network = _load_network_through_cache


@contextmanager
def using_cache(cache: NetworkCache | None) -> Iterator[None]:
    """Within this block, plans made on this thread take their graphs from ``cache``."""
    _route_plans_through_cache()
    previous = getattr(_active, "cache", None)
    _active.cache = cache
    try:
        yield
    finally:
        _active.cache = previous


try:
    from distributed.diagnostics.plugin import WorkerPlugin as _PluginBase
except ImportError:  # the dask extra is not installed: the serial path still works
    _PluginBase = object  # type: ignore[assignment, misc]


class NetworkCachePlugin(_PluginBase):
    """Gives every worker a :class:`NetworkCache` of its own."""

    name = "passages-network-cache"

    def setup(self, worker: Any) -> None:
        """Create the worker's cache."""
        self.cache = NetworkCache()


def _worker_cache(worker: Any = None) -> NetworkCache | None:
    if worker is None:
        from distributed import get_worker

        worker = get_worker()
    plugin = worker.plugins.get(NetworkCachePlugin.name)
    return getattr(plugin, "cache", None)


#: One plan at a time per process: make_plan records the warnings of its stages with
#: warnings.catch_warnings, whose state is process-wide, so two plans on two threads of one
#: worker could swap notes. Parallelism comes from processes (one thread each by default).
_PLAN_LOCK = threading.Lock()


def _plan_on_worker(job: PlanJob) -> PlanOutput:
    with _PLAN_LOCK, using_cache(_worker_cache()):
        return run_job(job)


def _cache_stats(dask_worker: Any = None) -> dict[str, int]:
    # client.run passes the worker as ``dask_worker``
    cache = _worker_cache(dask_worker)
    return cache.stats() if cache is not None else {"graphs": 0, "loads": 0, "hits": 0}


def run_on_client(client: Client, jobs: Sequence[PlanJob]) -> list[PlanOutput]:
    """Run the jobs on the cluster behind ``client``; return the outputs in job order.

    An error in any job (bad input on a worker) is raised here, as it would be serially.
    """
    client.register_plugin(NetworkCachePlugin())
    keys = [f"passages-plan-{i}-{job.area.slug}-{job.name}" for i, job in enumerate(jobs)]
    futures = client.map(_plan_on_worker, list(jobs), key=keys, pure=False)
    outputs: list[PlanOutput] = client.gather(futures)
    return outputs


def cache_stats(client: Client) -> dict[str, dict[str, int]]:
    """Return each worker's :meth:`NetworkCache.stats`, by worker address."""
    stats: dict[str, dict[str, int]] = client.run(_cache_stats)
    return stats


def run_plans(
    jobs: Sequence[PlanJob], *, scheduler: str | None = None, workers: int | None = None,
    on_client: Callable[[Client], None] | None = None,
) -> list[PlanOutput]:
    """Run the jobs on a Dask cluster and return their outputs in job order.

    Parameters
    ----------
    jobs
        From :func:`plan_jobs`.
    scheduler
        Address of a running scheduler (``tcp://host:8786``); default a
        :class:`~distributed.LocalCluster` of local processes on 127.0.0.1, one thread each.
    workers
        Processes of the local cluster; default the CPU count (at most one per job).
    on_client
        Called with the client once connected (to print the dashboard address, say).

    Raises
    ------
    InputError
        The ``dask`` extra is not installed, or the scheduler cannot be reached.
    """
    if not jobs:
        return []

    def fan_out(client: Client) -> list[PlanOutput]:
        if on_client is not None:
            on_client(client)
        return run_on_client(client, jobs)

    outputs: list[PlanOutput] = _with_client(fan_out, scheduler=scheduler,
                                             workers=workers or min(os.cpu_count() or 1, len(jobs)))
    return outputs


def write_outputs(outputs: Sequence[PlanOutput], *, out_dir: str | Path | None = None,
                  per_area: bool = True) -> list[dict[str, Path]]:
    """Write each output's map and summary to ``out_dir / <area>/`` (default ``settings.maps_dir / <area>``).

    With ``per_area=False`` and an ``out_dir``, the files go to ``out_dir`` itself (one
    area, as ``passages plan --area A --out DIR`` does). The file names are those of
    :func:`passages.plan.write_plan`; the files of one folder are one output set
    (:func:`passages._io.output_set`), swapped in whole.
    """
    from passages.plan import plan_files

    def folder_of(output: PlanOutput) -> Path:
        if out_dir is not None and not per_area:
            return Path(out_dir)
        return (Path(out_dir) if out_dir is not None else settings.maps_dir) / slug(output.slug, field="--area")

    written: dict[int, dict[str, Path]] = {}
    for folder in dict.fromkeys(folder_of(o) for o in outputs):
        with output_set(folder) as out:
            for number, output in enumerate(outputs):
                if folder_of(output) == folder:
                    map_name, summary_name = plan_files(output.name)
                    written[number] = {"map": out.write(map_name, output.map_html),
                                       "summary": out.write(summary_name, output.summary_json)}
    return [written[number] for number in range(len(outputs))]


def plan_all_areas(
    *, area: str | None, all_areas: bool, scheduler: str | None, workers: int | None, areas_file: Path | None,
    out: Path | None, scenario: Path | None, offline: bool, data_dir: Path | None, network: Path | None,
    incidents: Sequence[Path] | None, places: Mapping[str, Sequence[Path]] | None, tiles: bool, use_cache: bool,
    on_status: Callable[[str], Any] | None = None, lang: str = "en",
) -> list[tuple[str, str, int, float, Path, Path]]:
    """Run ``passages plan --all-areas`` (or one ``--area`` with ``--scheduler``) and write its files.

    With ``all_areas``, the areas are every area of ``areas_file`` (default the shipped
    ones) that has a local street network when ``offline``, else every area. Paths must be
    readable by the workers (a shared file system, or the same layout on every machine).

    Returns
    -------
    list of tuple
        Per plan: area slug, scenario name, routes, passage km, map path, summary path.
    """
    from passages.areas import get_area, load_areas

    if all_areas and area is not None:
        raise InputError("--area and --all-areas both given", field="--all-areas", fix="Give one of them.")
    if all_areas and network is not None:
        raise InputError("one street network file cannot serve every area", field="--network",
                         fix="Drop --network, or plan one area with --area.")
    if all_areas:
        areas = [a for a in load_areas(areas_file).values() if a.offline or not offline]
        if not areas:
            raise InputError("no area has a local street network and --offline was given", field="--all-areas",
                             fix="Drop --offline, or give areas with a local network.")
    elif area is not None:
        areas = [get_area(area, areas_file=areas_file)]
    else:
        raise InputError("no area given", field="--area", fix="Give --area SLUG or --all-areas.")
    jobs = plan_jobs(areas, scenario=scenario, data_dir=data_dir, offline=offline, network=network,
                     incidents=tuple(incidents) if incidents else None, places=places, use_cache=use_cache,
                     tiles=tiles, lang=lang)
    status = on_status or (lambda _text: None)
    status(f"planning {len(jobs)} area x scenario runs on Dask")

    def connected(client: Client) -> None:
        status(f"planning {len(jobs)} runs on {len(client.scheduler_info().get('workers', {}))} Dask workers")

    outputs = run_plans(jobs, scheduler=scheduler, workers=workers, on_client=connected)
    written = write_outputs(outputs, out_dir=out, per_area=all_areas)
    rows = []
    for output, paths in zip(outputs, written, strict=True):
        summary = output.summary()
        rows.append((output.slug, output.name, int(summary["routes"]["routed"]), float(summary["passage_km"]),
                     paths["map"], paths["summary"]))
    return rows


# -- passages compare --------------------------------------------------------------------


def _compare_on_worker(area: Area, scenarios: Sequence[Any], options: dict[str, Any]) -> list[Any]:
    from passages.compare import run_scenarios

    with _PLAN_LOCK, using_cache(_worker_cache()):
        return run_scenarios(area, scenarios, **options)


def run_scenarios_on_cluster(
    area: Area, scenarios: Sequence[Any], *, scheduler: str | None = None, workers: int | None = None,
    on_scenario: Callable[[str], Any] | None = None, **options: Any,
) -> list[Any]:
    """:func:`passages.compare.run_scenarios` fanned out on Dask, one task per set of plan parameters.

    Scenarios sharing plan parameters stay in one task, so they still share one plan; the
    runs come back in file order. ``scheduler`` and ``workers`` are as for
    :func:`run_plans`; ``options`` go to ``run_scenarios`` (``data_dir``, ``offline``, ...).
    """
    groups: dict[PlanParameters, list[int]] = {}
    for position, scenario in enumerate(scenarios):
        groups.setdefault(scenario.params, []).append(position)
    batches = list(groups.values())

    def fan_out(client: Client) -> list[Any]:
        client.register_plugin(NetworkCachePlugin())
        futures = [client.submit(_compare_on_worker, area, [scenarios[i] for i in batch], options, pure=False,
                                 key=f"passages-compare-{area.slug}-{n}") for n, batch in enumerate(batches)]
        runs: list[Any] = [None] * len(scenarios)
        for batch, future in zip(batches, futures, strict=True):
            for position, run in zip(batch, future.result(), strict=True):
                runs[position] = run
                if on_scenario is not None:
                    on_scenario(scenarios[position].name)
        return runs

    return _with_client(fan_out, scheduler=scheduler, workers=workers or min(os.cpu_count() or 1, len(batches)))


def _with_client(work: Callable[[Client], Any], *, scheduler: str | None, workers: int) -> Any:
    """Run ``work`` with a client of the scheduler at ``scheduler``, or of a local process cluster."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("dask.distributed is not installed", field="--scheduler",
                         fix="Install the dask extra: pip install 'passages[dask]'.") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=settings.dask_connect_timeout_s)
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler ({exc})", field="--scheduler",
                             fix="Check the address (tcp://host:8786) and that the scheduler runs.") from None
        with client:
            return work(client)
    with LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        return work(client)

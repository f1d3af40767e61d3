"""The job queue of the planning service: plans run in worker processes, their state in the store.

A run is a row of :class:`~passages.web.models.Run` and a folder,
``<artefact_dir>/runs/<id>``. Creating a run (:func:`create_run`) stages its inputs (the
scenario TOML, uploaded incident, school and area files under generated names) in
``runs/<id>/inputs``, with the area's community concerns accepted so far
(``concerns.geojson``, :mod:`passages.web.reports`), and stores the row as ``queued``.
Worker processes (``spawn``ed, each with its own :class:`~passages.web.store.Store`) claim
queued runs with a conditional ``UPDATE ... WHERE state = 'queued'``, so two workers never
take the same run, and run the
pipeline through its public functions only (:func:`passages.compare.run_scenarios`,
:func:`passages.plan.write_plan`, :func:`passages.briefing.write_officer_pack`,
:func:`passages.compare.write_comparison`), updating the row's ``step`` and
``steps_done`` as they go. Every output is written as ONE output set
(:func:`passages._io.output_set`): a run that fails or is killed leaves no output.

The artefact layout (other pages rely on it)::

    runs/<id>/inputs/                      what the run was made from (never served)
    runs/<id>/scenarios/<scenario>/plan.html, plan-summary.json, metrics.json, community.html, community-es.html
    runs/<id>/scenarios/<scenario>/officers/  (write_officer_pack: officers.html, briefing.pdf, GPX...)
    runs/<id>/compare/compare.csv, compare-coverage.png, compare-<a>-vs-<b>.html  (2+ scenarios)

Because the state lives in the store, a restart loses nothing: :func:`recover` (called at
every start) marks each run still ``running`` as failed with :data:`RECOVERY_REASON` and
removes what it had written; ``queued`` runs are simply claimed again. A failed run is
re-run with :func:`rerun` (a new run with the same inputs). Plans run in local processes;
running them on a Dask cluster is not done here (see :mod:`passages.distributed` for the
command line's fan-out).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from passages._errors import InputError, PassagesError, printable
from passages.web.config import ServiceConfig
from passages.web.models import Run, utcnow
from passages.web.store import Store

__all__ = ["RECOVERY_REASON", "RUN_STEPS", "JobQueue", "create_run", "execute_run", "fail_run", "inputs_folder",
           "recover", "rerun", "run_folder", "scenario_toml"]

#: What a run still running when its server died says (the one-line error).
RECOVERY_REASON = "the server stopped while this job ran; run it again"

#: What a run whose worker process died says.
WORKER_DIED_REASON = "the worker process running this job stopped; run it again"

#: The steps a run reports, in order: the plan's (per distinct set of plan parameters),
#: then covering, the officer packs, and writing the maps.
RUN_STEPS = ("street network", "places", "incidents", "risk", "routes", "coverage", "briefing", "writing")

#: Kinds of file a planner may upload, with the endings accepted (lower case).
UPLOAD_KINDS: dict[str, tuple[str, ...]] = {
    "incidents": (".csv", ".geojson", ".json"),
    "schools": (".csv", ".geojson", ".json", ".gpkg"),
    "areas": (".geojson", ".json"),
}

#: Seconds a worker waits between looks for a queued run.
POLL_SECONDS = 0.5

#: Name of the scenario file in a run's inputs.
SCENARIO_FILE = "scenarios.toml"

#: Name of an uploaded areas file in a run's inputs.
AREAS_FILE = "areas.geojson"

#: Name of the area's accepted community concerns in a run's inputs (:mod:`passages.web.reports`).
CONCERNS_FILE = "concerns.geojson"


# --------------------------------------------------------------------------- folders


def run_folder(artefact_dir: Path, run_id: int) -> Path:
    """Return the folder of run ``run_id``: ``<artefact_dir>/runs/<id>`` (the id is an integer)."""
    return Path(artefact_dir) / "runs" / str(int(run_id))


def inputs_folder(artefact_dir: Path, run_id: int) -> Path:
    """Return the folder of the inputs of run ``run_id`` (never served)."""
    return run_folder(artefact_dir, run_id) / "inputs"


def _staging_leftovers(artefact_dir: Path, run_id: int) -> list[Path]:
    """The staging (and half-swapped) folders an output set of run ``run_id`` may have left."""
    runs = Path(artefact_dir) / "runs"
    if not runs.is_dir():
        return []
    prefix = f".{int(run_id)}."
    return [entry for entry in runs.iterdir()
            if entry.name.startswith(prefix) and (".staging-" in entry.name or ".old-" in entry.name)]


def _remove_outputs(artefact_dir: Path, run_id: int) -> None:
    """Remove every output of a run (staging folders and anything but its inputs)."""
    for leftover in _staging_leftovers(artefact_dir, run_id):
        shutil.rmtree(leftover, ignore_errors=True)
    folder = run_folder(artefact_dir, run_id)
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name == "inputs":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()


# --------------------------------------------------------------------------- scenarios


def _toml_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        raise InputError("expected a number or text, got true/false", field=key, fix=f"Give {key} as a number.")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"must be a finite number, got {value!r}", field=key, fix=f"Give {key} as a number.")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(key, v) for v in value) + "]"
    raise InputError(f"expected a number, text or a list, got a {type(value).__name__}", field=key,
                     fix=f"Give {key} as a number, text or a list.")


def scenario_toml(table: Mapping[str, Mapping[str, Any]]) -> str:
    """Return the TOML text of a scenario table (name to keys), to be read by :func:`read_scenarios`.

    Names and keys are written quoted, so whatever they hold stays a name for the reader
    to check (a name that is not a slug is refused there, as in a file). ``None`` values
    are left out (the default).
    """
    if not isinstance(table, Mapping) or not table:
        raise InputError("no scenario given", field="scenarios", fix="Give at least one scenario with its keys.")
    lines = []
    for name, keys in table.items():
        if not isinstance(keys, Mapping):
            raise InputError("a scenario must be a table of keys", field="scenarios", fix="Give name: {key: value}.")
        lines.append(f"[scenarios.{json.dumps(str(name))}]")
        for key, value in keys.items():
            if value is None:
                continue
            lines.append(f"{json.dumps(str(key))} = {_toml_value(str(key), value)}")
        lines.append("")
    return "\n".join(lines)


def scenario_table(scenarios: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Return the scenarios as JSON: name to every key (plan and coverage), ``None`` left out."""
    table = {}
    for scenario in scenarios:
        keys = {**scenario.params.as_dict(), **scenario.coverage.as_dict()}
        table[scenario.name] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in keys.items() if v is not None}
    return table


# --------------------------------------------------------------------------- creating runs


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its kind (:data:`UPLOAD_KINDS`), the ending of its name, its bytes."""

    kind: str
    suffix: str
    data: bytes


def upload_suffix(kind: str, filename: str | None) -> str:
    """Return the accepted ending of an uploaded file's name (lower case), else raise InputError.

    Only the ending is kept: the file is stored under a generated name.
    """
    if kind not in UPLOAD_KINDS:
        raise InputError(f"unknown upload {kind!r}", field="upload", fix="Upload incidents, schools or areas.")
    name = (filename or "").lower()
    for suffix in UPLOAD_KINDS[kind]:
        if name.endswith(suffix):
            return suffix
    raise InputError(f"the {kind} file must end in " + ", ".join(UPLOAD_KINDS[kind]), field=kind,
                     fix="Upload a file of one of these kinds.")


def _validate_inputs(folder: Path, area_slug: str, config: ServiceConfig) -> tuple[Any, list[Any]]:
    """Read the staged inputs with the pipeline's readers; return the area and the scenarios."""
    from passages.areas import get_area
    from passages.incidents import load_incidents
    from passages.places import read_schools
    from passages.scenarios import read_scenarios

    areas_file = folder / AREAS_FILE
    area = get_area(area_slug, areas_file=areas_file if areas_file.is_file() else None)
    scenarios = read_scenarios(folder / SCENARIO_FILE)
    incidents = sorted(folder.glob("incidents-*"))
    if incidents:
        load_incidents(incidents, area=area, windows=scenarios[0].params.windows)
    for path in sorted(folder.glob("schools-*")):
        read_schools(path, area=area)
    return area, scenarios


def create_run(store: Store, config: ServiceConfig, *, area_slug: str, toml_text: str, created_by: str,
               uploads: Sequence[Upload] = (), address: str = "", validate: bool = True,
               copy_from: Path | None = None) -> int:
    """Stage a run's inputs, check them, store the run as ``queued`` (audit ``run``); return its id.

    Parameters
    ----------
    area_slug
        The area (a shipped one, or one of an uploaded areas file).
    toml_text
        The scenario file's text (from the form through :func:`scenario_toml`, or uploaded).
    uploads
        Files to plan with (:class:`Upload`); stored under generated names.
    validate
        Read every input with the pipeline's readers first (a bad file raises the one-line
        :class:`InputError` and no run is made); ``False`` leaves the checks to the job.
    copy_from
        Take the inputs of this folder instead (re-running a run).

    Raises
    ------
    InputError
        An input is too large or unusable, a scenario name or key is refused.
    """
    from passages._names import slug

    slug(area_slug, field="area")
    incoming = Path(config.artefact_dir) / "incoming" / secrets.token_hex(8)
    incoming.mkdir(parents=True)
    try:
        if copy_from is not None:
            for entry in copy_from.iterdir():
                if entry.is_file() and not entry.is_symlink():
                    shutil.copyfile(entry, incoming / entry.name)
        else:
            if len(toml_text.encode("utf-8")) > config.max_upload_bytes:
                raise InputError("the scenario file is too large", field="scenario file",
                                 fix=f"Upload at most {config.max_upload_bytes:,} bytes.")
            (incoming / SCENARIO_FILE).write_text(toml_text, encoding="utf-8")
            counts: dict[str, int] = {}
            for upload in uploads:
                if len(upload.data) > config.max_upload_bytes:
                    raise InputError(f"the {upload.kind} file is too large", field=upload.kind,
                                     fix=f"Upload at most {config.max_upload_bytes:,} bytes.")
                if upload.suffix not in UPLOAD_KINDS.get(upload.kind, ()):
                    raise InputError(f"the {upload.kind} file has an ending that is not accepted", field=upload.kind,
                                     fix="Endings accepted: " + ", ".join(UPLOAD_KINDS.get(upload.kind, ())) + ".")
                if upload.kind == "areas":
                    name = AREAS_FILE
                else:
                    counts[upload.kind] = counts.get(upload.kind, 0) + 1
                    name = f"{upload.kind}-{counts[upload.kind]}{upload.suffix}"
                (incoming / name).write_bytes(upload.data)
        # the residents' reports planners accepted until now (a re-run too plans with those of now)
        from passages.web.reports import write_area_file

        (incoming / CONCERNS_FILE).unlink(missing_ok=True)
        with store.session() as session:
            write_area_file(session, config.artefact_dir, area_slug, target=incoming / CONCERNS_FILE)
        if validate:
            _area, scenarios = _validate_inputs(incoming, area_slug, config)
            parameters = scenario_table(scenarios)
        else:
            parameters = {}
        from passages.web import audit

        with store.session() as session:
            run = Run(area_slug=area_slug, kind="plan", parameters=parameters, input_hashes={}, state="queued",
                      step="queued", steps_done=0, steps_total=0, error="", summary={}, outputs=[],
                      created_by=created_by, created_at=utcnow())
            session.add(run)
            session.flush()
            run_id = run.id
            folder = run_folder(config.artefact_dir, run_id)
            _remove_outputs(config.artefact_dir, run_id)  # a row id used again after a reset database
            shutil.rmtree(folder / "inputs", ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            os.rename(incoming, folder / "inputs")
            audit.record(session, "run", username=created_by, target=f"run {run_id} {area_slug}", address=address,
                         detail="queued" + (f" again (inputs of {copy_from.parent.name})" if copy_from else ""))
        return run_id
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def rerun(store: Store, config: ServiceConfig, run_id: int, *, created_by: str, address: str = "") -> int:
    """Queue a new run with the inputs (area, scenarios, uploads) of run ``run_id``; return its id.

    Raises
    ------
    InputError
        No such run, or its inputs are gone.
    """
    with store.session() as session:
        old = session.get(Run, int(run_id))
        if old is None:
            raise InputError(f"no run {int(run_id)}", field="run", fix="See the list of runs.")
        area_slug = old.area_slug
    source = inputs_folder(config.artefact_dir, run_id)
    if not (source / SCENARIO_FILE).is_file():
        raise InputError(f"the inputs of run {int(run_id)} are gone", field="run", fix="Start a new plan.")
    return create_run(store, config, area_slug=area_slug, toml_text="", created_by=created_by, address=address,
                      copy_from=source)


# --------------------------------------------------------------------------- states


def fail_run(store: Store, run_id: int, reason: str, *, artefact_dir: Path | None = None,
             only_if: str | None = None) -> bool:
    """Mark a run failed with a one-line ``reason``; remove its outputs; return whether it changed.

    ``only_if`` changes it only from that state (``"running"``).
    """
    with store.session() as session:
        query = update(Run).where(Run.id == int(run_id))
        if only_if is not None:
            query = query.where(Run.state == only_if)
        result = session.execute(query.values(
            state="failed", error=printable(reason), finished_at=utcnow(), outputs=[], summary={},
        ))
        changed = getattr(result, "rowcount", 0)
    if changed and artefact_dir is not None:
        _remove_outputs(artefact_dir, run_id)
    return bool(changed)


def recover(store: Store, config: ServiceConfig) -> dict[str, list[int]]:
    """At a start: fail every run still ``running`` (its server died) and remove its outputs.

    Returns the ids of the runs failed (``"failed"``) and of those still queued
    (``"queued"``, which the workers will claim).
    """
    with store.session() as session:
        running = list(session.scalars(select(Run.id).where(Run.state == "running").order_by(Run.id)))
        queued = list(session.scalars(select(Run.id).where(Run.state == "queued").order_by(Run.id)))
    for run_id in running:
        fail_run(store, run_id, RECOVERY_REASON, artefact_dir=config.artefact_dir, only_if="running")
    runs = Path(config.artefact_dir) / "runs"
    if runs.is_dir():  # staging folders of runs that died, whatever their state
        for entry in runs.iterdir():
            if entry.name.startswith(".") and (".staging-" in entry.name or ".old-" in entry.name):
                shutil.rmtree(entry, ignore_errors=True)
    shutil.rmtree(Path(config.artefact_dir) / "incoming", ignore_errors=True)
    return {"failed": running, "queued": queued}


def claim_next(store: Store) -> int | None:
    """Take the oldest queued run (state ``running``); return its id, or ``None`` if none is queued."""
    for _attempt in range(5):
        try:
            with store.session() as session:
                run_id = session.scalar(select(Run.id).where(Run.state == "queued").order_by(Run.id).limit(1))
                if run_id is None:
                    return None
                result = session.execute(update(Run).where(Run.id == run_id, Run.state == "queued").values(
                    state="running", started_at=utcnow(), step="starting", steps_done=0))
                taken = getattr(result, "rowcount", 0)
        except OperationalError:  # another process wrote first (SQLite): look again
            time.sleep(0.1)
            continue
        if taken:
            return int(run_id)
    return None


# --------------------------------------------------------------------------- running one


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file (remembered by path, size and time of change)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _input_hashes(area: Any, inputs: Path, data_dir: Path, uploaded: Mapping[str, list[Path]]) -> dict[str, str]:
    hashes = {f"inputs/{p.name}": file_sha256(p) for p in sorted(inputs.iterdir()) if p.is_file()}
    for kind in sorted(area.sources):
        if uploaded.get(kind):
            continue  # replaced by the planner's files
        for path in area.source_paths(kind, data_dir):
            if path.is_file():
                hashes[f"data/{path.relative_to(data_dir).as_posix()}"] = file_sha256(path)
            elif path.is_dir():
                for part in sorted(path.rglob("*")):
                    if part.is_file():
                        hashes[f"data/{part.relative_to(data_dir).as_posix()}"] = file_sha256(part)
            elif path.with_suffix(".dbf").exists():  # a shapefile's companions
                for part in sorted(path.parent.glob(path.stem + ".*")):
                    hashes[f"data/{part.relative_to(data_dir).as_posix()}"] = file_sha256(part)
    return hashes


def _metrics_row(run: Any) -> dict[str, Any]:
    """The scenario's row of :func:`passages.compare.metrics_table` as plain JSON values."""
    from passages.compare import metrics_table

    row = metrics_table([run]).iloc[0].to_dict()
    clean: dict[str, Any] = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        clean[str(key)] = value
    return clean


def community_map(plan: Any, *, lang: str = "en") -> bytes:
    """Return the public map of a plan in ``lang``: the passages and places, no risk, hot segments or officers."""
    from passages.maps import map_html, plan_map
    from passages.plan import map_layers

    segments, passages, places = map_layers(plan)
    segments = segments.assign(risk_per_100m=0.0, hot=False)
    passages = passages.assign(risk_per_100m=0.0)
    fmap = plan_map(area=plan.area, segments=segments, passages=passages, places=places, tiles=True,
                    community=True, lang=lang)
    return map_html(fmap)


def execute_run(store: Store, run_id: int, *, artefact_dir: Path, data_dir: Path) -> None:
    """Run a claimed run to its end: plan, cover, brief and write; record ``done`` or ``failed``.

    Never raises for a problem of the run: the one-line message goes to the row's ``error``.
    """
    try:
        summary, outputs = _plan_and_write(store, run_id, artefact_dir=Path(artefact_dir), data_dir=Path(data_dir))
    except PassagesError as exc:
        fail_run(store, run_id, str(exc), artefact_dir=artefact_dir)
        return
    except MemoryError:
        fail_run(store, run_id, "out of memory: plan a smaller area or fewer scenarios", artefact_dir=artefact_dir)
        return
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        fail_run(store, run_id, f"{where}{exc.strerror or exc}", artefact_dir=artefact_dir)
        return
    except Exception as exc:  # a bug: one line, the type named
        fail_run(store, run_id, f"internal error ({type(exc).__name__}: {exc}); this is a bug in passages",
                 artefact_dir=artefact_dir)
        return
    with store.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(
            state="done", step="done", summary=summary, outputs=outputs, finished_at=utcnow(),
            steps_done=Run.steps_total))


def _plan_and_write(store: Store, run_id: int, *, artefact_dir: Path, data_dir: Path
                    ) -> tuple[dict[str, Any], list[str]]:
    from passages._io import output_set
    from passages._names import slug
    from passages.areas import get_area
    from passages.briefing import write_officer_pack
    from passages.compare import run_scenarios, write_comparison
    from passages.plan import STEPS, write_plan
    from passages.scenarios import read_scenarios

    with store.session() as session:
        row = session.get(Run, run_id)
        assert row is not None
        area_slug = row.area_slug
    inputs = inputs_folder(artefact_dir, run_id)
    if not (inputs / SCENARIO_FILE).is_file():
        raise InputError("the run's inputs are missing", field="run", fix="Start a new plan.")
    areas_file = inputs / AREAS_FILE
    area = get_area(area_slug, areas_file=areas_file if areas_file.is_file() else None)
    scenarios = read_scenarios(inputs / SCENARIO_FILE)
    names = [slug(s.name, field="scenario name") for s in scenarios]
    uploaded = {"incidents": sorted(inputs.glob("incidents-*")), "schools": sorted(inputs.glob("schools-*"))}
    n_plans = len({s.params for s in scenarios})
    total = n_plans * len(STEPS) + 3
    done = [0]

    def report(step: str, steps_done: int | None = None) -> None:
        if steps_done is not None:
            done[0] = steps_done
        with store.session() as session:
            session.execute(update(Run).where(Run.id == run_id).values(step=step, steps_done=done[0],
                                                                       steps_total=total))

    hashes = _input_hashes(area, inputs, data_dir, uploaded)
    with store.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(
            input_hashes=hashes, parameters=scenario_table(scenarios), steps_total=total))

    started = [0]

    def on_step(step: str) -> None:
        report(step, started[0])
        started[0] += 1

    def on_scenario(name: str) -> None:
        if started[0]:
            report(f"coverage ({name})")

    sources: dict[str, list[Path]] = {}
    if uploaded["schools"]:
        sources["schools"] = uploaded["schools"]
    if (inputs / CONCERNS_FILE).is_file():
        sources["concerns"] = [inputs / CONCERNS_FILE]
    runs = run_scenarios(area, scenarios, data_dir=data_dir, offline=area.offline, on_scenario=on_scenario,
                         on_step=on_step, incidents=uploaded["incidents"] or None, place_sources=sources or None)
    report("briefing", n_plans * len(STEPS) + 1)
    summary: dict[str, Any] = {}
    with output_set(run_folder(artefact_dir, run_id), field="run folder") as out:
        for name, run in zip(names, runs, strict=True):
            folder = out.subset(f"scenarios/{name}")
            write_officer_pack(run, folder.subset("officers"))
        report("writing", n_plans * len(STEPS) + 2)
        for name, run in zip(names, runs, strict=True):
            folder = out.subset(f"scenarios/{name}")
            write_plan(run.plan, out_dir=folder, name="plan")
            metrics = _metrics_row(run)
            folder.write("metrics.json", (json.dumps(metrics, indent=2, allow_nan=False) + "\n").encode("utf-8"))
            folder.write("community.html", community_map(run.plan))
            folder.write("community-es.html", community_map(run.plan, lang="es"))
            plan_summary = run.plan.summary()
            summary[name] = {"passage_km": plan_summary["passage_km"], "routes": plan_summary["routes"]["routed"],
                             "metrics": metrics}
        if len(runs) >= 2:
            write_comparison(runs, out.subset("compare"), name="compare")
        outputs = sorted(out.written)
    return summary, outputs


# --------------------------------------------------------------------------- the workers


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the server dies (SIGKILL included); elsewhere nothing."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the server died before the request took effect
            os._exit(0)


def _worker_main(database_url: str, artefact_dir: str, data_dir: str, cache_dir: str | None,
                 slot: Synchronized[int], stop: Synchronized[int]) -> None:
    """Body of one worker process: claim queued runs and run them until ``stop`` is set to 1.

    The worker runs at a lower CPU priority (nice 10) than the web process, so pages stay
    quick while plans run on every core. ``stop`` is a shared flag polled between runs, not
    a multiprocessing Event: an Event's ``set`` waits for every process sleeping on it to
    wake, so one worker killed while it slept would hang the server's shutdown for ever.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when its workers stop
    _die_with_parent()
    with contextlib.suppress(OSError):
        os.nice(10)
    if cache_dir is not None:
        from passages import settings

        settings.processed_dir = Path(cache_dir)
    store = Store(database_url)
    try:
        while not stop.value:
            slot.value = -1  # claiming: the supervisor leaves a claim alone
            run_id = claim_next(store)
            if run_id is None:
                slot.value = 0
                time.sleep(POLL_SECONDS)
                continue
            slot.value = run_id
            execute_run(store, run_id, artefact_dir=Path(artefact_dir), data_dir=Path(data_dir))
            slot.value = 0
    finally:
        store.dispose()


class JobQueue:
    """The worker processes that run queued plans, and a supervisor thread that watches them.

    Parameters
    ----------
    config
        The service's config (database URL, artefact and data folders, number of workers).
    cache_dir
        The processed-network cache the workers use (default the package's,
        ``data/processed``).
    """

    def __init__(self, config: ServiceConfig, *, cache_dir: Path | None = None) -> None:
        self.config = config
        self.artefact_dir = Path(config.artefact_dir).resolve()
        self.cache_dir = Path(cache_dir).resolve() if cache_dir is not None else None
        self._context = multiprocessing.get_context("spawn")
        self._stop: Synchronized[int] = self._context.Value("b", 0)
        self._slots: list[Synchronized[int]] = []
        self._processes: list[Any] = []
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._store: Store | None = None

    @property
    def workers(self) -> int:
        """Number of worker processes."""
        return max(1, int(self.config.workers))

    def start(self, store: Store) -> dict[str, list[int]]:
        """Recover the runs of a dead server (:func:`recover`), then start the workers.

        Returns what :func:`recover` found.
        """
        self._store = store
        found = recover(store, self.config)
        for index in range(self.workers):
            self._slots.append(self._context.Value("q", 0))
            self._processes.append(self._spawn(index))
        self._supervisor = threading.Thread(target=self._watch, name="passages-job-supervisor", daemon=True)
        self._supervisor.start()
        return found

    def _spawn(self, index: int) -> Any:
        process = self._context.Process(
            target=_worker_main, name=f"passages-worker-{index}", daemon=True,
            args=(self.config.database_url, str(self.artefact_dir), str(Path(self.config.data_dir).resolve()),
                  str(self.cache_dir) if self.cache_dir else None, self._slots[index], self._stop))
        process.start()
        return process

    def _watch(self) -> None:
        """Every second: a worker that died has its run failed and is started again."""
        while not self._stopping.wait(1.0):
            for index, process in enumerate(self._processes):
                if process.is_alive() or self._stopping.is_set():
                    continue
                self._fail_slot(index, WORKER_DIED_REASON)
                self._processes[index] = self._spawn(index)

    def _fail_slot(self, index: int, reason: str) -> None:
        run_id = int(self._slots[index].value)
        self._slots[index].value = 0
        if run_id > 0 and self._store is not None:
            fail_run(self._store, run_id, reason, artefact_dir=self.artefact_dir, only_if="running")

    def alive(self) -> int:
        """How many workers are running."""
        return sum(1 for p in self._processes if p.is_alive())

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the workers: they finish their current run within ``timeout`` s, else are ended.

        A run ended so is marked failed (:data:`RECOVERY_REASON`), its outputs removed.
        """
        self._stopping.set()
        self._stop.value = 1
        deadline = time.monotonic() + timeout
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for index, process in enumerate(self._processes):
            if process.is_alive():
                process.terminate()
                process.join(5)
                if process.is_alive():
                    process.kill()
                    process.join(5)
            self._fail_slot(index, RECOVERY_REASON)
        if self._supervisor is not None:
            self._supervisor.join(5)


def wait_for(store: Store, run_ids: Sequence[int], *, timeout: float, poll: float = 0.5,
              on_poll: Callable[[], None] | None = None) -> dict[int, str]:
    """Wait until every run of ``run_ids`` is done or failed (or ``timeout`` s pass); return their states."""
    deadline = time.monotonic() + timeout
    while True:
        with store.session() as session:
            states = {r.id: r.state for r in session.scalars(select(Run).where(Run.id.in_(list(run_ids))))}
        if all(s in ("done", "failed") for s in states.values()) or time.monotonic() > deadline:
            return states
        if on_poll is not None:
            on_poll()
        time.sleep(poll)

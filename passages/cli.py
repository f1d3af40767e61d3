"""The ``passages`` command: list areas, plan one, run the offline demo.

Errors in the input end the command with one line on standard error naming the file,
row or field and the fix, and exit status 2; nothing half-written is left behind: each
command writes its files as one output set (:func:`passages._io.output_set`), checked
before the work starts and swapped in whole at the end. Ctrl-C and SIGTERM stop a run
with one line and leave the previous outputs as they were. Text is printed as it is:
nothing a file or a user gave is read as Rich markup.
"""

from __future__ import annotations

import functools
import gc
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from passages import __version__, settings
from passages._errors import InputError, PassagesError, printable
from passages._help import CleanCommand, CleanGroup
from passages._io import OutputSet, check_output_folder, output_set
from passages._names import slug
from passages._terminal import output_width, print_csv, print_json, print_lines, print_table, script_format
from passages.i18n import check_lang

if TYPE_CHECKING:  # the areas module pulls in pyproj and shapely: imported where a command needs it
    from passages.areas import Area

app = typer.Typer(
    help="Safe Passages planning: walking networks, street risk, safer routes and maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=CleanGroup,
)
# markup=False: names from files and users ("[out:json]", "[scenarios.x]") are printed as
# written, never read as Rich markup; emoji=False: ":name:" is not replaced either.
console = Console(highlight=False, markup=False, emoji=False)
error_console = Console(stderr=True, highlight=False, markup=False, emoji=False)


def fresh_consoles() -> None:
    """Make the consoles anew for the terminal and environment this process has now.

    A console reads colour support and ``NO_COLOR`` when made: the warm daemon
    (:mod:`passages._daemon`) imports this module once and calls this in each command's
    process, on the caller's terminal.
    """
    global console, error_console
    console = Console(highlight=False, markup=False, emoji=False)
    error_console = Console(stderr=True, highlight=False, markup=False, emoji=False)

#: Exit status of a run stopped by bad input.
EXIT_BAD_INPUT = 2

#: Exit status of a run stopped by an error in passages itself (a bug: please report it).
EXIT_INTERNAL = 1

_Command = TypeVar("_Command", bound=Callable[..., None])

SAMPLE_AREAS = ("south-la", "south-central", "downtown")

#: Options several commands share, word for word.
AreaSlug = Annotated[str, typer.Option("--area", metavar="SLUG", help="Area slug (see 'passages areas').")]
Offline = Annotated[bool, typer.Option("--offline", help="Never use the internet; local files only.")]
NetworkFile = Annotated[Path | None, typer.Option("--network", metavar="FILE", help="Street network file.")]
IncidentFiles = Annotated[list[Path] | None, typer.Option("--incidents", metavar="FILE",
                                                          help="Incident file; repeatable.")]
OutFolder = Annotated[Path | None, typer.Option("--out", metavar="FOLDER", help="Output folder (default maps/SLUG).")]
SchoolFiles = Annotated[list[Path] | None, typer.Option(
    "--schools", metavar="FILE",
    help="Schools file (LA County layer, or GeoJSON/CSV with name, lat, lon); repeatable.")]
TransitFiles = Annotated[list[Path] | None, typer.Option(
    "--transit", metavar="FILE", help="Transit stops: GTFS stops.txt or a zipped stop shapefile; repeatable.")]
ParkFiles = Annotated[list[Path] | None, typer.Option(
    "--parks", metavar="FILE", help="Parks and recreation polygons (shapefile, GeoJSON, GeoPackage); repeatable.")]
BusinessFiles = Annotated[list[Path] | None, typer.Option(
    "--businesses", metavar="FILE",
    help="Business listing or points of interest (the City's business listing CSV, Geofabrik POIs, a CSV with "
         "lat and lon, or a zipped shapefile) for business corridors; repeatable.")]
ConcernFiles = Annotated[list[Path] | None, typer.Option(
    "--concerns", metavar="FILE",
    help="The community's concerns (CSV with lat, lon, category, date; or GeoJSON points and lines): shown on "
         "the map; with concern_weight > 0 in a scenario the safer paths avoid them; repeatable.")]
MappingFile = Annotated[Path | None, typer.Option(
    "--mapping", metavar="FILE",
    help="Mapping file (TOML) naming the columns of your own incident and place files (latitude, longitude, "
         "date and its format, crime type and its category, name, id...); see examples/chicago/mapping.toml.")]


def _place_files(schools: list[Path] | None, transit: list[Path] | None, parks: list[Path] | None,
                 businesses: list[Path] | None = None, concerns: list[Path] | None = None) -> dict[str, list[Path]]:
    """Return the place (and business and concern) files given on the command line, by kind."""
    return {"schools": schools or [], "transit": transit or [], "parks": parks or [], "businesses": businesses or [],
            "concerns": concerns or []}

Lang = Annotated[
    str,
    typer.Option("--lang", metavar="en|es", help="Language of the maps' and pages' own words: en or es "
                                                 "(names from the data stay as they are)."),
]

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", metavar="FOLDER",
                 help="The shared data folder (default: $PASSAGES_DATA, else ../shared/data).",
                 envvar="PASSAGES_DATA", show_envvar=True),
]
AreasFile = Annotated[
    Path | None, typer.Option("--areas-file", metavar="FILE",
                              help="A GeoJSON file of your own areas (points or polygons).")
]


def _error_line(message: str) -> None:
    line = Text("error: ", style="bold red")
    line.append(printable(message, limit=2000))
    error_console.print(line, soft_wrap=True)


class _Stopped(BaseException):
    """Raised in the main thread when SIGTERM arrives, so the run unwinds like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise _Stopped(signum)


@contextmanager
def _clean_exit() -> Iterator[None]:
    """Turn every failure into one line on stderr and an exit status; no traceback.

    An input error exits 2; Ctrl-C exits 130 and SIGTERM 143 (128 + the signal), saying
    that the previous outputs are untouched; a file the system cannot read or write exits
    2 naming it; anything else is a bug in passages: exit 1, with the error's type (set
    ``PASSAGES_DEBUG=1`` to see the traceback).
    """
    try:
        yield
    except typer.Exit:
        raise
    except PassagesError as exc:
        _error_line(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (KeyboardInterrupt, _Stopped) as exc:
        signum = exc.signum if isinstance(exc, _Stopped) else signal.SIGINT
        name = signal.Signals(signum).name
        _error_line(f"stopped by {name}; no output was changed (the previous outputs, if any, are as they were)")
        raise typer.Exit(128 + signum) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _error_line(f"{where}{exc.strerror or exc}. Check the file or folder and its permissions")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except Exception as exc:
        if os.environ.get("PASSAGES_DEBUG"):
            raise
        _error_line(f"internal error ({type(exc).__name__}: {exc}); this is a bug in passages: please report it "
                    "with the command you ran (set PASSAGES_DEBUG=1 to see the traceback)")
        raise typer.Exit(EXIT_INTERNAL) from None


#: Allocations between two collections of the youngest generation while a command runs
#: (Python's default is 700). A command allocates millions of small objects importing its
#: libraries and reading its inputs, and nearly none of them are cyclic garbage: collecting
#: less often saves about a tenth of a plan's time, and the few cycles are still collected.
GC_THRESHOLD = (50_000, 20, 20)


def _guarded(command: _Command) -> _Command:
    """Run a command inside :func:`_clean_exit`, with SIGTERM handled like Ctrl-C."""
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread (a notebook's worker, a test runner's thread)
            previous = None
        thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLD)
        try:
            with _clean_exit():
                command(*args, **kwargs)
        finally:
            gc.set_threshold(*thresholds)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    return run  # type: ignore[return-value]


def _width() -> int:
    """Return the width the output is laid out for (characters; piped: $COLUMNS, else 80)."""
    return output_width(console)


def _out_folder(out: Path | None, default: Path) -> Path:
    """Return the output folder of a command: ``--out`` as given, else ``default``."""
    return out if out is not None else default


def _version(value: bool) -> None:
    if value:
        console.print(f"passages {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Safe Passages planning for community-safety partnerships."""



def _json_help(document: str) -> str:
    # escaped: Typer reads option help as Rich markup, which would drop "[one object per ...]"
    return escape(f"Print one JSON document on standard output instead of the table, for scripts: {document} "
                  "Notes and progress go to standard error.")


CsvOut = Annotated[bool, typer.Option(
    "--csv", help="Print the table as CSV on standard output instead (no cell starts a formula).")]


def _ui(script: str | None) -> Console:
    """Return the console for progress and notes: stderr when stdout carries JSON or CSV."""
    return error_console if script else console


@app.command("areas", cls=CleanCommand)
@_guarded
def areas_command(
    areas_file: AreasFile = None,
    json_out: Annotated[bool, typer.Option("--json", help=_json_help(
        '{"areas": [{slug, name, kind, lat, lon (degrees, EPSG:4326), radius_m (metres), local_network}]}.'
    ))] = False,
    csv_out: CsvOut = False,
) -> None:
    """List the engagement areas: the eight CSP sites, the offline samples, your own."""
    script = script_format(json_out=json_out, csv_out=csv_out)
    from passages.areas import load_areas
    areas = load_areas(areas_file)
    records = [{"slug": a.slug, "name": a.name, "kind": a.kind, "lat": a.lat, "lon": a.lon,
                "radius_m": a.radius_m, "local_network": a.offline} for a in areas.values()]
    if script == "json":
        print_json({"areas": records})
        return
    if script == "csv":
        import pandas as pd

        print_csv(pd.DataFrame(records, columns=["slug", "name", "kind", "lat", "lon", "radius_m", "local_network"]))
        return
    table = Table(title="Engagement areas", title_justify="left")
    table.add_column("slug", no_wrap=True)
    table.add_column("name")
    table.add_column("kind")
    table.add_column("centre (lat, lon)", justify="right")
    table.add_column("radius", justify="right")
    for area in areas.values():
        kind = area.kind + ("*" if area.offline else "")
        table.add_row(area.slug, area.name, kind, f"{area.lat:.4f}, {area.lon:.4f}", f"{area.radius_m:,.0f} m")
    print_table(console, table)
    local = [a.slug for a in areas.values() if a.offline]
    note = ("* has a local street network: runs with --offline. " if local else "")
    console.print(f"{note}The others download theirs from the OpenStreetMap Overpass API (needs internet) "
                  "or take --network FILE.", width=_width())


def _plan_one(
    area: Area, *, scenario: Path | None, offline: bool, data_dir: Path | None, network: Path | None,
    incidents: list[Path] | None, out: Path | None, tiles: bool, use_cache: bool,
    places: dict[str, list[Path]] | None = None, script: str | None = None, lang: str = "en",
    mapping: Path | None = None,
) -> list[dict[str, Any]]:
    """Plan ``area`` (each scenario of ``scenario``), write the outputs; print the summaries.

    With ``script="json"`` nothing is printed on standard output (progress goes to
    standard error): the caller prints the returned results.
    """
    from passages.mapping import read_mapping
    from passages.plan import STEPS, make_plan, plan_files, write_plan
    from passages.scenarios import PlanParameters, read_scenarios

    rules = read_mapping(mapping) if mapping is not None else None  # a bad mapping stops the run before any work
    scenarios = read_scenarios(scenario) if scenario is not None else None
    runs = [(s.name, s.params) for s in scenarios] if scenarios else [("plan", PlanParameters())]
    for name, _params in runs:
        plan_files(name)  # every name is a safe file name before any work
    folder = _out_folder(out, settings.maps_dir / slug(area.slug, field="--area"))
    results: list[dict[str, Any]] = []
    # every plan of the run is one output set: checked now, swapped in whole at the end
    with output_set(folder) as output:
        for name, params in runs:
            started = time.perf_counter()
            label = f"{area.slug}" + (f" / {name}" if scenarios else "")
            with Progress(
                SpinnerColumn(), TextColumn("{task.description}", style="bold", markup=False), BarColumn(),
                TextColumn("{task.completed}/{task.total} steps"), TimeElapsedColumn(),
                console=_ui(script), transient=True, disable=not _ui(script).is_terminal,
            ) as progress:
                task = progress.add_task(label, total=len(STEPS) + 1)

                def on_step(step: str, task: Any = task, progress: Progress = progress, label: str = label) -> None:
                    progress.update(task, description=f"{label}: {step}", completed=STEPS.index(step))

                plan = make_plan(area, params=params, data_dir=data_dir, offline=offline, network=network,
                                 incidents=incidents, place_sources=places, use_cache=use_cache, on_step=on_step,
                                 mapping=rules)
                progress.update(task, description=f"{label}: map", completed=len(STEPS))
                written = write_plan(plan, out_dir=output, name=name, tiles=tiles, lang=lang)
                progress.update(task, completed=len(STEPS) + 1)
            results.append({"area": area.slug, "scenario": name, "summary": plan.summary(), "written": written,
                            "label": label, "seconds": time.perf_counter() - started})
    if script:
        return results
    for result in results:  # printed once the files are in place
        _print_summary(result["summary"], result["written"], result["seconds"], title=result["label"])
    return results


def _print_summary(summary: dict[str, Any], written: dict[str, Path], seconds: float, *, title: str) -> None:
    net, inc, routes = summary["network"], summary["incidents"], summary["routes"]
    table = Table(title=f"Plan: {summary['area_name']} ({title})", title_justify="left", show_header=False)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("network", f"{net['nodes']:,} nodes, {net['edges']:,} edges "
                             f"({net['segments']:,} street segments), {net['street_km']:,.1f} km of street")
    places = ", ".join(
        f"{kind} {v['usable']}" + (f" (+{far} too far from a street)" if (far := v["found"] - v["usable"]) else "")
        for kind, v in summary["places"].items()
    )
    table.add_row("places", places)
    dropped = "; ".join(f"{reason}: {count:,}" for reason, count in inc["dropped"].items() if count) or "none"
    table.add_row("incidents", f"{inc['rows_read']:,} rows read, {inc['used']:,} used "
                               f"(weight {inc['used_weight']:,.1f}), {inc['snapped']:,} on a street, "
                               f"{inc['too_far_from_street']:,} too far from one")
    table.add_row("dropped", dropped)
    for note in inc["notes"] + summary["notes"]:
        table.add_row("note", note)
    purposes = ", ".join(f"{k} {v}" for k, v in routes["by_purpose"].items())
    skipped = "; ".join(f"{k}: {v}" for k, v in routes["skipped"].items())
    table.add_row("routes", f"{routes['routed']} routed of {routes['pairs']} pairs ({purposes})"
                            + (f"; skipped {skipped}" if skipped else ""))
    if demand := summary.get("demand"):
        table.add_row("walks from", _demand_line(demand))
    if (shops := summary.get("businesses")) and shops["corridors"]:
        walks = shops["walks"]
        table.add_row("businesses", f"{shops['corridors']} corridors ({shops['storefronts_in_corridors']} storefronts, "
                                    f"{shops['corridor_km']:,.1f} km of street); walks: {walks['home-business']} "
                                    f"from homes or the site, {walks['transit-business']} from stops, "
                                    f"{shops['walkers']:,.0f} walkers per day")
    if concerns := summary.get("concerns"):
        kinds = ", ".join(f"{k} {v}" for k, v in concerns["by_category"].items())
        table.add_row("concerns", f"{concerns['read']} read ({kinds}), {concerns['on_streets']} on a street, "
                                  f"{concerns['on_passages']} on a passage; "
                                  + (f"safer paths avoid them (weight {concerns['concern_weight']:g})"
                                     if concerns["concern_weight"] else "shown only (concern_weight 0)"))
    if routes["routed"]:
        cut = 1 - routes["exposure_safer"] / routes["exposure_shortest"] if routes["exposure_shortest"] else 0.0
        table.add_row("safer paths", f"mean detour x{routes['mean_detour_ratio']:.3f}, exposure {cut:.0%} lower "
                                     "than the shortest paths")
    table.add_row("passages", f"{summary['passage_km']:,.2f} km of recommended Safe Passage, "
                              f"{summary['risk']['hot_segments']} hot segments")
    table.add_row("map", str(written["map"]))
    table.add_row("summary", str(written["summary"]))
    table.add_row("time", f"{seconds:.1f} s")
    print_table(console, table)


def _demand_line(demand: dict[str, Any]) -> str:
    """Where the walks to school start, their walkers, and the homes near a passage, in one line."""
    starts = {"site": "the site", "homes": "home blocks", "both": "the site and home blocks"}[demand["model"]]
    origins = demand["origins"]
    line = f"{starts}: {origins:,} origin{'' if origins == 1 else 's'}, {demand['walkers']:,.0f} walkers per day"
    if "home_blocks" in demand:
        line += (f" ({demand['home_blocks_within_walk']:,} of {demand['home_blocks']:,} home blocks within "
                 f"{demand['walk_limit_m']:,.0f} m of a school)")
    share = demand["residential_share_near_passage"]
    if share is not None:
        line += (f"; {share:.0%} of {demand['residential_km']:,.1f} km of residential street within "
                 f"{demand['near_passage_m']:,.0f} m of a passage")
    return line


@app.command("plan", cls=CleanCommand)
@_guarded
def plan_command(
    area: Annotated[str | None, typer.Option("--area", metavar="SLUG",
                                             help="Area slug (see 'passages areas').")] = None,
    scenario: Annotated[Path | None, typer.Option("--scenario", metavar="FILE", help="A scenario file (TOML).")] = None,
    offline: Offline = False,
    data_dir: DataDir = None,
    network: Annotated[Path | None, typer.Option(
        "--network", metavar="FILE",
        help="Street network file: .osm, .osm.bz2, Overpass .json, .osm.pbf or .graphml.")] = None,
    incidents: Annotated[list[Path] | None, typer.Option(
        "--incidents", metavar="FILE",
        help="Incident file (LAPD CSV, weighted CSV, or any CSV/GeoJSON with --mapping); repeat for several.")] = None,
    schools: SchoolFiles = None,
    transit: TransitFiles = None,
    parks: ParkFiles = None,
    businesses: BusinessFiles = None,
    concerns: ConcernFiles = None,
    mapping: MappingFile = None,
    areas_file: AreasFile = None,
    out: OutFolder = None,
    tiles: Annotated[bool, typer.Option("--tiles/--no-tiles", help="Add OpenStreetMap web tiles to the map.")] = True,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse the processed street network.")] = True,
    lang: Lang = "en",
    all_areas: Annotated[bool, typer.Option("--all-areas", help="Plan every area (with --offline: those with a "
                                            "local network) x scenario, fanned out on Dask.")] = False,
    scheduler: Annotated[str | None, typer.Option("--scheduler", metavar="ADDRESS",
                                                  help="Dask scheduler address for --all-areas "
                                                  "(default: local processes).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", metavar="N", help="Local Dask processes (default: one per core).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help=_json_help(
        '{"plans": [{area, scenario, summary (the figures of NAME-summary.json), written (paths), seconds}]}; '
        "with --all-areas each plan gives area, scenario, routed, passage_km and written."))] = False,
) -> None:
    """Plan one area (or --all-areas): street risk, safer routes, the Safe Passage network and its map."""
    script = script_format(json_out=json_out)
    lang = check_lang(lang)
    places = _place_files(schools, transit, parks, businesses, concerns)
    if all_areas or scheduler is not None:
        if mapping is not None:
            raise InputError("--mapping applies to one area's files", field="--mapping",
                             fix="Plan the area with --area SLUG and --mapping, without --all-areas or --scheduler.")
        if out is not None:
            check_output_folder(out)
        _plan_all(area=area, all_areas=all_areas, scheduler=scheduler, workers=workers, scenario=scenario,
                  offline=offline, data_dir=data_dir, network=network, incidents=incidents, places=places,
                  areas_file=areas_file, out=out, tiles=tiles, use_cache=cache, script=script, lang=lang)
        return
    if area is None:
        raise PassagesError("give --area SLUG (see 'passages areas'), or --all-areas")
    from passages.areas import get_area
    chosen = get_area(area, areas_file=areas_file)
    results = _plan_one(chosen, scenario=scenario, offline=offline, data_dir=data_dir, network=network,
                        incidents=incidents, places=places, out=out, tiles=tiles, use_cache=cache, script=script,
                        lang=lang, mapping=mapping)
    if script == "json":
        print_json({"plans": [{key: result[key] for key in ("area", "scenario", "summary", "written", "seconds")}
                              for result in results]})


def _plan_all(*, area: str | None, all_areas: bool, scheduler: str | None, workers: int | None,
              areas_file: Path | None, out: Path | None, script: str | None = None, **options: Any) -> None:
    """Plan every area x scenario on Dask and print one line per plan (logic in passages.distributed)."""
    from passages.distributed import plan_all_areas

    started = time.perf_counter()
    with _ui(script).status("planning on Dask") as status:
        rows = plan_all_areas(area=area, all_areas=all_areas, scheduler=scheduler, workers=workers,
                              areas_file=areas_file, out=out, on_status=status.update, **options)
    if script == "json":
        print_json({"plans": [{"area": area_slug, "scenario": name, "routed": routed, "passage_km": passage_km,
                               "written": {"map": map_path, "summary": summary_path}}
                              for area_slug, name, routed, passage_km, map_path, summary_path in rows],
                    "seconds": time.perf_counter() - started})
        return
    table = Table(title="Plans", title_justify="left")
    table.add_column("area", no_wrap=True)
    table.add_column("scenario", no_wrap=True)
    table.add_column("routes", justify="right")
    table.add_column("passage km", justify="right")
    table.add_column("written to", overflow="fold")
    for area_slug, name, routed, passage_km, map_path, _ in rows:
        table.add_row(area_slug, name, str(routed), f"{passage_km:.2f}",
                      f"{map_path.parent}/{name}.html, -summary.json")
    print_table(console, table)
    console.print(f"time {time.perf_counter() - started:.1f} s")


@app.command("demo", cls=CleanCommand)
@_guarded
def demo_command(
    data_dir: DataDir = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="FOLDER", help="Output folder (default maps/).")] = None,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse the processed street network.")] = True,
) -> None:
    """Plan the three offline sample areas from the shared data and print where the maps are."""
    folder = data_dir if data_dir is not None else settings.shared_data_dir()
    if not (folder / "osm").is_dir():
        raise PassagesError(
            f"{folder}: the shared data folder is not there (no osm/ inside). "
            "Give it with --data-dir or $PASSAGES_DATA."
        )
    from passages.areas import load_areas
    areas = load_areas()
    maps: list[Path] = []
    for sample in SAMPLE_AREAS:
        results = _plan_one(areas[sample], scenario=None, offline=True, data_dir=folder, network=None,
                            incidents=None, out=(out / sample) if out else None, tiles=True, use_cache=cache)
        maps.extend(r["written"]["map"] for r in results)
    console.print("Maps written:", style="bold")
    for path in maps:
        console.print(f"  {path}")


@app.command("export", cls=CleanCommand)
@_guarded
def export_command(
    area: AreaSlug,
    offline: Offline = False,
    data_dir: DataDir = None,
    network: NetworkFile = None,
    incidents: IncidentFiles = None,
    schools: SchoolFiles = None,
    transit: TransitFiles = None,
    parks: ParkFiles = None,
    businesses: BusinessFiles = None,
    concerns: ConcernFiles = None,
    mapping: MappingFile = None,
    areas_file: AreasFile = None,
    out: OutFolder = None,
) -> None:
    """Plan an area and export it for GIS tools: GeoPackage, GeoJSON per layer, CSV route sheet."""
    from passages.areas import get_area
    from passages.export import export_files, export_plan
    from passages.mapping import read_mapping
    from passages.plan import make_plan
    chosen = get_area(area, areas_file=areas_file)
    rules = read_mapping(mapping) if mapping is not None else None
    with output_set(_out_folder(out, settings.maps_dir / slug(chosen.slug, field="--area")),
                    owns=export_files("plan")) as output:
        with console.status(f"{chosen.slug}: planning"):
            plan = make_plan(chosen, data_dir=data_dir, offline=offline, network=network, incidents=incidents,
                             place_sources=_place_files(schools, transit, parks, businesses, concerns), mapping=rules)
        written = export_plan(plan, output)
    console.print(f"Exported {chosen.name} (EPSG:4326):", style="bold")
    for layer, path in written.items():
        console.print(f"  {layer:<12} {path}")


@app.command("community", cls=CleanCommand)
@_guarded
def community_command(
    area: AreaSlug,
    lang: Annotated[str, typer.Option("--lang", metavar="en|es|both",
                                      help="Language of the flyer and map: en, es or both (default).")] = "both",
    offline: Offline = False,
    data_dir: DataDir = None,
    network: NetworkFile = None,
    incidents: IncidentFiles = None,
    schools: SchoolFiles = None,
    transit: TransitFiles = None,
    parks: ParkFiles = None,
    businesses: BusinessFiles = None,
    concerns: ConcernFiles = None,
    mapping: MappingFile = None,
    areas_file: AreasFile = None,
    out: OutFolder = None,
) -> None:
    """Plan an area and write its community flyer (PDF, PNG) and map (HTML) for parents and residents.

    The Safe Passages to each school with their named streets, schools, parks and stops;
    no officer post or loop, no hot segment and no street risk. Files:
    community-LANG.pdf, community-LANG.png, community-LANG.html.
    """
    from passages.community import community_files, write_community
    from passages.i18n import LANGUAGES
    from passages.mapping import read_mapping
    from passages.plan import make_plan

    langs = list(LANGUAGES) if lang.strip().lower() == "both" else [check_lang(lang)]
    from passages.areas import get_area
    chosen = get_area(area, areas_file=areas_file)
    rules = read_mapping(mapping) if mapping is not None else None
    owned = tuple(name for code in langs for name in community_files(code))
    folder = _out_folder(out, settings.maps_dir / slug(chosen.slug, field="--area"))
    written: dict[str, Path] = {}
    with output_set(folder, owns=owned) as output, console.status(f"{chosen.slug}: planning") as status:
        plan = make_plan(chosen, data_dir=data_dir, offline=offline, network=network, incidents=incidents,
                         place_sources=_place_files(schools, transit, parks, businesses, concerns), mapping=rules)
        for code in langs:
            status.update(f"{chosen.slug}: community flyer and map ({code})")
            for kind, path in write_community(plan, output, lang=code).items():
                written[f"{kind} ({code})"] = path
    print_lines(console, [f"Community outputs of {chosen.name}:",
                          *(f"  {kind:<10} {path}" for kind, path in written.items())])


@app.command("backtest", cls=CleanCommand)
@_guarded
def backtest_command(
    area: AreaSlug,
    split: Annotated[str, typer.Option("--split", metavar="DATE|FRACTION",
                                       help="Split date YYYY-MM-DD, or a fraction of the period (0-1).")],
    incidents: Annotated[list[Path] | None, typer.Option(
        "--incidents", metavar="FILE",
        help="Dated incident file (LAPD CSV); repeatable. Default: LAPD extracts 2020-2022.")] = None,
    offline: Offline = False,
    data_dir: DataDir = None,
    areas_file: AreasFile = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="FOLDER",
                                             help="Output folder (default maps/SLUG/backtest).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help=_json_help(
        '{"backtest": the setting (as backtest-summary.json), "measures": [one object per method and coverage '
        'or set], "rolling": [...], "written": {kind: path}}; shares and hit rates are fractions (0-1).'
    ))] = False,
) -> None:
    """Backtest a plan: fit risk before the split, measure hit rate and PAI on the incidents after it."""
    from passages.evaluate import backtest, write_backtest

    script = script_format(json_out=json_out)
    from passages.areas import get_area
    chosen = get_area(area, areas_file=areas_file)
    with output_set(_out_folder(out, settings.maps_dir / slug(chosen.slug, field="--area") / "backtest"),
                    owns=("backtest.csv", "backtest.png", "backtest-summary.json")) as output:
        result = backtest(chosen, split=split, incidents=incidents, data_dir=data_dir, offline=offline)
        written = write_backtest(result, out_dir=output)
    if script == "json":
        for flag in result.flags:
            error_console.print(f"warning: {flag}", style="yellow", soft_wrap=True)
        print_json({"backtest": result.summary(), "measures": result.table, "rolling": result.rolling,
                    "written": written})
        return
    console.print(f"Backtest: {result.area.name}", style="bold")
    console.print(f"{result.split.describe()}; "
                  f"{result.test_on_street:,} test incidents on a street, {result.test_too_far:,} too far from one")
    for note in result.notes:
        console.print(f"note: {note}")
    for flag in result.flags:
        console.print(f"warning: {flag}", style="yellow")
    tables = [(f"Hit rate [95% interval] and PAI by share of street length chosen "
               f"({result.test_on_street:,} test incidents)", result.display()),
              ("The plan's own sets", result.display_sets())]
    if not result.rolling.empty:
        months = ", ".join(f"{s['split']}: {s['test_incidents']} test incidents" for s in result.rolling_splits)
        tables.append((f"Rolling splits: fitted before each month, tested on it ({months}); pooled = all of them",
                       result.display_rolling()))
    for title, (header, rows) in tables:
        table = Table(*header, title=title, title_justify="left", show_lines=True)
        for row in rows:
            table.add_row(*row)
        print_table(console, table)
    print_lines(console, [f"{kind:<8} {path}" for kind, path in written.items()])
    console.print(result.verdict(), style="bold")


# --------------------------------------------------------------------------- conditions (issue 15)


@app.command("conditions", cls=CleanCommand)
@_guarded
def conditions_command(
    area: AreaSlug,
    conditions: Annotated[list[Path] | None, typer.Option(
        "--conditions", metavar="FILE",
        help="Conditions file: a MyLA311 export, a JSON list of requests, or a CSV/GeoJSON with type, lat, lon "
             "(status, date, id if known); repeatable. Default: the shared data's MyLA311 samples of the "
             "sample areas (its SOURCES.md, section 8).")] = None,
    max_snap_m: Annotated[float, typer.Option(
        "--max-snap-m", metavar="METRES", min=1.0, max=500.0,
        help="A request farther than this from every street is on none (metres).")] = 30.0,
    offline: Offline = False,
    data_dir: DataDir = None,
    network: NetworkFile = None,
    incidents: IncidentFiles = None,
    schools: SchoolFiles = None,
    transit: TransitFiles = None,
    parks: ParkFiles = None,
    mapping: MappingFile = None,
    areas_file: AreasFile = None,
    out: OutFolder = None,
    json_out: Annotated[bool, typer.Option("--json", help=_json_help(
        '{"conditions": the figures (counts at each step, by condition, notes), "segments": a list of one '
        'object per listed segment (the columns of SLUG-conditions.csv), "written": {kind: path}}.'))] = False,
) -> None:
    """Write a work list of the Safe Passage segments with open street conditions (311 requests), worst first."""
    from passages.conditions import (
        CSV_COLUMNS,
        conditions_files,
        default_conditions_file,
        read_conditions,
        work_list,
        write_conditions,
    )
    from passages.mapping import read_mapping
    from passages.plan import make_plan

    script = script_format(json_out=json_out)
    from passages.areas import get_area
    chosen = get_area(area, areas_file=areas_file)
    files = list(conditions or [])
    if not files:
        found = default_conditions_file(data_dir)
        if found is None:
            raise InputError("no conditions file given, and the shared data has none", field="--conditions",
                             fix="Give --conditions FILE (a MyLA311 export, or a CSV/GeoJSON with type, lat, lon), "
                                 "or --data-dir the shared data folder.")
        files = [found]
    rules = read_mapping(mapping) if mapping is not None else None
    requests = read_conditions(files)  # a file that is not a conditions file stops the run before the plan
    folder = _out_folder(out, settings.maps_dir / slug(chosen.slug, field="--area"))
    with output_set(folder, owns=conditions_files(chosen.slug)) as output, \
            _ui(script).status(f"{chosen.slug}: planning"):
        plan = make_plan(chosen, data_dir=data_dir, offline=offline, network=network, incidents=incidents,
                         place_sources=_place_files(schools, transit, parks), mapping=rules)
        work = work_list(plan, requests, max_snap_m=max_snap_m)
        written = write_conditions(plan, work, output)
    if script == "json":
        print_json({"conditions": work.summary(), "segments": work.table.reindex(columns=list(CSV_COLUMNS)),
                    "written": written})
        return
    _print_conditions(work, written)


def _print_conditions(work: Any, written: dict[str, Path]) -> None:
    """Print a work list: what was read and kept at each step, by condition, the worst segments, the files."""
    from passages.conditions import CONDITIONS, TERMINAL_ROWS

    counts = work.counts
    console.print(f"Street conditions: {work.area_name}", style="bold")
    console.print(f"{counts['rows']:,} requests read from {', '.join(p.name for p in work.files)}: "
                  f"{counts['open']:,} open, {counts['physical']:,} of them street conditions, "
                  f"{counts['in_area']:,} in the area, {counts['on_a_street']:,} within {work.max_snap_m:g} m of a "
                  f"street, {counts['on_a_passage']:,} on a Safe Passage", width=_width())
    steps = Table("condition", "to", "weight", "in file", "in area", "on passage",
                  title="Open requests by condition (weight: of one request in the order)", title_justify="left")
    for column in steps.columns[2:]:
        column.justify = "right"
    for row, condition in zip(work.by_condition.to_dict("records"), CONDITIONS.values(), strict=True):
        steps.add_row(condition.label, condition.agency, f"{row['severity']:g}", f"{row['open']:,}",
                      f"{row['in_area']:,}", f"{row['on_a_passage']:,}")
    print_table(console, steps)
    if work.not_street:
        others = ", ".join(f"{kind} {count:,}" for kind, count in work.not_street.items())
        console.print(Text(f"open requests in the area that are not street conditions (not listed): {others}"),
                      width=_width())
    for note in work.notes:
        console.print(Text(f"note: {note}"), width=_width())
    # the departments are in the table above, by condition: the street gets the width
    listed = Table("#", "street", "open requests", "walkers a day",
                   title=f"Passage segments with open requests, worst first ({counts['segments']:,})",
                   title_justify="left")
    listed.columns[0].justify = listed.columns[3].justify = "right"
    for row in work.table.head(TERMINAL_ROWS).to_dict("records"):
        listed.add_row(str(row["rank"]), row["street_short"], row["brief"].replace(", ", "\n"),
                       f"{row['walkers_per_day']:,.0f}")
    print_table(console, listed)
    if (more := counts["segments"] - TERMINAL_ROWS) > 0:
        console.print(f"... and {more:,} more in the CSV", width=_width())
    print_lines(console, [f"{kind:<4} {path}" for kind, path in written.items()])


@app.command("compare", cls=CleanCommand)
@_guarded
def compare_command(
    file: Annotated[Path, typer.Argument(metavar="FILE",
                                         help="Scenario file (TOML): officers, mode, windows...; see scenarios/.")],
    area: AreaSlug,
    offline: Offline = False,
    data_dir: DataDir = None,
    areas_file: AreasFile = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="FOLDER",
                                             help="Output folder (default maps/SLUG/compare).")] = None,
    maps: Annotated[str | None, typer.Option(
        "--maps", metavar="NAME,NAME",
        help="Two scenarios to map side by side, NAME,NAME (default: the first two).")] = None,
    tiles: Annotated[bool, typer.Option("--tiles/--no-tiles", help="Offer OSM web tiles on the maps.")] = True,
    lang: Lang = "en",
    scheduler: Annotated[str | None, typer.Option("--scheduler", metavar="ADDRESS",
                                                  help="Fan the scenarios out on this Dask "
                                                  "scheduler (or 'local' for local processes).")] = None,
    backtest_split: Annotated[str | None, typer.Option(
        "--backtest", metavar="DATE|FRACTION",
        help="Also backtest each scenario, split at DATE or FRACTION (dated LAPD incidents).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help=_json_help(
        '{"area", "file", "scenarios": [one object per scenario: the columns of the CSV], "backtests": [...] '
        'or null, "written": {kind: path}, "seconds"}; shares are fractions (0-1), lengths km.'))] = False,
    csv_out: Annotated[bool, typer.Option(
        "--csv", help="Print the table as CSV on standard output instead (the written CSV; no cell starts a "
                      "formula). Notes and progress go to standard error.")] = False,
) -> None:
    """Compare officer coverage scenarios: a table (terminal and CSV), a chart and side-by-side maps."""
    from passages.compare import (
        backtest_table,
        metrics_table,
        pick_pair,
        rich_backtest_table,
        rich_table,
        run_scenarios,
        write_comparison,
    )
    from passages.scenarios import read_scenarios

    script = script_format(json_out=json_out, csv_out=csv_out)
    lang = check_lang(lang)
    started = time.perf_counter()
    from passages.areas import get_area
    chosen = get_area(area, areas_file=areas_file)
    scenarios = read_scenarios(file)
    name = slug(file.stem, field="scenario file name (it names the outputs)", path=file)
    pair = pick_pair([s.name for s in scenarios], [n.strip() for n in maps.split(",")] if maps else None)
    folder = _out_folder(out, settings.maps_dir / slug(chosen.slug, field="--area") / "compare")
    with output_set(folder, owns=(f"{name}.csv", f"{name}-coverage.png", f"{name}-*-vs-*.html")) as output, \
            _ui(script).status(f"{chosen.slug}: planning") as status:
        if scheduler is not None:  # one Dask task per set of plan parameters (passages.distributed)
            from passages.distributed import run_scenarios_on_cluster

            runs = run_scenarios_on_cluster(
                chosen, scenarios, scheduler=None if scheduler == "local" else scheduler, data_dir=data_dir,
                offline=offline, on_scenario=lambda name: status.update(f"{chosen.slug}: scenario {name}"))
        else:
            runs = run_scenarios(chosen, scenarios, data_dir=data_dir, offline=offline,
                                 on_scenario=lambda name: status.update(f"{chosen.slug}: scenario {name}"))
        backtests = None
        if backtest_split is not None:
            status.update(f"{chosen.slug}: backtests split at {backtest_split}")
            backtests = backtest_table(runs, split=backtest_split, data_dir=data_dir, offline=offline)
        status.update(f"{chosen.slug}: table, chart and maps")
        written = write_comparison(runs, output, name=name, maps=pair, tiles=tiles, backtests=backtests, lang=lang)
    metrics = metrics_table(runs)
    if script == "json":
        print_json({"area": chosen.slug, "file": str(file), "scenarios": metrics, "backtests": backtests,
                    "written": written, "seconds": time.perf_counter() - started})
        return
    if script == "csv":  # the table of the written CSV
        print_csv((metrics.merge(backtests, on="scenario", how="left") if backtests is not None else metrics)
                  .round(4))
        return
    print_table(console, rich_table(metrics, title=f"Coverage scenarios: {chosen.name} ({file.name})"))
    if backtests is not None:
        print_table(console, rich_backtest_table(
            backtests, title=f"Backtests split at {backtest_split}: hit rate [95 % interval] and PAI of each set "
                             "on the incidents after the split"))
    print_lines(console, [*(f"{kind:<6} {path}" for kind, path in written.items()),
                          f"time   {time.perf_counter() - started:.1f} s"])


@app.command("brief", cls=CleanCommand)
@_guarded
def brief_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Scenario file (TOML); see scenarios/.")],
    area: AreaSlug,
    scenario: Annotated[str | None, typer.Option(
        "--scenario", metavar="NAME", help="The scenario of the file to brief (default: every scenario).")] = None,
    bells: Annotated[Path | None, typer.Option(
        "--bells", metavar="FILE", help="School bell times, a CSV with school,start,end (HH:MM).")] = None,
    offline: Offline = False,
    data_dir: DataDir = None,
    areas_file: AreasFile = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="FOLDER",
                                             help="Output folder (default maps/SLUG/officers).")] = None,
    lang: Lang = "en",
) -> None:
    """Write what officers take out: their map, briefing sheets (PDF, PNG), GPX loops, and the GeoPackage."""
    import warnings

    from passages.briefing import read_bells, write_officer_pack
    from passages.compare import run_scenarios
    from passages.scenarios import read_scenarios

    lang = check_lang(lang)
    from passages.areas import get_area
    chosen = get_area(area, areas_file=areas_file)
    scenarios = read_scenarios(file)
    if scenario is not None:
        scenarios = [s for s in scenarios if s.name == scenario]
        if not scenarios:
            raise InputError(f"no scenario {scenario!r}", path=file, field="--scenario",
                             fix="Scenarios in the file: " + ", ".join(s.name for s in read_scenarios(file)) + ".")
    names = [slug(s.name, field="scenario name", path=file) for s in scenarios]
    bell_times = read_bells(bells) if bells is not None else None
    folder = _out_folder(out, settings.maps_dir / slug(chosen.slug, field="--area") / "officers")
    # one output set: each scenario's pack is a sub-folder the run replaces whole; data notes
    # (a bell-times row that matches no school) are gathered and printed once each on stderr
    with warnings.catch_warnings(record=True) as caught, output_set(folder, owns=names) as output, \
            console.status(f"{chosen.slug}: planning") as status:
        warnings.simplefilter("always", UserWarning)
        runs = run_scenarios(chosen, scenarios, data_dir=data_dir, offline=offline, check_exact=False,
                             on_scenario=lambda name: status.update(f"{chosen.slug}: scenario {name}"))
        packs = {}
        for run in runs:
            status.update(f"{chosen.slug}: briefing {run.scenario.name}")
            packs[run.scenario.name] = write_officer_pack(run, _pack(output, run.scenario.name), bells=bell_times,
                                                          lang=lang)
    for note in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)):
        error_console.print(Text("warning: ", style="bold yellow").append(printable(note, limit=2000)),
                            soft_wrap=True)
    for name, written in packs.items():
        pdf = written["pdf"]
        gpx = sorted(str(p.name) for key, p in written.items() if key.endswith(".gpx"))
        line = Text(name, style="bold")
        line.append(f": {written['map']}, {pdf} ({len(written) - 2} files; GPX: {', '.join(gpx) or 'none'})")
        console.print(line)


def _pack(output: OutputSet, name: str) -> OutputSet:
    """Return the sub-folder of ``output`` that holds one scenario's officer pack."""
    return output.subset(slug(name, field="scenario name"))


@app.command("serve", cls=CleanCommand)
@_guarded
def serve_command(
    host: Annotated[str, typer.Option("--host", metavar="ADDRESS",
                                      help="Address to listen on (default: this machine only).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", min=1, max=65535, help="Port to listen on.")] = 8000,
    database: Annotated[str, typer.Option("--database", metavar="URL", envvar="PASSAGES_DATABASE", show_envvar=True,
                                          help="Store URL: sqlite:///data/passages.db (default) or "
                                               "postgresql+psycopg://user@host/db.")] = "sqlite:///data/passages.db",
    data_dir: DataDir = None,
    demo: Annotated[bool, typer.Option("--demo", help="Demo mode: the sample areas planned and published, demo "
                                       "accounts of each role with printed passwords.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", metavar="N", min=1, max=32,
                                                help="Processes that run plans (default: up to 2).")] = None,
    web_processes: Annotated[int, typer.Option("--web-processes", metavar="N", min=1, max=32,
                                               help="Processes that answer requests (default 1).")] = 1,
) -> None:
    """Start the planning service (web pages and JSON API) for planners, officers and command staff."""
    from passages.web.server import serve

    serve(host=host, port=port, database=database, data_dir=data_dir, demo=demo, workers=workers,
          web_processes=web_processes)


@app.command("daemon", cls=CleanCommand)
@_guarded
def daemon_command(
    action: Annotated[str, typer.Argument(metavar="start|stop|status",
                                          help="start: run it in the background; stop; status.")],
) -> None:
    """Keep the command line warm: a background process with the libraries imported, a fork per command.

    While it runs, every passages command (but serve) starts in about 0.02 s instead of about 1.3 s,
    in a fresh process with your folder, environment and terminal; nothing is kept between commands.
    It serves this user only, refuses to run code other than this checkout's (restart it after an
    update), and ends after 8 idle hours. PASSAGES_NO_DAEMON=1 runs a command without it.
    """
    from passages import _daemon
    from passages._launch import socket_path

    if action == "start":
        started, message = _daemon.start()
    elif action == "stop":
        started, message = _daemon.stop()
        started = started or message == "not running"
    elif action == "status":
        started = _daemon.running()
        message = f"running ({socket_path()})" if started else "not running"
    else:
        raise InputError(f"unknown action {action!r}", field="action", fix="Use start, stop or status.")
    print_lines(console, [f"daemon: {message}"])
    if not started:
        raise typer.Exit(1)


def _add_service_commands() -> None:
    from passages.web.commands import users_app

    for command in users_app.registered_commands:
        if command.callback is not None:
            command.callback = _guarded(command.callback)
        if command.cls in (None, typer.core.TyperCommand):  # value names in its --help, no <type> markers
            command.cls = CleanCommand
    app.add_typer(users_app, name="users", cls=CleanGroup)


_add_service_commands()


# --------------------------------------------------------------------------- assess (issue 15)


@app.command("assess", cls=CleanCommand)
@_guarded
def assess_command(
    area: AreaSlug,
    since: Annotated[str, typer.Option("--since", metavar="DATE",
                                       help="The day the Safe Passages started, YYYY-MM-DD.")],
    window_days: Annotated[int | None, typer.Option(
        "--window-days", metavar="DAYS",
        help="Days counted before and after DATE (default: the most the incidents allow, up to 365).")] = None,
    resamples: Annotated[int, typer.Option("--resamples", metavar="N", min=100, max=100_000,
                                           help="Bootstrap resamples of the segments behind each interval.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", metavar="N", min=0, help="Seed of the bootstrap.")] = 0,
    walk_hours: Annotated[bool, typer.Option(
        "--walk-hours", help="Count only incidents in the plan's walking windows and weekdays (default: the "
                             "whole day, every day).")] = False,
    incidents: Annotated[list[Path] | None, typer.Option(
        "--incidents", metavar="FILE",
        help="Dated incident file (LAPD CSV); repeatable. Default: LAPD extracts 2020-2022.")] = None,
    offline: Offline = False,
    data_dir: DataDir = None,
    areas_file: AreasFile = None,
    out: OutFolder = None,
    json_out: Annotated[bool, typer.Option("--json", help=_json_help(
        '{"assessment": the summary (as SLUG-assess.json: periods, "passages" and "adjacent" estimates in '
        'incidents per km per year, "verdict"), "groups": a list of one object per group, "written": {kind: path}}.'
    ))] = False,
) -> None:
    """Assess the Safe Passages: incidents on them before and after DATE against matched comparison streets.

    A difference in differences per km per year with a bootstrap interval; the same next door (displacement).

    The passages are those of the plan made from the incidents before DATE only.

    Anchors: McMillen, Sarmiento-Barbieri and Singh (2019), Chicago: about 14 % less violent crime on routes.

    Gonzalez and Komisarow (2020). One area's open-data extract is far thinner: an association at best, not proof.
    """
    from passages.assess import assess, write_assessment

    script = script_format(json_out=json_out)
    from passages.areas import get_area
    chosen = get_area(area, areas_file=areas_file)
    from passages.assess import assessment_files, parse_since

    day = parse_since(since)  # a bad date stops the run before any file is read
    folder = _out_folder(out, settings.maps_dir / slug(chosen.slug, field="--area"))
    with output_set(folder, owns=assessment_files(chosen.slug)) as output, \
            _ui(script).status(f"{chosen.slug}: planning as published on {day}, counting incidents"):
        result = assess(chosen, since=day, incidents=incidents, window_days=window_days, resamples=resamples,
                        seed=seed, walk_hours=walk_hours, data_dir=data_dir, offline=offline)
        written = write_assessment(result, out_dir=output)
    if script == "json":
        print_json({"assessment": result.summary(), "groups": result.table(), "written": written})
        return
    _print_assessment(result, written)


def _print_assessment(result: Any, written: dict[str, Path]) -> None:
    """Print an assessment: its periods, the groups' counts, the estimates, the notes and the verdict."""
    periods = result.periods
    console.print(f"Assessment: {result.area_name}, Safe Passages since {periods.since}", style="bold")
    console.print(f"{periods.describe()}; {result.incidents:,} incidents on a street, "
                  f"{result.too_far:,} too far from one", width=_width())
    groups = Table("group", "segments", "km", "before", "after", "rate before", "rate after",
                   title="Incidents before and after (rates: incidents per km per year; adjacent: streets that "
                         "touch a passage)", title_justify="left")
    for column in groups.columns[1:]:
        column.justify = "right"
    for row in result.table().to_dict("records"):
        groups.add_row(str(row["group"]).split(" ")[0], f"{row['segments']:,}", f"{row['km']:.1f}",
                       f"{row['before']:,}", f"{row['after']:,}", f"{row['rate_before']:.2f}",
                       f"{row['rate_after']:.2f}")
    print_table(console, groups)
    estimates = Table("group", "estimate", "95% interval", "relative to before",
                      title="Difference in differences: change against the comparison, per km per year",
                      title_justify="left")
    for column in estimates.columns[1:]:
        column.justify = "right"
    for label, estimate in (("passages", result.passages), ("adjacent (displacement)", result.adjacent)):
        if estimate is None:
            continue
        relative = ("-" if estimate.relative is None else
                    f"{estimate.relative:+.0%} ({estimate.relative_low:+.0%} to {estimate.relative_high:+.0%})")
        estimates.add_row(label, f"{estimate.did:+.2f}", f"{estimate.low:+.2f} to {estimate.high:+.2f}", relative)
    print_table(console, estimates)
    for note in result.notes:
        console.print(Text(f"note: {note}"), width=_width())
    print_lines(console, [f"{kind:<8} {path}" for kind, path in written.items()])
    console.print(result.verdict, style="bold", width=_width())

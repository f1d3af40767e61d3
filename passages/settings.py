"""Defaults of ``passages``, each documented once.

Functions take ``None`` for an option and fall back to the value here, so a planner can
change a default for a whole session (``passages.settings.snap_m = 40``) and a scenario
file can change it for one plan. Every distance is in metres, every time in local clock
time (America/Los_Angeles for the LAPD data).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Walking radius around a site centre that defines the study area, in metres.
radius_m: float = 1200.0

#: CRS of every input coordinate: WGS84 longitude/latitude.
input_crs: str = "EPSG:4326"

#: Incidents farther than this from any street segment are not scored (metres).
snap_m: float = 60.0

#: Places (schools, stops, parks) farther than this from the network are reported and
#: left out of routing (metres).
place_snap_m: float = 150.0

#: Network kernel density bandwidth: how far along the streets, from the incident's own
#: position, the part of its weight not kept on its own segment is spread (metres). Chosen
#: with :data:`own_share`, :data:`half_life_days` and :data:`risk_severity` by rolling-origin
#: cross-validation (``passages.risk_models``): on the dated LAPD incidents of ``downtown``
#: the model "90 % own segment + 30 m kernel, half-life 90 days, each incident once" won at
#: every origin tried (``benchmarks/risk_results.md``).
bandwidth_m: float = 30.0

#: Share of each incident's weight kept on its own street segment (0-1); the rest is spread
#: along the network from the incident's position with the kernel of ``bandwidth_m``.
#: Chosen with ``bandwidth_m`` by rolling-origin cross-validation on the dated LAPD
#: incidents (``passages.risk_models``, ``benchmarks/bench_risk_models.py``).
own_share: float = 0.9

#: Whether the plan's risk weighs incidents by severity (:data:`severity`) or counts each
#: once. Chosen by the same cross-validation as :data:`own_share`: counting each incident
#: once predicted next month's incidents better on the dated LAPD extracts.
risk_severity: bool = False

#: Share of street segments (by count) flagged as hot, highest risk per 100 m first.
hot_share: float = 0.05

#: Risk aversion of the safer path: cost = length x (1 + risk_lambda x relative risk),
#: relative risk being risk per 100 m divided by its length-weighted mean.
risk_lambda: float = 2.0

#: A safer path may be at most this share longer than the shortest (0.25 = 25 %).
max_detour: float = 0.25

#: Schools are linked to transit stops and parks within this straight-line distance
#: (metres).
link_radius_m: float = 500.0

#: At most this many transit stops and this many parks are linked to each school
#: (the nearest first).
links_per_kind: int = 3

#: Students assumed at a school whose enrolment is unknown.
default_enrollment: int = 300

#: Share of a school's walkers assumed to continue to transit or a park; it is split
#: evenly among that school's linked destinations.
link_share: float = 0.25

#: Longest walk from a home block to its school along the network (metres): about 20
#: minutes at a child's pace, the usual walk zone of Safe Routes to School programs.
home_walk_m: float = 1600.0

#: Side of the square cells residential street length is gathered in, one home block per
#: cell (metres): about one city block.
home_cell_m: float = 100.0

#: Storefronts farther than this from every street are not part of a corridor (metres).
storefront_snap_m: float = 40.0

#: Fewest storefronts a run of street needs to be a business corridor.
corridor_min_storefronts: int = 3

#: Share of an origin's walkers (a home, the site, a transit stop) who also walk to the
#: nearest business corridor.
business_share: float = 0.1

#: A community concern lies on the street segment nearest it within this distance; a
#: stretch on the segments within it for at least half their length (metres).
concern_snap_m: float = 30.0

#: A home is "near a passage" when its street lies within this straight-line distance of
#: a passage segment (metres): the summary's residential share.
near_passage_m: float = 100.0

#: Time windows of the school walks, as "HH:MM-HH:MM" local time.
windows: tuple[str, ...] = ("07:00-08:30", "14:00-16:00")

#: Days the windows apply to (0 = Monday ... 6 = Sunday).
weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)

#: Recency weighting: an incident this many days older than the newest one counts half
#: (chosen by the cross-validation of :data:`bandwidth_m`).
half_life_days: float = 90.0

#: Largest weight one incident row may carry (incidents the row stands for, in the
#: ``WEIGHT`` column of a weighted file): rows with a weight that is not a number in
#: (0, max_incident_weight] are dropped as "invalid weight", so that no sum of weights can
#: overflow to infinity.
max_incident_weight: float = 1e6

#: Rows of an incident CSV read at a time: memory grows with this and with the rows kept,
#: not with the size of the file.
incident_chunk_rows: int = 200_000

#: Severity weight of each crime category.
severity: dict[str, float] = {"violent": 3.0, "property": 1.0, "other": 0.5}

#: Walking pace used for times shown to officers (km/h).
walk_kmh: float = 4.5

#: Officers on duty in each time window of a coverage scenario.
officers: int = 2

#: How officers cover the passages: "posts" (standing at corners), "footbeats" (walking
#: closed loops with stops) or "both" (half at posts, rounded up, the rest on loops).
coverage_mode: str = "posts"

#: An officer watches the street segments whose midpoint lies within this distance of
#: them along the network (metres).
cover_radius_m: float = 150.0

#: Length of a footbeat stop at a corner (minutes); the Koper curve asks for 10-15.
stop_minutes: float = 12.0

#: Stops per footbeat lap, at the worst corners on the loop.
stops_per_loop: int = 2

#: A footbeat lap fits this many times into the shortest window, so the officer comes
#: back to the worst corners within the window (the Koper curve).
laps: int = 2

#: A footbeat lap never lasts longer than this (minutes): the Koper curve's revisit interval.
max_lap_minutes: float = 120.0

#: Backtests: dated incident files read when none is given, relative to the shared data
#: folder: the LAPD open-data extracts of 2020-2022 (the hourly sample has no dates).
backtest_incidents: tuple[str, ...] = (
    "incidents/ivanco19_Project-1/Crime_Data_from_2020_to_Present.csv",
    "incidents/pratiksha1821_DataDrivenCrimeAnalysis/Crime_Data_from_2020_to_Present.csv",
    "incidents/OwenGeeAndre_Data/Crime_Data_from_2020_to_Present.csv",
)

#: Backtests: time windows of the incidents fitted and counted: the whole day, not the
#: school-walk windows, so that enough incidents are left to test on.
backtest_windows: tuple[str, ...] = ("00:00-24:00",)

#: Backtests: days of the incidents fitted and counted (0 = Monday): every day.
backtest_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)

#: Backtests: shares of network length chosen at which hit rate and PAI are measured.
backtest_coverages: tuple[float, ...] = tuple(round(0.01 * level, 2) for level in range(1, 21))

#: Backtests: below this many test incidents on a street, the report warns that the
#: intervals are wide.
backtest_min_test: int = 100

#: Backtests: rolling splits reported besides the one asked for: origins a month apart from
#: the split, each fitted before its origin and tested on the month after it.
backtest_rolls: int = 3

#: Risk-model cross-validation: monthly folds before the instant the model is fitted at.
cv_folds: int = 4

#: Risk-model cross-validation: a fold needs this many incidents before its origin ...
cv_min_fit: int = 20

#: ... and this many in its test month.
cv_min_test: int = 5

#: Backtests: kernel bandwidth of the grid kernel-density baseline (metres).
grid_bandwidth_m: float = 250.0

#: Backtests: a fixed set that would hold fewer test incidents than this at random (its
#: share of street length x the test incidents) is reported as too small to judge.
backtest_min_expected: float = 5.0

#: Backtests: bootstrap draws of the test incidents behind each interval.
bootstrap_draws: int = 1000

#: Backtests: random segment orders averaged for the random baseline.
random_seeds: int = 200

#: Backtests: side of the square cells of the grid kernel-density baseline (metres).
grid_cell_m: float = 150.0

#: Seed of every random draw (backtest ties, baselines and bootstrap).
seed: int = 0

#: Seconds to wait for a Dask scheduler given with --scheduler before giving up.
dask_connect_timeout_s: float = 10.0

#: Overpass API endpoint the street network is downloaded from when no local file is
#: given (osmnx appends ``/interpreter`` and ``/status``).
overpass_url: str = "https://overpass-api.de/api"

#: Seconds to wait for one Overpass answer before giving up on that try (also the
#: ``[timeout:]`` asked of the server).
overpass_timeout_s: float = 180.0

#: Tries of an Overpass download that fails for a passing reason (HTTP 429 or 5xx, a
#: timeout, a lost connection, a malformed answer) before the run stops with a message.
overpass_tries: int = 2

#: Seconds to wait between two tries of an Overpass download.
overpass_retry_pause_s: float = 10.0

#: Seconds to wait for a connection to the Overpass API (and its DNS-over-HTTPS lookup)
#: before taking it as unreachable; with no connection a download stops within about
#: three of these plus :data:`overpass_reconnect_pause_s`.
overpass_connect_timeout_s: float = 4.0

#: Seconds to wait before asking again when the Overpass API could not be reached at all.
overpass_reconnect_pause_s: float = 1.0

#: Folder of downloaded and imported inputs (osmnx's HTTP cache lives here).
raw_dir: Path = Path("data/raw")

#: Folder of caches and plan stores.
processed_dir: Path = Path("data/processed")

#: Keep the parsed place files of each area under ``processed_dir / "places"`` (keyed by the
#: files' bytes and the readers' code; see :mod:`passages._frame_cache`). False reads every
#: file every time.
input_cache: bool = True

#: Folder the maps are written to, one sub-folder per area.
maps_dir: Path = Path("maps")


def shared_data_dir() -> Path:
    """Return the folder of the offline sample data.

    ``$PASSAGES_DATA`` when set, else ``../shared/data`` seen from the current folder.
    """
    env = os.environ.get("PASSAGES_DATA")
    return Path(env) if env else Path("..") / "shared" / "data"

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

#: Network kernel density bandwidth: how far along the streets one incident's weight
#: is spread (metres).
bandwidth_m: float = 250.0

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

#: Time windows of the school walks, as "HH:MM-HH:MM" local time.
windows: tuple[str, ...] = ("07:00-08:30", "14:00-16:00")

#: Days the windows apply to (0 = Monday ... 6 = Sunday).
weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)

#: Recency weighting: an incident this many days older than the newest one counts half.
half_life_days: float = 365.0

#: Severity weight of each crime category.
severity: dict[str, float] = {"violent": 3.0, "property": 1.0, "other": 0.5}

#: Walking pace used for times shown to officers (km/h).
walk_kmh: float = 4.5

#: Folder of downloaded and imported inputs (osmnx's HTTP cache lives here).
raw_dir: Path = Path("data/raw")

#: Folder of caches and plan stores.
processed_dir: Path = Path("data/processed")

#: Folder the maps are written to, one sub-folder per area.
maps_dir: Path = Path("maps")


def shared_data_dir() -> Path:
    """Return the folder of the offline sample data.

    ``$PASSAGES_DATA`` when set, else ``../shared/data`` seen from the current folder.
    """
    env = os.environ.get("PASSAGES_DATA")
    return Path(env) if env else Path("..") / "shared" / "data"

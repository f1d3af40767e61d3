"""Demo mode (``passages serve --demo``): demo accounts, and the sample areas planned and published.

At start, :func:`prepare_accounts` makes one account of each role (``demo-admin``,
``demo-planner``, ``demo-command``, and ``demo-officer`` assigned to ``south-la`` and
``downtown``), each with a one-time password printed once (a second demo start gives
them new ones). :func:`queue_sample_plans` queues a run of each sample area with the
first two scenarios of ``scenarios/officer-coverage.toml`` through the job queue, and
:func:`publish_when_done` publishes each run as it finishes (version 1 of its area, the
first scenario, ``published_by`` ``"demo"``, audit ``publish``), so officers and the
community page have something at once. Nothing here runs outside demo mode.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from passages.web import auth, jobs
from passages.web.config import ServiceConfig
from passages.web.models import Publication, Run, User
from passages.web.store import Store

__all__ = ["DEMO_AREAS", "DEMO_USERS", "prepare_accounts", "publish", "publish_when_done", "queue_sample_plans"]

#: The sample areas the demo plans and publishes.
DEMO_AREAS = ("south-la", "south-central", "downtown")

#: The demo accounts: name, role, areas.
DEMO_USERS = (("demo-admin", "admin", ()), ("demo-planner", "planner", ()), ("demo-command", "command", ()),
              ("demo-officer", "officer", ("south-la", "downtown")))

#: Who the demo's runs and publications are by.
DEMO_BY = "demo"

#: The first two scenarios of ``scenarios/officer-coverage.toml`` (the file itself is read
#: when the repository is at hand; this copy serves an installed package).
DEMO_SCENARIOS = """\
[defaults]
cover_radius_m = 150
walk_kmh = 4.5
stop_minutes = 12
windows = ["07:00-08:30"]

[scenarios.posts-2-morning]
officers = 2
mode = "posts"

[scenarios.posts-4-morning]
officers = 4
mode = "posts"
"""


def demo_scenarios() -> str:
    """Return the TOML of the demo's scenarios: the first two of ``scenarios/officer-coverage.toml``."""
    from passages.scenarios import read_scenarios

    file = Path(__file__).resolve().parents[2] / "scenarios" / "officer-coverage.toml"
    if not file.is_file():
        return DEMO_SCENARIOS
    return jobs.scenario_toml(jobs.scenario_table(read_scenarios(file)[:2]))


def prepare_accounts(store: Store) -> list[tuple[str, str, str]]:
    """Make (or give new one-time passwords to) the demo accounts; return ``(name, role, password)``."""
    made = []
    with store.session() as session:
        for name, role, areas in DEMO_USERS:
            if session.scalar(select(User).where(User.username == name)) is None:
                _user, password = auth.add_user(session, name, role, areas=areas, by=DEMO_BY)
            else:
                password = auth.reset_password(session, name, by=DEMO_BY)
            made.append((name, role, password))
    return made


def queue_sample_plans(store: Store, config: ServiceConfig) -> dict[str, int]:
    """Queue a demo run of each sample area not yet published; return area to run id.

    An area whose demo run is already queued, running or done keeps that run.
    """
    toml_text = demo_scenarios()
    queued: dict[str, int] = {}
    for area in DEMO_AREAS:
        with store.session() as session:
            if session.scalar(select(Publication.id).where(Publication.area_slug == area).limit(1)) is not None:
                continue
            existing = session.scalar(select(Run.id).where(Run.area_slug == area, Run.created_by == DEMO_BY,
                                                           Run.state.in_(("queued", "running", "done")))
                                      .order_by(Run.id.desc()).limit(1))
        queued[area] = existing if existing is not None else jobs.create_run(
            store, config, area_slug=area, toml_text=toml_text, created_by=DEMO_BY, validate=False)
    return queued


def publish(store: Store, config: ServiceConfig, run_id: int, *, by: str = DEMO_BY) -> int | None:
    """Publish a finished run's first scenario as the next version of its area; return the version.

    Through :func:`passages.web.publish.publish` (audit ``publish``, metrics from the
    scenario's ``metrics.json``). Returns ``None`` (and publishes nothing) if the run is not done.
    """
    from passages.web.publish import publish as publish_run

    with store.session() as session:
        run = session.get(Run, run_id)
        if run is None or run.state != "done" or not run.summary:
            return None
        scenario = next(iter(run.summary))
        publication = publish_run(session, config, run_id, scenario, by=by, note="published by the demo at start")
        return publication.version


def publish_when_done(store: Store, config: ServiceConfig, runs: dict[str, int], *,
                      say: Callable[[str], None] = print, timeout: float = 3600.0) -> threading.Thread:
    """Start a thread that publishes each demo run as soon as it is done (and says so)."""
    def watch() -> None:
        waiting = dict(runs)
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for area, run_id in list(waiting.items()):
                with store.session() as session:
                    run = session.get(Run, run_id)
                    state, error = (run.state, run.error) if run else ("failed", "the run is gone")
                if state == "done":
                    version = publish(store, config, run_id)
                    say(f"demo: {area} planned and published (run {run_id}, version {version})")
                    del waiting[area]
                elif state == "failed":
                    say(f"demo: the plan of {area} failed (run {run_id}): {error}")
                    del waiting[area]
            time.sleep(1.0)

    thread = threading.Thread(target=watch, name="passages-demo-publisher", daemon=True)
    thread.start()
    return thread

"""Starting the service: the store migrated, the first admin made, the job workers started, the web server run.

At every start the job queue recovers what a dead server left (:func:`passages.web.jobs.recover`):
runs still ``running`` are marked failed with the reason and their partial outputs removed;
``queued`` runs are run. In demo mode (:mod:`passages.web.demo`) the demo accounts are made
and the sample areas planned and published.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from pathlib import Path
from typing import Any

from passages import settings
from passages.web.config import ServiceConfig

#: Environment variable carrying the service's config to web processes started by uvicorn.
CONFIG_VARIABLE = "PASSAGES_SERVICE_CONFIG"


def app_from_environment() -> Any:
    """Build the app in a web process that uvicorn started (``--web-processes`` above 1).

    The config comes as JSON in :data:`CONFIG_VARIABLE`; the store is already migrated by
    the parent, which also runs the job workers: a web process only reads and queues.
    """
    from passages.web.app import create_app
    from passages.web.store import Store

    values = json.loads(os.environ[CONFIG_VARIABLE])
    config = ServiceConfig(**{**values, "artefact_dir": Path(values["artefact_dir"]),
                              "data_dir": Path(values["data_dir"]),
                              "warm_areas": tuple(values.get("warm_areas", ()))})
    return create_app(config, Store(config.database_url))


def serve(*, host: str = "127.0.0.1", port: int = 8000, database: str = "sqlite:///data/passages.db",
          data_dir: Path | None = None, demo: bool = False, workers: int | None = None,
          artefact_dir: Path | None = None, web_processes: int = 1, warm_areas: tuple[str, ...] = ()) -> None:
    """Run the planning service until it is stopped (Ctrl-C or SIGTERM).

    At the first start the store is created and an account ``admin`` is made, with a
    one-time password printed once. Plans run in ``workers`` worker processes; they stop
    with the server (a run cut short is marked failed, and can be run again). The inputs
    of ``warm_areas`` are read into memory in the background for what-if re-plans
    (:mod:`passages.web.whatif`); other areas are read at their first what-if.
    """
    import uvicorn

    from passages.web import demo as demo_mode
    from passages.web.app import create_app
    from passages.web.commands import ensure_first_admin
    from passages.web.jobs import JobQueue
    from passages.web.store import Store

    config = ServiceConfig(database_url=database, data_dir=data_dir or settings.shared_data_dir(), demo=demo)
    if workers:
        config = dataclasses.replace(config, workers=workers)
    if artefact_dir is not None:
        config = dataclasses.replace(config, artefact_dir=artefact_dir)
    if warm_areas:
        from passages.areas import get_area

        for slug in warm_areas:
            get_area(slug)  # an unknown area stops the start with its one-line message
        config = dataclasses.replace(config, warm_areas=tuple(warm_areas))
    store = Store(config.database_url)
    store.migrate()
    password = ensure_first_admin(store)
    if password is not None:
        print(f"first start: account 'admin', one-time password {password} (shown once; change it at first login)")
    queue = JobQueue(config)
    found = queue.start(store)
    if found["failed"]:
        print("runs stopped by the last shutdown, marked failed (run them again from their page): "
              + ", ".join(map(str, found["failed"])))
    if found["queued"]:
        print("runs still queued, run now: " + ", ".join(map(str, found["queued"])))
    url = f"http://{host}:{port}/"
    if demo:
        accounts = demo_mode.prepare_accounts(store)
        print("DEMO MODE: sample data and demo accounts; do not use for real operations.")
        print("demo accounts (one-time passwords, shown once; each user chooses a new one at first login):")
        for name, role, secret in accounts:
            print(f"  {name:<14} {role:<8} {secret}")
        runs = demo_mode.queue_sample_plans(store, config)
        if runs:
            print("demo: planning " + ", ".join(f"{area} (run {rid})" for area, rid in runs.items())
                  + " with posts-2-morning and posts-4-morning; each is published as soon as it is done")
            demo_mode.publish_when_done(store, config, runs, say=lambda line: print(line, flush=True))
        print(f"log in at {url}login  ·  community map (no login): {url}community")
    print(f"passages service on {url}  (store: {store.safe_url}; {queue.workers} worker processes)", flush=True)
    try:
        if web_processes > 1:  # several web processes share the port; the job workers stay here
            os.environ[CONFIG_VARIABLE] = json.dumps({**dataclasses.asdict(config),
                                                      "artefact_dir": str(config.artefact_dir),
                                                      "data_dir": str(config.data_dir)})
            uvicorn.run("passages.web.server:app_from_environment", factory=True, workers=web_processes,
                        host=host, port=port, log_level="warning")
        else:
            uvicorn.run(create_app(config, store, jobs=queue), host=host, port=port, log_level="warning")
    finally:
        # a second Ctrl-C or SIGTERM must not cut the shutdown half-way
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            queue.stop()
            store.dispose()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

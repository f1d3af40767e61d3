"""Settings of the planning service, each documented once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from passages import settings

#: The roles of the service, from the most to the least trusted.
ROLES = ("admin", "planner", "command", "officer")


@dataclass(frozen=True)
class ServiceConfig:
    """Where the service keeps its data and how strict it is.

    Attributes
    ----------
    database_url
        SQLAlchemy URL of the store: ``sqlite:///data/passages.db`` (the embedded default)
        or ``postgresql+psycopg://user:password@host/db`` (the scale-up).
    artefact_dir
        Folder of each run's outputs (maps, summaries, briefing sheets, GPX), one
        sub-folder per run; under ``data/`` by default.
    data_dir
        The shared data folder the sample and CSP areas read their files from.
    demo
        Demo mode: demo accounts with printed passwords, said so on every page.
    secure_cookies
        Mark cookies ``Secure`` (always when served over HTTPS behind a proxy).
    session_idle_minutes
        A session ends after this many minutes without a request.
    lockout_failures, lockout_minutes
        This many failed logins in a row lock an account for this many minutes.
    max_upload_bytes
        Largest uploaded file accepted (bytes).
    workers
        Worker processes that run plans outside the requests.
    whatif_areas
        Areas whose inputs (street network and index, places, incidents) the web process
        keeps in memory for planners' what-if re-plans (``POST /api/plan/whatif``); the
        least recently used is dropped first. About 50 MB each for a sample area; the first
        also loads the planning libraries into the web process (0.2-0.3 GB in all).
    warm_areas
        Areas whose inputs are read into that memory in the background at start-up, so
        that the first what-if of each is quick too (else the first one reads them).
    """

    database_url: str = "sqlite:///data/passages.db"
    artefact_dir: Path = Path("data/artefacts")
    data_dir: Path = field(default_factory=settings.shared_data_dir)
    demo: bool = False
    secure_cookies: bool = False
    session_idle_minutes: float = 30.0
    lockout_failures: int = 5
    lockout_minutes: float = 10.0
    max_upload_bytes: int = 20 * 1024 * 1024
    workers: int = field(default_factory=lambda: max(1, min(2, os.cpu_count() or 1)))
    whatif_areas: int = 2
    warm_areas: tuple[str, ...] = ()

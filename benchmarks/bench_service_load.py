"""Load test of the planning service on 127.0.0.1: officers opening their packs while planners queue plans.

The script starts ``passages serve --demo`` in a temporary folder (its own database and
artefacts; the sample areas planned and published by the demo), adds ``--officers``
officer accounts (assigned to ``south-la`` and ``downtown``) and ``--planners`` planner
accounts, logs every one of them in through the login form, and then, for ``--duration``
seconds:

* each officer, in a loop, opens their pack page (``GET /officer/{area}``) and its map
  (``GET /officer/{area}/files/officers.html``), then waits 1-3 s (a person reading);
* each planner queues ``--plans-per-planner`` plans of a sample area (``POST /api/runs``)
  and polls their progress every second, as the run page does.

Afterwards it waits (at most ``--drain`` s) for every queued plan to end. It reports the
requests made, the errors (any status other than 2xx/3xx, or no answer), the p50/p95/p99
latency of the officer pages, and jobs queued against completed. Everything runs on
127.0.0.1 and stops by itself; the server is stopped at the end (its whole process group).

Usage::

    .venv/bin/python benchmarks/bench_service_load.py                 # 200 officers, 10 planners, 60 s
    .venv/bin/python benchmarks/bench_service_load.py --officers 20 --duration 10
    .venv/bin/python benchmarks/bench_service_load.py --write         # also update benchmarks/service_load_results.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from _report import DEFAULT_DATA, machine_lines, replace_section  # noqa: E402

RESULTS = HERE / "service_load_results.md"
PASSWORD = "load-test-password-1"
OFFICER_AREAS = ("south-la", "downtown")
PLAN_AREAS = ("south-la", "south-central", "downtown")
GOAL_P95_MS = 300.0
HEADER = """# Service load results

Written by `bench_service_load.py --write`: the planning service on 127.0.0.1 with officers
opening their packs while planners queue plans. Each section says the command, the date and
the machine. No test asserts a time.
"""


@dataclass
class Tally:
    """What the simulated users saw."""

    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latency: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, seconds: float, ok: bool, detail: str = "") -> None:
        self.requests += 1
        self.latency.setdefault(kind, []).append(seconds * 1000.0)
        if not ok:
            self.errors.append(f"{kind}: {detail}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed_accounts(database: str, officers: int, planners: int) -> None:
    """Add the officer and planner accounts (passwords set, nothing to change at first login)."""
    from passages.web import auth
    from passages.web.store import Store

    store = Store(database)
    store.migrate()
    with store.session() as session:
        for index in range(officers):
            auth.add_user(session, f"officer{index:03d}", "officer", password=PASSWORD, areas=OFFICER_AREAS)
        for index in range(planners):
            auth.add_user(session, f"planner{index:02d}", "planner", password=PASSWORD)
    store.dispose()


async def login(client: httpx.AsyncClient, username: str) -> str:
    """Log in through the form; return the session's CSRF token."""
    page = await client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None, page.text[:200]
    answer = await client.post("/login", data={"username": username, "password": PASSWORD,
                                               "login_csrf": token.group(1), "next": "/"})
    assert answer.status_code in (200, 303), f"{username}: login answered {answer.status_code}"
    home = await client.get("/")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', home.text)
    assert csrf is not None
    return csrf.group(1)


async def timed(client: httpx.AsyncClient, tally: Tally, kind: str, method: str, url: str,
                **options: Any) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        answer = await client.request(method, url, **options)
    except httpx.HTTPError as exc:
        tally.add(kind, time.perf_counter() - started, False, f"{type(exc).__name__} on {url}")
        return None
    ok = answer.status_code < 400  # 304 (the browser's copy is current) is a success
    tally.add(kind, time.perf_counter() - started, ok, f"{answer.status_code} on {url}")
    return answer


async def officer(client: httpx.AsyncClient, area: str, tally: Tally, until: float, rng: random.Random) -> None:
    """One officer's phone: the pack page, then its map, as a browser asks for them.

    Like a browser, it keeps the map it was sent and asks for it again with its ETag
    (``If-None-Match``): the server still checks the login and audits the opening, and
    answers ``304 Not Modified`` while the published version is the same.
    """
    await asyncio.sleep(rng.uniform(0, 2))
    etag = ""
    while time.monotonic() < until:
        await timed(client, tally, "pack page", "GET", f"/officer/{area}")
        answer = await timed(client, tally, "map file", "GET", f"/officer/{area}/files/officers.html",
                             headers={"If-None-Match": etag} if etag else {})
        if answer is not None and answer.status_code == 200:
            etag = answer.headers.get("etag", "")
        await asyncio.sleep(rng.uniform(1.0, 3.0))


async def planner(client: httpx.AsyncClient, csrf: str, index: int, plans: int, tally: Tally, until: float,
                  queued: list[int]) -> None:
    mine = []
    for number in range(plans):
        area = PLAN_AREAS[(index + number) % len(PLAN_AREAS)]
        body = {"area": area, "scenarios": {f"load-{index}-{number}": {"officers": 2 + (index % 3)}}}
        answer = await timed(client, tally, "queue plan", "POST", "/api/runs", json=body,
                             headers={"X-CSRF-Token": csrf})
        if answer is not None and answer.status_code == 201:
            mine.append(answer.json()["id"])
            queued.append(answer.json()["id"])
    while time.monotonic() < until:  # watch progress as the run page does
        for run_id in mine:
            await timed(client, tally, "run progress", "GET", f"/api/runs/{run_id}")
        await asyncio.sleep(1.0)


async def load(url: str, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    officers = [httpx.AsyncClient(base_url=url, timeout=60, limits=limits) for _ in range(args.officers)]
    planners = [httpx.AsyncClient(base_url=url, timeout=60, limits=limits) for _ in range(args.planners)]
    try:
        gate = asyncio.Semaphore(8)

        async def log_in(client: httpx.AsyncClient, name: str) -> str:
            async with gate:
                return await login(client, name)

        started = time.perf_counter()
        await asyncio.gather(*(log_in(c, f"officer{i:03d}") for i, c in enumerate(officers)))
        tokens = await asyncio.gather(*(log_in(c, f"planner{i:02d}") for i, c in enumerate(planners)))
        login_seconds = time.perf_counter() - started
        tally = Tally()
        queued: list[int] = []
        until = time.monotonic() + args.duration
        rng = random.Random(7)
        await asyncio.gather(
            *(officer(c, OFFICER_AREAS[i % 2], tally, until, random.Random(rng.random()))
              for i, c in enumerate(officers)),
            *(planner(c, tokens[i], i, args.plans_per_planner, tally, until, queued)
              for i, c in enumerate(planners)))
        # every queued plan must end: wait for them (bounded)
        deadline = time.monotonic() + args.drain
        states: dict[int, str] = {}
        while time.monotonic() < deadline:
            states = {}
            for run_id in queued:
                answer = await planners[0].get(f"/api/runs/{run_id}")
                states[run_id] = answer.json()["state"] if answer.status_code == 200 else "unreadable"
            if all(s in ("done", "failed") for s in states.values()):
                break
            await asyncio.sleep(2.0)
        drain_seconds = args.drain - max(0.0, deadline - time.monotonic())
        return {"tally": tally, "queued": queued, "states": states, "login_seconds": login_seconds,
                "drain_seconds": drain_seconds}
    finally:
        await asyncio.gather(*(c.aclose() for c in officers + planners))


def wait_for_demo(url: str, database: str, timeout: float) -> None:
    """Wait until the server answers and the demo has published the officers' areas."""
    from sqlalchemy import select

    from passages.web.models import Publication
    from passages.web.store import Store

    store = Store(database)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with store.session() as session:
                published = set(session.scalars(select(Publication.area_slug)))
            if published >= set(OFFICER_AREAS):
                return
            time.sleep(2.0)
    finally:
        store.dispose()
    raise SystemExit(f"the demo did not publish {', '.join(OFFICER_AREAS)} within {timeout:.0f} s")


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return f"{p50:.0f} / {p95:.0f} / {p99:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--officers", type=int, default=200)
    parser.add_argument("--planners", type=int, default=10)
    parser.add_argument("--plans-per-planner", type=int, default=1)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--drain", type=float, default=600.0, help="most seconds to wait for the plans after")
    parser.add_argument("--workers", type=int, default=2, help="the server's worker processes")
    parser.add_argument("--web-processes", type=int, default=1, help="the server's web processes")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--write", action="store_true", help=f"update {RESULTS.name}")
    args = parser.parse_args(argv)
    command = "  ".join([".venv/bin/python benchmarks/bench_service_load.py", *map(shlex.quote, argv or sys.argv[1:])])

    with tempfile.TemporaryDirectory(prefix="passages-load-") as folder:
        work = Path(folder)
        database = f"sqlite:///{work}/p.db"
        seed_accounts(database, args.officers, args.planners)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PASSAGES_DATA": str(args.data_dir), "PYTHONPATH": str(ROOT)}
        with open(work / "server.log", "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "passages", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port),
                 "--database", database, "--data-dir", str(args.data_dir), "--workers", str(args.workers),
                 "--web-processes", str(args.web_processes)],
                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            started = time.perf_counter()
            wait_for_demo(url, database, timeout=600)
            demo_seconds = time.perf_counter() - started
            print(f"demo published in {demo_seconds:.0f} s; logging in {args.officers} officers and "
                  f"{args.planners} planners", flush=True)
            result = asyncio.run(load(url, args))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)

    tally: Tally = result["tally"]
    states: dict[int, str] = result["states"]
    done = sum(1 for s in states.values() if s == "done")
    failed = sum(1 for s in states.values() if s == "failed")
    lost = len(result["queued"]) - done - failed
    pack = tally.latency.get("pack page", [])
    map_file = tally.latency.get("map file", [])
    p95 = float(np.percentile(pack, 95)) if pack else float("nan")
    rows = [
        "| what | requests | p50 / p95 / p99 ms |",
        "|---|---:|---:|",
        *(f"| {kind} | {len(values):,} | {percentiles(values)} |" for kind, values in sorted(tally.latency.items())),
    ]
    body = [
        f"Command: `{command}`",
        "",
        *machine_lines(),
        "",
        f"The server (`passages serve --demo`, {args.workers} worker processes, {args.web_processes} web "
        f"process(es), SQLite) on 127.0.0.1 in a "
        f"temporary folder; the demo planned and published the sample areas first ({demo_seconds:.0f} s). "
        f"{args.officers} officers (each its own session, logged in through the form in "
        f"{result['login_seconds']:.0f} s before the clock started) opened their pack page and its map, "
        f"reading 1-3 s between visits, for {args.duration:.0f} s; meanwhile {args.planners} planners queued "
        f"{args.plans_per_planner} plan(s) each (one scenario of a sample area) and polled their progress "
        "every second. Every pack file opened is written to the audit log, as in service.",
        "",
        f"- requests: {tally.requests:,} in {args.duration:.0f} s; errors: **{len(tally.errors)}**"
        + (f" (first: {tally.errors[0]})" if tally.errors else ""),
        f"- officer pack page (`GET /officer/{{area}}`) p50/p95/p99: **{percentiles(pack)} ms** "
        f"(goal p95 <= {GOAL_P95_MS:.0f} ms: {'met' if p95 <= GOAL_P95_MS else 'NOT met'})",
        f"- officer map (`GET /officer/{{area}}/files/officers.html`, a self-contained map of about "
        f"0.4 MB) p50/p95/p99: {percentiles(map_file)} ms",
        f"- jobs queued {len(result['queued'])}, completed {done}, failed {failed}, lost {lost} "
        f"(all ended {result['drain_seconds']:.0f} s after the load stopped)" if not lost else
        f"- jobs queued {len(result['queued'])}, completed {done}, failed {failed}, NOT ENDED {lost} "
        f"after {args.drain:.0f} s",
        "",
        *rows,
    ]
    print("\n".join(body))
    if args.write:
        if not RESULTS.is_file():
            RESULTS.write_text(HEADER, encoding="utf-8")
        replace_section(RESULTS, "Service under load", body)
    return 0 if not tally.errors and not lost and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())

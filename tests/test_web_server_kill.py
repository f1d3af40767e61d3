"""SIGKILL the real server (and its workers) while a plan runs; start it again: nothing lost or half-done."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from passages.web import auth
from passages.web.jobs import RECOVERY_REASON
from passages.web.store import Store

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "kill-test-password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _until(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Server:
    """``python -m passages serve`` in its own process group on 127.0.0.1."""

    def __init__(self, folder: Path, data: Path, port: int) -> None:
        self.folder, self.data, self.port = folder, data, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "server.log"

    def start(self) -> None:
        env = {**os.environ, "PASSAGES_DATA": str(self.data), "PYTHONPATH": str(ROOT)}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "passages", "serve", "--port", str(self.port), "--database",
                 f"sqlite:///{self.folder}/p.db", "--data-dir", str(self.data), "--workers", "1"],
                cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def up() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _until(up, timeout=90, what="the server to answer")

    def kill(self) -> None:
        """SIGKILL the whole process group (the server and its worker processes)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

        def group_gone() -> bool:
            try:
                os.killpg(self.process.pid, 0)  # type: ignore[union-attr]
            except ProcessLookupError:
                return True
            return False

        _until(group_gone, timeout=30, what="the process group to end")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()


@pytest.fixture()
def server(tmp_path: Path, shared_data: Path) -> Iterator[Server]:
    store = Store(f"sqlite:///{tmp_path}/p.db")
    store.migrate()
    with store.session() as session:
        auth.add_user(session, "planner1", "planner", password=PASSWORD)
        auth.add_user(session, "admin", "admin", password=PASSWORD)  # no one-time admin printed
    store.dispose()
    running = Server(tmp_path, shared_data.resolve(), _free_port())
    try:
        yield running
    finally:
        running.kill()


def _login(url: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=30)
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None
    answer = client.post("/login", data={"username": "planner1", "password": PASSWORD,
                                         "login_csrf": token.group(1), "next": "/"})
    assert answer.status_code in (200, 303), answer.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/plan").text)
    assert csrf is not None and csrf.group(1)
    return client, csrf.group(1)


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(db, timeout=30)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def test_sigkill_while_planning_loses_no_job_and_shows_nothing_half_done(server: Server) -> None:
    server.start()
    client, csrf = _login(server.url)
    ids = []
    for officers in (2, 3, 4):
        answer = client.post("/api/runs", json={"area": "south-la", "scenarios": {"plan": {"officers": officers}}},
                             headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])

    def first_running() -> dict[str, Any] | None:
        run = client.get(f"/api/runs/{ids[0]}").json()
        assert run["state"] != "done", "the run ended before the kill; nothing was tested"
        return run if run["state"] == "running" and run["steps_done"] >= 1 else None

    _until(first_running, timeout=120, what="the first run to be under way")
    client.close()
    db = server.folder / "p.db"
    before = _rows(db, "SELECT id, action, username, target, outcome FROM audit_events ORDER BY id")
    server.kill()

    # the database opens cleanly, and every event logged before the kill is there
    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]
    after = _rows(db, "SELECT id, action, username, target, outcome FROM audit_events ORDER BY id")
    assert after[:len(before)] == before
    assert [row[1] for row in after].count("run") == 3
    assert ("login", "planner1") in [(row[1], row[2]) for row in after if row[4] == "ok"]
    states = dict(_rows(db, "SELECT id, state FROM runs"))
    assert states[ids[0]] == "running" and states[ids[1]] == states[ids[2]] == "queued"

    server.start()
    client, csrf = _login(server.url)
    try:
        first = client.get(f"/api/runs/{ids[0]}").json()
        assert first["state"] == "failed" and first["error"] == RECOVERY_REASON
        assert first["outputs"] == [] and first["summary"] == {}
        runs_folder = server.folder / "data" / "artefacts" / "runs"
        assert sorted(p.name for p in (runs_folder / str(ids[0])).iterdir()) == ["inputs"]
        assert client.get(f"/runs/{ids[0]}/files/scenarios/plan/plan.html").status_code == 404

        def rest_done() -> bool:
            states = [client.get(f"/api/runs/{i}").json()["state"] for i in ids[1:]]
            assert "failed" not in states, states
            return all(s == "done" for s in states)

        _until(rest_done, timeout=300, what="the queued runs to complete", every=1.0)
        for run_id in ids[1:]:
            run = client.get(f"/api/runs/{run_id}").json()
            assert "scenarios/plan/plan.html" in run["outputs"]
            assert client.get(f"/runs/{run_id}/files/scenarios/plan/plan.html").status_code == 200
        assert not [p for p in runs_folder.iterdir() if p.name.startswith(".")]  # no staging folder left
        again = client.post(f"/api/runs/{ids[0]}/again", headers={"X-CSRF-Token": csrf})
        assert again.status_code == 201 and again.json()["state"] in ("queued", "running")
    finally:
        client.close()
        server.stop()
    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]

"""SIGKILL during plan, export and brief: the output folder is the old set or the new one.

Each command runs in a child process that is killed (SIGKILL: nothing of it can clean up)
at the worst moments of writing, through the fault points of :mod:`passages._io`
(``PASSAGES_FAULT``: after the files are staged, after the kept files are linked in,
after the swap), and at points in time along the run. The folder must then hold either
the previous complete set, byte for byte, or the new complete set; a next run must clear
what the killed one left beside it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from passages._io import MANIFEST, output_set

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios" / "officer-coverage.toml"

# (command arguments after --out DIR is appended, an old complete set written beforehand)
COMMANDS: dict[str, tuple[list[str], dict[str, bytes]]] = {
    "plan": (["plan", "--area", "south-la", "--offline"],
             {"plan.html": b"old map", "plan-summary.json": b"old summary"}),
    "export": (["export", "--area", "south-la", "--offline"],
               {"plan.gpkg": b"old gpkg", "plan-streets.geojson": b"old streets", "plan-routes.csv": b"old,csv"}),
    "brief": (["brief", str(SCENARIOS), "--area", "south-la", "--offline", "--scenario", "posts-2-morning"],
              {"posts-2-morning/officers.html": b"old map", "posts-2-morning/briefing.pdf": b"old pdf",
               "posts-2-morning/officer9.gpx": b"old loop of an officer no longer on duty"}),
}


def contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def run(args: Sequence[str], out: Path, workdir: Path, data: Path, *, fault: str | None = None,
        kill_after_s: float | None = None) -> int:
    """Run ``passages ARGS --out OUT`` in a child process; kill it as asked; return its exit status."""
    env = {**os.environ, "PASSAGES_DATA": str(data), "COLUMNS": "120"}
    env.pop("PASSAGES_FAULT", None)
    if fault is not None:
        env["PASSAGES_FAULT"] = fault
    child = subprocess.Popen([sys.executable, "-m", "passages", *args, "--out", str(out)], cwd=workdir, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after_s is not None:
        try:
            child.wait(timeout=kill_after_s)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
    _, stderr = child.communicate(timeout=600)
    if child.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(stderr.decode(errors="replace"))
    return child.returncode


def assert_old_or_new(out: Path, old: dict[str, bytes], new: dict[str, bytes]) -> str:
    """Assert ``out`` holds the old set or the new one (and its manifest says so); return which."""
    found = contents(out)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] and manifest["files"] == sorted(found)
    if found == old:
        return "old"
    assert found.keys() == new.keys(), f"a mix of sets: {sorted(found)}"
    assert not set(found.items()) & set(old.items()), "an old file is left in the new set"
    return "new"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A folder to run in, its network cache warmed once so that every run is short."""
    folder = tmp_path_factory.mktemp("kill")
    run(COMMANDS["plan"][0], folder / "warm", folder, shared_data)
    return folder


@pytest.fixture(scope="module")
def new_sets(workdir: Path, shared_data: Path) -> dict[str, dict[str, bytes]]:
    """The complete set each command writes into an empty folder (and how long it takes)."""
    sets = {}
    for name, (args, _old) in COMMANDS.items():
        started = time.perf_counter()
        run(args, workdir / f"reference-{name}", workdir, shared_data)
        sets[name] = contents(workdir / f"reference-{name}")
        sets[f"{name}-seconds"] = {"": str(time.perf_counter() - started).encode()}
    return sets


def with_old_set(out: Path, old: dict[str, bytes]) -> None:
    with output_set(out) as output:
        for name, data in old.items():
            output.write(name, data)


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("fault", ["staged", "carried", "exchanged"])
def test_a_kill_at_each_writing_step_leaves_a_whole_set(command: str, fault: str, workdir: Path, shared_data: Path,
                                                        new_sets: dict[str, dict[str, bytes]]) -> None:
    args, old = COMMANDS[command]
    out = workdir / f"{command}-{fault}"
    with_old_set(out, old)
    assert run(args, out, workdir, shared_data, fault=fault) == -signal.SIGKILL
    which = assert_old_or_new(out, old, new_sets[command])
    assert which == ("new" if fault == "exchanged" else "old")
    # the next run clears what the killed one left beside the folder, and completes
    assert run(args, out, workdir, shared_data) == 0
    assert assert_old_or_new(out, old, new_sets[command]) == "new"
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")] == []


@pytest.mark.parametrize("command", ["plan", "brief"])
@pytest.mark.parametrize("share", [0.3, 0.6, 0.85, 0.95])
def test_a_kill_at_any_time_leaves_a_whole_set(command: str, share: float, workdir: Path, shared_data: Path,
                                               new_sets: dict[str, dict[str, bytes]]) -> None:
    args, old = COMMANDS[command]
    out = workdir / f"{command}-at-{share}"
    with_old_set(out, old)
    seconds = float(new_sets[f"{command}-seconds"][""])
    run(args, out, workdir, shared_data, kill_after_s=share * seconds)
    assert_old_or_new(out, old, new_sets[command])

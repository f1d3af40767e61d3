"""The warm daemon: commands handed to a fork of it print, write and exit as they do without it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from passages import _launch

ROOT = Path(__file__).resolve().parent.parent


def run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "passages", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """A daemon of this checkout on a private socket folder; the environment that reaches it."""
    folder = tmp_path_factory.mktemp("daemon") / "sock"
    env = {k: v for k, v in os.environ.items() if k != "PASSAGES_NO_DAEMON"}
    env.update(PASSAGES_DAEMON_DIR=str(folder), COLUMNS="100", PYTHONPATH=str(ROOT))
    started = run(env, "daemon", "start", cwd=ROOT)
    assert started.returncode == 0, started.stdout + started.stderr
    assert (folder / "daemon.sock").exists()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    yield env, folder
    stopped = run(env, "daemon", "stop", cwd=ROOT)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not (folder / "daemon.sock").exists()


def served(folder: Path) -> list[str]:
    log = folder / "daemon.log"
    return [line for line in log.read_text(encoding="utf-8").splitlines() if " served " in line]


def test_a_command_on_the_daemon_prints_and_writes_what_it_does_without_it(
        daemon: tuple[dict[str, str], Path], shared_data: Path, tmp_path: Path) -> None:
    env, folder = daemon
    before = len(served(folder))
    warm = run(env, "plan", "--area", "south-la", "--offline", "--data-dir", str(shared_data), "--out", "warm",
               "--json", cwd=tmp_path)
    cold = run({**env, "PASSAGES_NO_DAEMON": "1"}, "plan", "--area", "south-la", "--offline", "--data-dir",
               str(shared_data), "--out", "cold", "--json", cwd=tmp_path)
    assert warm.returncode == cold.returncode == 0, warm.stderr + cold.stderr
    assert len(served(folder)) == before + 1 and "'plan'" in served(folder)[-1]
    ours, theirs = json.loads(warm.stdout)["plans"][0], json.loads(cold.stdout)["plans"][0]
    assert ours["summary"] == theirs["summary"]
    # written where the caller stands (its working folder), the same bytes
    written = [(tmp_path / side / "plan-summary.json").read_bytes() for side in ("warm", "cold")]
    assert written[0] == written[1]
    # the caller's environment reaches the command: a data folder given only through it
    listed = run({**env, "PASSAGES_DATA": str(tmp_path / "nowhere")}, "demo", cwd=tmp_path)
    assert listed.returncode == 2 and "nowhere" in listed.stderr


def test_bad_input_keeps_its_one_line_and_exit_status(daemon: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, folder = daemon
    before = len(served(folder))
    result = run(env, "plan", "--area", "nowhere", "--offline", cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "unknown area 'nowhere'" in result.stderr
    assert len(served(folder)) == before + 1


def test_ctrl_c_reaches_the_command_on_the_daemon(daemon: tuple[dict[str, str], Path], shared_data: Path,
                                                   tmp_path: Path) -> None:
    env, _ = daemon
    client = subprocess.Popen([sys.executable, "-m", "passages", "plan", "--area", "downtown", "--offline",
                               "--data-dir", str(shared_data), "--out", "out"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    client.send_signal(signal.SIGINT)
    _, err = client.communicate(timeout=120)
    assert client.returncode == 130, err
    assert "stopped by SIGINT" in err
    assert not (tmp_path / "out" / "plan.html").exists()  # nothing half-written


def test_a_command_of_other_code_is_not_run_on_the_daemon(daemon: tuple[dict[str, str], Path],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, folder = daemon
    monkeypatch.setenv("PASSAGES_DAEMON_DIR", str(folder))
    monkeypatch.delenv("PASSAGES_NO_DAEMON")
    monkeypatch.setattr(_launch, "code_digest", lambda: "another checkout")
    before = len(served(folder))
    assert _launch._via_daemon(["areas"]) is None  # refused: the caller runs it itself
    assert "runs other code" in capsys.readouterr().err
    assert len(served(folder)) == before


def test_a_socket_folder_others_may_enter_is_never_used(daemon: tuple[dict[str, str], Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    env, _ = daemon
    shared = tmp_path / "open"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    assert not _launch.private_dir(shared)
    refused = run({**env, "PASSAGES_DAEMON_DIR": str(shared)}, "daemon", "start", cwd=tmp_path)
    assert refused.returncode == 1 and "only it may enter" in refused.stdout
    assert not (shared / "daemon.sock").exists()
    monkeypatch.setenv("PASSAGES_DAEMON_DIR", str(shared))
    monkeypatch.delenv("PASSAGES_NO_DAEMON")
    assert _launch._via_daemon(["areas"]) is None

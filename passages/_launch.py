"""The ``passages`` command's entry point: through a warm daemon when one runs, else in process.

Importing the scientific stack (numpy, pandas, scipy, geopandas, networkx, folium) costs a
command about 1.3 s of CPU before it reads a byte of data. ``passages daemon start``
(:mod:`passages._daemon`) keeps one process with them imported; while it runs, this entry
point hands the command to it: its arguments, working folder, environment and the
terminal itself (standard input, output and error are passed as file descriptors over a
Unix socket), so the command runs in a fresh fork of the warm process and prints straight
to the caller's terminal. Ctrl-C and SIGTERM are passed on; the exit status comes back.

Only the Python standard library is imported here. Without a daemon, with
``PASSAGES_NO_DAEMON=1``, for ``passages serve`` and ``passages daemon``, or when the
daemon runs other code than this (another checkout, an edited module, another Python),
the command runs in this process as it always did.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import stat
import sys
from pathlib import Path

#: Commands never handed to the daemon: the service runs for hours with its own threads,
#: and the daemon's own commands must reach this process.
LOCAL_COMMANDS = frozenset({"serve", "daemon"})

#: Longest request accepted (bytes): the arguments and the environment.
MAX_REQUEST = 1 << 20

_PACKAGE = Path(__file__).resolve().parent


def socket_dir() -> Path:
    """Return the folder of the daemon's socket: private to this user.

    ``$PASSAGES_DAEMON_DIR`` when set, else ``$XDG_RUNTIME_DIR/passages``, else
    ``/tmp/passages-<uid>``.
    """
    chosen = os.environ.get("PASSAGES_DAEMON_DIR")
    if chosen:
        return Path(chosen)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "passages" if runtime else Path("/tmp") / f"passages-{os.getuid()}"


def socket_path() -> Path:
    """Return the daemon's socket path (:func:`socket_dir` / ``daemon.sock``)."""
    return socket_dir() / "daemon.sock"


def private_dir(folder: Path) -> bool:
    """Whether ``folder`` is a real folder owned by this user that nobody else may enter."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def code_digest() -> str:
    """Return a digest of the code a command would run: the Python, and every module's size and time.

    The daemon refuses a command whose caller computes another digest, so an edited
    module, another checkout or another Python never runs on a daemon's old code.
    """
    digest = hashlib.sha256(f"{sys.executable}|{sys.version}|{_PACKAGE}".encode())
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in (".py", ".json", ".csv", ".po", ".html", ".css", ".js") and "__pycache__" not in path.parts:
            info = path.stat()
            digest.update(f"|{path.relative_to(_PACKAGE)}|{info.st_size}|{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def _first_command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _via_daemon(argv: list[str]) -> int | None:
    """Run the command on the daemon; return its exit status, or ``None`` to run it here."""
    if os.environ.get("PASSAGES_NO_DAEMON") or _first_command(argv) in LOCAL_COMMANDS:
        return None
    path = socket_path()
    if not private_dir(path.parent) or not os.path.exists(path):
        return None
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except OSError:
        client.close()
        return None
    with client:
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                              "digest": code_digest()}).encode("utf-8")
        if len(request) > MAX_REQUEST:
            return None
        try:
            socket.send_fds(client, [len(request).to_bytes(8, "big") + request], [0, 1, 2])
            reader = client.makefile("rb")
            first = json.loads(reader.readline() or b"{}")
        except (OSError, ValueError):
            return None
        if "pid" not in first:  # refused (stale code): run here, and say why once
            print(f"passages: {first.get('refused', 'the daemon did not answer')}; running without it "
                  "(restart it: passages daemon stop && passages daemon start)", file=sys.stderr)
            return None
        worker = int(first["pid"])

        def forward(signum: int, _frame: object) -> None:
            with contextlib.suppress(OSError):
                os.kill(worker, signum)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)
        try:
            last = json.loads(reader.readline() or b"{}")
        except (OSError, ValueError):
            last = {}
        if "exit" not in last:
            print("passages: the daemon's worker ended without an exit status", file=sys.stderr)
            return 1
        return int(last["exit"])


def main() -> None:
    """Run ``passages`` with the command-line arguments: on the daemon if it runs, else here."""
    status = _via_daemon(sys.argv[1:])
    if status is not None:
        sys.exit(status)
    from passages.cli import app

    app()

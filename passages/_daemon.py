"""A warm process for the command line: the scientific stack imported once, a fork per command.

``passages daemon start`` starts it in the background; while it runs, every ``passages``
command but ``serve`` and ``daemon`` is handed to it by :mod:`passages._launch` and runs in
a fresh fork of it (about 0.02 s to start instead of about 1.3 s of imports), with the
caller's arguments, working folder, environment and terminal. Each command runs in its own
child process, so nothing of one command stays for the next: the daemon keeps the imported
code, never data (the processed-network and place caches on disk do that, as without it).

Safety
------
* The socket lives in a folder only this user may enter (:func:`passages._launch.socket_dir`,
  created 0700; a folder someone else owns or may enter is refused), and every connection's
  peer must be this user (``SO_PEERCRED``).
* Requests are JSON (never pickle), at most :data:`passages._launch.MAX_REQUEST` bytes.
* A request whose code digest (:func:`passages._launch.code_digest`) differs from the
  daemon's is refused, so an edited module or another checkout never runs on old code; the
  caller then runs the command itself.
* ``passages daemon stop`` ends it (SIGTERM); it also ends itself after
  :data:`IDLE_SECONDS` without a command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from passages._launch import MAX_REQUEST, code_digest, private_dir, socket_dir, socket_path

#: The daemon ends itself after this long without a command (seconds).
IDLE_SECONDS = 8 * 3600

#: Modules imported before the first fork: what the commands spend their start-up on.
#: ``passages.cli`` last: each command's process makes its consoles anew on the caller's
#: terminal (:func:`passages.cli.fresh_consoles`).
WARM_MODULES = (
    "numpy", "pandas", "geopandas", "shapely", "pyproj", "networkx", "scipy.sparse.csgraph", "scipy.spatial",
    "folium", "branca", "jinja2", "rich.console", "rich.table", "typer",
    "passages.plan", "passages.maps", "passages.export", "passages.coverage", "passages.footbeats",
    "passages.compare", "passages.community", "passages.briefing", "passages.evaluate", "passages.conditions",
    "passages.assess", "passages.cli",
)


def _pid_path() -> Path:
    return socket_dir() / "daemon.pid"


def warm() -> None:
    """Import :data:`WARM_MODULES` (a module that fails to import is left to the command to report)."""
    import importlib

    for name in WARM_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def serve(path: Path) -> None:
    """Accept commands on the socket at ``path`` until stopped or idle for :data:`IDLE_SECONDS`."""
    digest = code_digest()
    warm()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    old = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(16)
    listener.settimeout(60.0)
    _pid_path().write_text(str(os.getpid()), encoding="ascii")
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    last = time.monotonic()
    try:
        while not stop and time.monotonic() - last < IDLE_SECONDS:
            try:
                conn, _ = listener.accept()
            except (TimeoutError, InterruptedError):
                continue
            except OSError:
                if stop:
                    break
                raise
            last = time.monotonic()
            if os.fork() == 0:  # the child: one command, then exit
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                code = 1
                try:
                    code = _run_one(conn, digest)
                finally:
                    os._exit(code)
            conn.close()
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            _pid_path().unlink()


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _send(conn: socket.socket, message: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode("utf-8") + b"\n")


def _run_one(conn: socket.socket, digest: str) -> int:
    """Run one command in this (forked) process; return its exit status."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    if uid != os.getuid():
        _send(conn, {"refused": "the daemon serves its own user only"})
        return 1
    head, fds, _, _ = socket.recv_fds(conn, 8, 3)
    if len(head) != 8 or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return 1
    size = int.from_bytes(head, "big")
    if size > MAX_REQUEST:
        _send(conn, {"refused": "the request is too large"})
        return 1
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return 1
        data += chunk
    request = json.loads(data)
    if request.get("digest") != digest:
        _send(conn, {"refused": "the daemon runs other code than this command (an edited module, another "
                                "checkout or another Python)"})
        return 1
    # the daemon's log (its own stderr, before the caller's replaces it): the command's name only
    command = next((str(a) for a in request["argv"] if not str(a).startswith("-")), "--help")
    with contextlib.suppress(OSError, ValueError):
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} served {command[:40]!r} (pid {os.getpid()})",
              file=sys.stderr, flush=True)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = os.fdopen(0, "r", closefd=False)
    sys.stdout = os.fdopen(1, "w", closefd=False)
    sys.stderr = os.fdopen(2, "w", closefd=False)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in request["env"].items()})
    os.chdir(request["cwd"])
    _send(conn, {"pid": os.getpid()})
    code = _command(list(request["argv"]))
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    _send(conn, {"exit": code})
    return code


def _command(argv: list[str]) -> int:
    """Run the ``passages`` command line with ``argv``; return its exit status."""
    sys.argv = ["passages", *argv]
    try:
        from passages import cli

        cli.fresh_consoles()
        cli.app(args=argv, prog_name="passages")
    except SystemExit as stop:
        if stop.code is None:
            return 0
        return stop.code if isinstance(stop.code, int) else 1
    except KeyboardInterrupt:
        return 130
    return 0


def start(*, wait_s: float = 60.0) -> tuple[bool, str]:
    """Start the daemon in the background; return (started, message)."""
    folder = socket_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not private_dir(folder):
        return False, (f"{folder} is not a folder of this user's that only it may enter; "
                       "remove it or set PASSAGES_DAEMON_DIR to a private folder")
    if running():
        return True, f"already running ({socket_path()})"
    log = open(folder / "daemon.log", "ab")  # noqa: SIM115 (handed to the child)
    with log:
        subprocess.Popen([sys.executable, "-m", "passages._daemon", str(socket_path())],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                         cwd=folder, env={**os.environ, "PASSAGES_NO_DAEMON": "1"})
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if running():
            return True, f"started ({socket_path()})"
        time.sleep(0.1)
    return False, f"did not start within {wait_s:g} s: see {folder / 'daemon.log'}"


def running() -> bool:
    """Whether a daemon answers on :func:`passages._launch.socket_path`."""
    path = socket_path()
    if not private_dir(path.parent) or not path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def stop(*, wait_s: float = 10.0) -> tuple[bool, str]:
    """Stop the daemon (SIGTERM to the pid it wrote); return (stopped, message)."""
    if not running():
        return False, "not running"
    try:
        pid = int(_pid_path().read_text(encoding="ascii"))
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError) as exc:
        return False, f"could not stop it ({exc})"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and running():
        time.sleep(0.05)
    return (not running()), "stopped" if not running() else "still running"


if __name__ == "__main__":
    serve(Path(sys.argv[1]))

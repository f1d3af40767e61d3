"""Shared fixtures: where the real offline data lies, and skipping when it is absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Commands the tests start run in their own process, never on a warm daemon the developer may
# have running (tests/test_daemon.py starts its own and lifts this for it).
os.environ["PASSAGES_NO_DAEMON"] = "1"


def _shared_data() -> Path:
    env = os.environ.get("PASSAGES_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


SHARED_DATA = _shared_data()
HAVE_DATA = (SHARED_DATA / "SOURCES.md").is_file()
NO_DATA_REASON = (
    f"the real offline data is not at {SHARED_DATA} "
    "(set PASSAGES_DATA to the shared/data folder to run these tests)"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; skips the test when it is absent."""
    if not HAVE_DATA:
        pytest.skip(NO_DATA_REASON)
    return SHARED_DATA


SAMPLE_SLUGS = ("south-la", "south-central", "downtown")


@pytest.fixture(scope="session")
def network_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A processed-network cache folder shared by the whole test session."""
    return tmp_path_factory.mktemp("network-cache")


@pytest.fixture(scope="session")
def sample_graphs(shared_data: Path, network_cache: Path) -> dict[str, object]:
    """The walking graphs of the three sample areas, loaded once per session."""
    from passages.areas import load_areas
    from passages.network import load_network

    areas = load_areas()
    return {
        slug: load_network(areas[slug], areas[slug].source_paths("network", shared_data)[0], cache_dir=network_cache)
        for slug in SAMPLE_SLUGS
    }


@pytest.fixture(autouse=True, scope="session")
def _processed_dir_outside_the_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep caches tests write out of the repository's data/processed folder (session-wide,
    so module-scoped fixtures are covered too)."""
    import passages.settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passages.settings, "processed_dir", tmp_path_factory.mktemp("processed"))
        yield


@pytest.fixture(scope="session")
def sample_plans(shared_data: Path) -> dict[str, object]:
    """The default plans of the three sample areas, made once per session (treat as read-only)."""
    from passages.areas import load_areas
    from passages.plan import make_plan

    return {slug: make_plan(load_areas()[slug], data_dir=shared_data) for slug in SAMPLE_SLUGS}


def _postgres_binaries() -> Path | None:
    import glob
    import shutil

    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 for this test session; its SQLAlchemy URL.

    ``PASSAGES_TEST_POSTGRES`` (a URL) uses a server already running instead. Otherwise
    Debian's ``postgresql`` binaries start a fresh cluster in a temporary folder (as the
    ``postgres`` user when the tests run as root, which initdb refuses to be), stopped at
    the end. Skips, saying why, where no server can be had.
    """
    import shutil
    import socket
    import subprocess

    given = os.environ.get("PASSAGES_TEST_POSTGRES")
    if given:
        yield given
        return
    binaries = _postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql), and PASSAGES_TEST_POSTGRES is unset")
    import tempfile

    # a folder of its own under the system temporary folder: pytest's folders are private to
    # the test user, and the server runs as the postgres user
    folder = Path(tempfile.mkdtemp(prefix="passages-postgres-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as its own user")
        shutil.chown(folder, "postgres")
        os.chmod(folder, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = folder / "data"
    try:
        subprocess.run([*prefix, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l",
                        str(folder / "log"), "-o",
                        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder} "
                        "-c fsync=off -c full_page_writes=off", "start"], check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        output = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {exc} {output.decode(errors='replace')[-300:]}")
    try:
        subprocess.run([str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        "passages_test"], check=True, capture_output=True, timeout=60)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/passages_test"
    finally:
        subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def web_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A migrated, empty store of the planning service, on SQLite and on a real PostgreSQL."""
    import uuid

    from passages.web.store import Store

    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'passages.db'}")
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(request.getfixturevalue("postgres_url"))
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host=base.host, port=base.port, user=base.username, password=base.password,
                             dbname=base.database, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        store = Store(base.set(database=name).render_as_string(hide_password=False))
    store.migrate()
    yield store
    store.dispose()

"""Shared fixtures: where the real offline data lies, and skipping when it is absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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

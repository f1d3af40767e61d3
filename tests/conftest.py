"""Shared fixtures: where the real offline data lies, and skipping when it is absent."""

from __future__ import annotations

import os
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

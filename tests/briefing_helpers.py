"""Shared builders of the briefing tests: one scenario run on the real data, a hand-made street stub."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from passages.areas import load_areas
from passages.compare import ScenarioRun, run_scenarios
from passages.scenarios import read_scenarios


def scenario_run(shared_data: Path, folder: Path, slug: str, scenario_toml: str) -> ScenarioRun:
    """Run the one scenario of ``scenario_toml`` on ``slug``, its network cached under ``folder``."""
    (folder / "s.toml").write_text(scenario_toml)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("passages.settings.processed_dir", folder / "processed")
        (only,) = run_scenarios(load_areas()[slug], read_scenarios(folder / "s.toml"), data_dir=shared_data,
                                check_exact=False)
    return only


def hand_made_streets() -> Any:
    """A plan stub of four segments: 0 unnamed (nodes 0-1), 1 Main Street (1-2), 2 5th Street (0-3),
    3 Main Street (2-4); enough for :func:`passages.briefing.street_label`."""
    names = np.array(["", "Main Street", "5th Street", "Main Street"], dtype=object)
    u, v = np.array([0, 1, 0, 2]), np.array([1, 2, 3, 4])

    def node_segments(nodes: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(u, nodes) | np.isin(v, nodes))

    return cast(Any, SimpleNamespace(index=SimpleNamespace(segment_name=names, segment_u=u, segment_v=v,
                                                           node_segments=node_segments)))

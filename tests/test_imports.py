"""A command imports only what it needs: the heavy libraries load when a step needs them.

osmnx (with scikit-learn, scipy.stats and matplotlib behind it) costs about 2 s to import,
pandas with NumPy about 0.4 s; the command line must not pay for them to print its help,
and a plan whose street network is cached must not pay for osmnx at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "pandas", "geopandas", "shapely", "pyproj", "networkx", "osmnx", "sklearn",
         "matplotlib", "folium", "dask", "distributed", "scipy")

#: Runs the command line in-process (argv from the JSON argument), then prints the heavy
#: modules it loaded as JSON on the last line.
_RUN = """
import json, sys
from passages.cli import app
try:
    app(json.loads(sys.argv[1]))
except SystemExit as stop:
    if stop.code not in (0, None):
        raise
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
"""


def _loaded(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    code = _RUN.format(heavy=repr(HEAVY))
    result = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], cwd=cwd, capture_output=True,
                            text=True, timeout=600, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    assert _loaded(["--help"], tmp_path) == set()
    assert _loaded(["plan", "--help"], tmp_path) == set()


def test_a_plan_from_cached_inputs_never_imports_osmnx_or_matplotlib(shared_data: Path, tmp_path: Path) -> None:
    argv = ["plan", "--area", "south-la", "--offline", "--out", str(tmp_path / "maps")]
    env = {"PASSAGES_DATA": str(shared_data)}
    _loaded(argv, tmp_path, env)  # builds the network and places caches under tmp_path/data/processed
    assert (tmp_path / "data" / "processed" / "places").is_dir()
    loaded = _loaded(argv, tmp_path, env)
    assert {"geopandas", "networkx", "folium"} <= loaded  # the plan really ran
    assert not loaded & {"osmnx", "sklearn", "matplotlib", "dask", "distributed"}
    assert (tmp_path / "maps" / "plan.html").is_file()


@pytest.mark.parametrize("argv", [["areas"], ["areas", "--json"]])
def test_listing_areas_needs_no_data_frame_library(tmp_path: Path, argv: list[str]) -> None:
    assert not _loaded(argv, tmp_path) & {"pandas", "geopandas", "networkx", "osmnx", "matplotlib"}

"""Tests of the planner notebooks: stored without outputs, and every cell runs on the real data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="install the dev extra: pip install -e '.[dev]'")
nbclient = pytest.importorskip("nbclient", reason="install the dev extra: pip install -e '.[dev]'")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(path for path in NOTEBOOK_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in path.parts)
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 300


def _notebook_id(path: Path) -> str:
    return path.relative_to(NOTEBOOK_DIR).as_posix()


def test_notebooks_exist() -> None:
    assert NOTEBOOKS, f"no notebook under {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_notebook_id)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    dirty = [
        number
        for number, cell in enumerate(notebook.cells, start=1)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{_notebook_id(path)}: code cells {dirty} were saved with outputs or execution counts; "
        "clear them before committing (Jupyter: Edit > Clear Outputs of All Cells, or "
        "`jupyter nbconvert --clear-output --inplace`)"
    )


def test_kernel_is_this_python() -> None:
    # the notebooks must exercise the package under test, not whatever Python a stray
    # user-level kernelspec points at
    from jupyter_client import KernelManager

    command = KernelManager(kernel_name=KERNEL_NAME).format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve(), command


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_notebook_id)
def test_notebook_runs(path: Path, shared_data: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    # TMPDIR sends whatever the notebook writes with tempfile to this test's own folder
    env = {**os.environ, "PASSAGES_DATA": str(shared_data), "TMPDIR": str(tmp_path)}
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},
    )
    # CellExecutionError (raised on the first failing cell) carries the cell's traceback
    client.execute(env=env)

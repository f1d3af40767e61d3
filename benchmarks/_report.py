"""Shared plumbing of the benchmark scripts: the machine description and the results file."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ["PASSAGES_DATA"]) if os.environ.get("PASSAGES_DATA") else ROOT.parent / "shared" / "data"

LIBRARIES = ("numpy", "scipy", "shapely", "networkx", "osmnx", "geopandas", "pandas", "dask", "distributed")

HEADER = """# Benchmark results

Written by the scripts beside this file (`bench_plan.py`, `bench_scale.py`, each with
`--write`); every section says the command, the date and the machine it was measured on.
Speed is reported as ratios against a reference measured in the same run; no test asserts
a time.
"""


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, flags=re.MULTILINE)
    return found.group(1).strip() if found else platform.processor() or "unknown"


def machine_lines() -> list[str]:
    """Return markdown lines naming the date, the machine, Python and the library versions."""
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    try:
        date = subprocess.run(["date"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        date = datetime.now(UTC).isoformat()
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return [
        f"- date: {date}",
        f"- machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}{memory}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; " + ", ".join(versions),
    ]


def replace_section(path: Path, title: str, body: list[str]) -> None:
    """Replace (or add) the ``## title`` section of a markdown file, leaving the others as they are."""
    from passages._io import write_atomic

    text = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    block = f"## {title}\n\n" + "\n".join(body).rstrip() + "\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", flags=re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    write_atomic(path, text.encode("utf-8"))

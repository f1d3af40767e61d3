"""The terminal an officer reads: tables whole at 80 columns when piped, --json and --csv for
scripts, clean --help pages, and one line within seconds when Overpass cannot be reached."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import time
from pathlib import Path

import pytest
import typer
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from passages import settings
from passages._overpass import NO_CONNECTION
from passages._terminal import fit_table
from passages.areas import Area, load_areas
from passages.cli import app

runner = CliRunner()

# Box-drawing and the characters a table puts between words.
_BORDERS = re.compile(r"[\s│┃┆┇┊┋║─━┄┅┈┉═┏┓┗┛┣┫┳┻╋┡┩┢┪╇╈┠┨┯┷┿╂├┤┬┴┼┌┐└┘╭╮╯╰]+")


def tokens(text: str) -> set[str]:
    """Return the words of printed text, borders removed."""
    return {word for word in _BORDERS.split(text) if word}


def piped(args: list[str], width: int = 80) -> typer.testing.Result:
    """Run the command as if piped into ``cat`` with ``COLUMNS=width`` (CliRunner's output is no terminal)."""
    return runner.invoke(app, args, env={"COLUMNS": str(width)})


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("passages.settings.processed_dir", tmp_path / "processed")
    return tmp_path


# -- tables ---------------------------------------------------------------------------------


def test_areas_piped_at_80_columns_shows_every_slug_and_number_whole() -> None:
    result = piped(["areas"])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    words = tokens(result.stdout)
    for area in load_areas().values():
        assert area.slug in words, area.slug
        assert f"{area.lat:.4f}," in words and f"{area.lon:.4f}" in words
        assert f"{area.radius_m:,.0f}" in words
    assert "…" not in result.stdout


def test_areas_json_is_one_document_and_csv_cells_never_start_a_formula(monkeypatch: pytest.MonkeyPatch) -> None:
    result = piped(["areas", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [a["slug"] for a in document["areas"]] == list(load_areas())
    assert {"lat", "lon", "radius_m", "local_network"} <= set(document["areas"][0])

    hostile = Area("own-site", "=HYPERLINK(\"http://x\")", "custom", 34.0, -118.2, 500.0)
    monkeypatch.setattr("passages.areas.load_areas", lambda path=None: {"own-site": hostile})
    result = piped(["areas", "--csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["slug"] == "own-site" and rows[0]["name"].startswith("'=")
    assert piped(["areas", "--csv", "--json"]).exit_code == 2


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_a_wide_table_keeps_every_word_whole_at_any_width(width: int) -> None:
    table = Table(title="Coverage scenarios", title_justify="left")
    headers = ("scenario", "mode", "officers", "windows", "demand watched", "exposure watched", "km watched",
               "officer-h", "hot watched", "visits/h hot", "posts gap")
    for header in headers:
        table.add_column(header, no_wrap=header == "scenario")
    rows = [("footbeats-4-morning", "footbeats", "4", "07:00-08:30 14:00-16:00", "45%", "92%", "3.7 / 10.5", "6",
             "2 of 3", "0.89", "100.00%"),
            ("posts-2", "posts", "2", "07:00-08:30", "17%", "67%", "0.9 / 10.5", "3", "1 of 3", "1.67", "0.00%")]
    for row in rows:
        table.add_row(*row)
    console = Console(file=io.StringIO(), width=width, markup=False, highlight=False, color_system=None)
    console.print(fit_table(console, table, width=width), width=width)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert max(len(line) for line in text.splitlines()) <= width
    words = tokens(text)
    for row in rows:
        for cell in row:
            for word in cell.split():
                assert word in words, (word, width)
    assert "…" not in text


def test_compare_piped_at_80_columns_shows_every_number_of_its_json(shared_data: Path, tmp_path: Path) -> None:
    scenarios = tmp_path / "two.toml"
    scenarios.write_text('[scenarios.posts-2-morning]\nofficers = 2\nmode = "posts"\n'
                         '[scenarios.footbeats-4-morning]\nofficers = 4\nmode = "footbeats"\n')
    args = ["compare", str(scenarios), "--area", "downtown", "--offline", "--data-dir", str(shared_data),
            "--out", str(tmp_path / "out"), "--no-tiles"]
    result = piped(args)
    assert result.exit_code == 0, result.output
    table_lines = [line for line in result.stdout.splitlines() if not line.startswith(("table ", "chart ", "maps "))]
    assert max(len(line) for line in table_lines) <= 80  # the paths below are printed whole, for copying
    as_json = piped([*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)  # nothing else on stdout
    assert document["area"] == "downtown" and set(document["written"]) >= {"table", "chart", "maps"}
    words = tokens(result.stdout)
    for row in document["scenarios"]:
        expected = [row["scenario"], row["mode"], str(row["officers"]), f"{row['demand_share']:.0%}",
                    f"{row['exposure_share']:.0%}", f"{row['watched_km']:.1f}", f"{row['passage_km']:.1f}",
                    f"{row['officer_hours']:g}", str(row["hot_watched"]), str(row["hot_segments"])]
        if row["dosage_per_hot"] is not None:
            expected.append(f"{row['dosage_per_hot']:.2f}")
        if row["posts_gap"] is not None:
            expected.append(f"{row['posts_gap']:.2%}")
        for value in expected:
            assert value in words, (value, result.stdout)
    as_csv = piped([*args, "--csv"])
    assert as_csv.exit_code == 0, as_csv.output
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["scenario"] for r in table] == ["posts-2-morning", "footbeats-4-morning"]


# -- help -----------------------------------------------------------------------------------


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        paths += _command_paths(sub, (*path, name))
    return paths


def test_every_help_page_names_values_without_type_markers() -> None:
    paths = _command_paths(typer.main.get_command(app))
    assert ("compare",) in paths and ("users", "add") in paths
    for path in paths:
        result = piped([*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert not re.search(r"<[^<>\s]*>", result.stdout), (path, result.stdout)
        assert not re.search(r"\{\w+\}", result.stdout), (path, result.stdout)
    compare = piped(["compare", "--help"]).stdout
    assert "compare [OPTIONS] FILE" in compare
    assert "--json" in compare and "--csv" in compare and "SLUG" in compare


def test_json_help_keeps_its_square_brackets() -> None:
    """Typer reads option help as Rich markup: "[one object per ...]" must be shown, not swallowed."""
    for command, words in (("backtest", '"measures": [one object per method'),
                           ("compare", '"scenarios": [one object per scenario')):
        text = " ".join(piped([command, "--help"]).stdout.replace("│", " ").split())
        assert words in text, (command, text)


# -- no connection --------------------------------------------------------------------------


def test_the_configured_timeouts_stop_a_run_without_connection_well_within_20_s() -> None:
    # a try: /status, then the query (each gives up after the connect timeout); a pause;
    # /status once more; and osmnx's DNS-over-HTTPS lookup is switched off meanwhile
    worst_s = 3 * settings.overpass_connect_timeout_s + settings.overpass_reconnect_pause_s
    assert worst_s < 20
    assert settings.overpass_connect_timeout_s < settings.overpass_timeout_s


def test_plan_without_connection_says_so_in_one_line_and_exits_2(shared_data: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(settings, "overpass_url", f"http://127.0.0.1:{port}/api")
    monkeypatch.setattr(settings, "raw_dir", tmp_path / "raw")
    started = time.monotonic()
    result = piped(["plan", "--area", "jordan-downs", "--data-dir", str(shared_data), "--out", str(tmp_path / "o")])
    seconds = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"error: {NO_CONNECTION}"]
    assert result.stdout == ""
    assert seconds < 20  # a generous bound on the configuration, not a benchmark
    assert not (tmp_path / "o").exists()

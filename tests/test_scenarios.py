"""Scenario files: parameters, defaults, and clear errors naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passages import settings
from passages._errors import InputError
from passages.scenarios import CoverageParameters, PlanParameters, lap_minutes, read_scenarios

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_settings() -> None:
    params = PlanParameters()
    assert params.risk_lambda == settings.risk_lambda
    assert params.windows == settings.windows
    assert params.radius_m is None


def test_named_scenarios_inherit_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, """
[defaults]
risk_lambda = 3
max_detour = 0.2

[scenarios.morning]
windows = ["07:00-08:30"]

[scenarios.afternoon]
windows = ["14:00-16:00"]
risk_lambda = 1.5
""")
    morning, afternoon = read_scenarios(path)
    assert (morning.name, afternoon.name) == ("morning", "afternoon")
    assert morning.params.risk_lambda == 3.0 and afternoon.params.risk_lambda == 1.5
    assert morning.params.max_detour == afternoon.params.max_detour == 0.2
    assert morning.params.windows == ("07:00-08:30",)


def test_a_flat_file_is_one_scenario_named_after_it(tmp_path: Path) -> None:
    (only,) = read_scenarios(write(tmp_path, "bandwidth_m = 300\n", "wide.toml"))
    assert only.name == "wide" and only.params.bandwidth_m == 300.0


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("risk_lamda = 2\n", "risk_lamda"),
        ("[scenarios.a]\nofficer = 2\n", "officer"),
        ("radius_m = -5\n", "radius_m"),
        ("bandwidth_m = 0\n", "bandwidth_m"),
        ('windows = ["08:30-07:00"]\n', "windows"),
        ('windows = ["7 to 8"]\n', "windows"),
        ("weekdays = [7]\n", "weekdays"),
        ('categories = ["arson"]\n', "categories"),
        ('risk_lambda = "high"\n', "risk_lambda"),
        ("hot_share = 1.5\n", "hot_share"),
        ("[extra]\nx = 1\n", "extra"),
        ("officers = 0\n", "officers"),
        ("[scenarios.a]\nofficers = 0\n", "officers"),
        ("officers = 2.5\n", "officers"),
        ("officers = true\n", "officers"),
        ('mode = "patrol"\n', "mode"),
        ("mode = 3\n", "mode"),
        ("cover_radius_m = -150\n", "cover_radius_m"),
        ("cover_radius_m = 0\n", "cover_radius_m"),
        ("walk_kmh = 0\n", "walk_kmh"),
        ("stop_minutes = -1\n", "stop_minutes"),
        ("stops_per_loop = 0\n", "stops_per_loop"),
        ("laps = 0\n", "laps"),
        ('[scenarios.a]\nofficers = 2\nwindows = ["16:00-14:00"]\n', "windows"),
        # a 30 min window walked twice leaves 15 min laps: no room for two 12 min stops
        ('mode = "footbeats"\nwindows = ["07:00-07:30"]\n', "stop_minutes"),
    ],
)
def test_bad_keys_and_values_name_the_key_and_the_file(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        read_scenarios(path)
    message = str(info.value)
    assert str(path) in message and repr(field) in message


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_scenarios(tmp_path / "none.toml")
    with pytest.raises(InputError, match="not valid TOML"):
        read_scenarios(write(tmp_path, "risk_lambda = = 2"))


@given(start=st.integers(0, 24 * 60 - 1), length=st.integers(-120, 300))
def test_windows_must_end_after_they_start(start: int, length: int) -> None:
    end = start + length

    def clock(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    window = f"{clock(start)}-{clock(end)}"
    if length > 0 and end <= 24 * 60:
        assert PlanParameters.from_mapping({"windows": [window]}).windows == (window,)
    else:
        with pytest.raises(InputError, match="windows"):
            PlanParameters.from_mapping({"windows": [window]})


def test_shipped_example_scenarios_are_valid() -> None:
    files = sorted((REPO / "scenarios").glob("*.toml"))
    assert files, "the repository ships example scenario files"
    for path in files:
        assert read_scenarios(path)


def test_coverage_keys_sit_beside_the_plan_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """
[defaults]
officers = 3
cover_radius_m = 200
windows = ["07:00-08:30"]

[scenarios.posts]
mode = "posts"

[scenarios.walks]
mode = "footbeats"
stop_minutes = 15
risk_lambda = 4
""")
    posts, walks = read_scenarios(path)
    assert posts.coverage == CoverageParameters(officers=3, mode="posts", cover_radius_m=200.0)
    assert walks.coverage.stop_minutes == 15.0 and walks.coverage.mode == "footbeats"
    assert walks.params.risk_lambda == 4.0 and posts.params.windows == walks.params.windows == ("07:00-08:30",)
    # coverage keys are not plan keys: scenarios differing only in them share plan parameters
    assert read_scenarios(write(tmp_path, "officers = 4\n", "a.toml"))[0].params == PlanParameters()


def test_coverage_defaults_come_from_settings() -> None:
    params = CoverageParameters()
    assert (params.officers, params.mode, params.cover_radius_m) == (
        settings.officers, settings.coverage_mode, settings.cover_radius_m)
    assert (params.walk_kmh, params.stop_minutes, params.stops_per_loop, params.laps) == (
        settings.walk_kmh, settings.stop_minutes, settings.stops_per_loop, settings.laps)


@given(officers=st.integers(-3, 12))
def test_officers_must_be_at_least_one(officers: int) -> None:
    if officers >= 1:
        CoverageParameters(officers=officers).check()
    else:
        with pytest.raises(InputError, match="officers"):
            CoverageParameters(officers=officers).check()


@given(first=st.integers(20, 300), second=st.integers(20, 300), laps=st.integers(1, 4))
def test_a_lap_fits_the_shortest_window_laps_times_and_two_hours_at_most(first: int, second: int, laps: int) -> None:
    windows = (f"06:00-{6 + first // 60:02d}:{first % 60:02d}", f"12:00-{12 + second // 60:02d}:{second % 60:02d}")
    lap = lap_minutes(windows, laps=laps)
    assert lap == min(min(first, second) / laps, settings.max_lap_minutes)

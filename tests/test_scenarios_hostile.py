"""Hostile scenario files: non-finite and absurd numbers, unsafe names, files that are not TOML."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passages._errors import InputError
from passages.scenarios import LIMITS, MAX_WINDOWS, CoverageParameters, PlanParameters, Scenario, read_scenarios

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, *texts: str) -> InputError:
    with pytest.raises(InputError) as caught:
        read_scenarios(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message, message
    for text in texts:
        assert text in message, message
    return caught.value


@pytest.mark.parametrize(
    ("line", "field"),
    [("risk_lambda = nan", "risk_lambda"), ("risk_lambda = inf", "risk_lambda"), ("risk_lambda = -inf", "risk_lambda"),
     ("risk_lambda = 1e308", "risk_lambda"), ("max_detour = 1e308", "max_detour"), ("max_detour = -0.1", "max_detour"),
     ("snap_m = 1e9", "snap_m"), ("snap_m = nan", "snap_m"), ("place_snap_m = 1e12", "place_snap_m"),
     ("bandwidth_m = 1e300", "bandwidth_m"), ("bandwidth_m = -250", "bandwidth_m"), ("radius_m = 1e6", "radius_m"),
     ("radius_m = 50", "radius_m"), ("radius_m = nan", "radius_m"), ("link_radius_m = 1e9", "link_radius_m"),
     ("links_per_kind = 1000000", "links_per_kind"), ("links_per_kind = -1", "links_per_kind"),
     ("half_life_days = 0", "half_life_days"), ("half_life_days = nan", "half_life_days"),
     ("half_life_days = 0.0001", "half_life_days"), ("lookback_days = inf", "lookback_days"),
     ("hot_share = nan", "hot_share"), ("officers = 10000", "officers"), ("officers = 51", "officers"),
     ("officers = 99999999999999999", "officers"), ("stops_per_loop = 1000", "stops_per_loop"),
     ("laps = 1000", "laps"), ("cover_radius_m = 1e308", "cover_radius_m"), ("cover_radius_m = nan", "cover_radius_m"),
     ("walk_kmh = inf", "walk_kmh"), ("walk_kmh = 500", "walk_kmh"), ("stop_minutes = nan", "stop_minutes"),
     ("stop_minutes = 1e9", "stop_minutes"), ("risk_lambda = 9223372036854775807", "risk_lambda"),
     ("weekdays = [0, 0, 0, 0, 0, 0, 0, 0]", "weekdays"),
     ("windows = [" + ", ".join(['"07:00-08:00"'] * (MAX_WINDOWS + 1)) + "]", "windows"),
     (f'windows = ["{"7" * 5000}"]', "windows"), (f'categories = ["{"x" * 5000}"]', "categories"),
     ("windows = []", "windows"), ("categories = [1]", "categories")],
)
def test_every_number_is_finite_and_in_range(tmp_path: Path, line: str, field: str) -> None:
    for text in (line + "\n", f"[scenarios.a]\n{line}\n"):
        error = refused(write(tmp_path, text), f"field {field!r}")
        assert len(str(error)) < 700


def test_limits_are_stated_for_every_number() -> None:
    numeric = {name for name, value in {**PlanParameters().as_dict(), **CoverageParameters().as_dict()}.items()
               if isinstance(value, int | float) and not isinstance(value, bool)} | {"radius_m", "lookback_days"}
    assert numeric <= set(LIMITS)
    assert LIMITS["officers"][:2] == (1, 50) and LIMITS["radius_m"][:2] == (100.0, 5000.0)
    for name, (low, high, _unit) in LIMITS.items():
        assert low <= high and math.isfinite(high), name


def test_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    (edge,) = read_scenarios(write(tmp_path, 'officers = 50\nrisk_lambda = 100\nradius_m = 5000\nmode = "posts"\n'))
    assert edge.coverage.officers == 50 and edge.params.radius_m == 5000.0


@pytest.mark.parametrize("name", ['"../../x/evil"', '"/etc/passwd"', '"a b"', '".hidden"', '"-rf"', '""',
                                  '"' + "x" * 1000 + '"', '"caf\u00e9"'])
def test_scenario_names_must_be_slugs(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f"[scenarios.{name}]\nofficers = 2\n")
    refused(path, "field 'scenario name'", "cannot be used in a file name")


def test_a_flat_file_name_must_be_a_slug(tmp_path: Path) -> None:
    refused(write(tmp_path, "officers = 2\n", "my scenario.toml"), "scenario name")


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02", b"PK\x03\x04zip", b"%PDF-1.4", b"\xff\xfe\x00a",
                                     b"risk_lambda = = 2", b"[scenarios\n", b"a = [" * 5000, b"\xe9t\xe9 = 1",
                                     b"defaults = 3", b"scenarios = 3", b"[defaults]\n[defaults.x]\ny = 1\n"])
def test_files_that_are_not_scenarios(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(content)
    refused(path)


def test_folder_and_device(tmp_path: Path) -> None:
    refused(tmp_path, "is a folder")
    with pytest.raises(InputError, match="not a regular file"):
        read_scenarios("/dev/zero")


def test_direct_parameters_are_checked_too() -> None:
    with pytest.raises(InputError, match="risk_lambda"):
        PlanParameters(risk_lambda=math.nan).check()
    with pytest.raises(InputError, match="officers"):
        CoverageParameters(officers=10_000).check()
    with pytest.raises(InputError, match="officers"):
        CoverageParameters(officers=2.5).check()  # type: ignore[arg-type]
    with pytest.raises(InputError, match="walk_kmh"):
        CoverageParameters(walk_kmh=math.inf).check()


def test_shipped_scenarios_still_read() -> None:
    for path in sorted((REPO / "scenarios").glob("*.toml")):
        assert read_scenarios(path)


toml_values = st.one_of(
    st.integers(-10**20, 10**20).map(str), st.floats().map(lambda f: repr(f) if math.isfinite(f) else str(f)),
    st.sampled_from(["nan", "inf", "-inf", "true", '"posts"', '"footbeats"', '["07:00-08:30"]', '["25:99-26:00"]',
                     "[0, 1, 7]", '["violent"]', "{}", "[]", '"abc"', "1e308", "0", "-1"]),
    st.text(max_size=10).map(lambda t: '"' + t.replace("\\", "").replace('"', "") + '"'),
)
keys = st.sampled_from([*LIMITS, "windows", "weekdays", "categories", "mode", "unknown"])
names = st.sampled_from(["a", "b-2", '"../x"', '"a b"', "defaults", '"x/y"'])


@st.composite
def toml_texts(draw: st.DrawFn) -> str:
    lines = [f"{draw(keys)} = {draw(toml_values)}" for _ in range(draw(st.integers(0, 3)))]
    for _ in range(draw(st.integers(0, 2))):
        lines.append(f"[scenarios.{draw(names)}]")
        lines.extend(f"{draw(keys)} = {draw(toml_values)}" for _ in range(draw(st.integers(0, 3))))
    return "\n".join(lines) + "\n"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=toml_texts(), raw=st.binary(max_size=100), use_raw=st.booleans())
def test_fuzzed_scenario_files_give_scenarios_or_one_input_error(tmp_path: Path, text: str, raw: bytes,
                                                                 use_raw: bool) -> None:
    path = tmp_path / "fuzz.toml"
    if use_raw:
        path.write_bytes(raw)
    else:
        path.write_text(text, encoding="utf-8")
    try:
        scenarios = read_scenarios(path)
    except InputError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    for scenario in scenarios:
        assert isinstance(scenario, Scenario)
        values: dict[str, Any] = {**scenario.params.as_dict(), **scenario.coverage.as_dict()}
        for key, (low, high, _unit) in LIMITS.items():
            if values.get(key) is not None:
                assert low <= values[key] <= high, key

"""Briefing sheets in Spanish: every word of the page translated, walking names re-rendered, --lang checked."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from briefing_helpers import hand_made_streets
from matplotlib.text import Text
from test_i18n import _english_left
from typer.testing import CliRunner

from passages.briefing import assignments, briefing_page, street_label, write_officer_pack
from passages.compare import ScenarioRun
from passages.coverage import Coverage, CoverageModel, cover
from passages.i18n import catalogue
from passages.plan import Plan
from passages.scenarios import CoverageParameters, read_scenarios
from passages.street_names import (
    ACROSS,
    ACROSS_AT,
    FAR_CORNER,
    KIND_WORDS,
    NEAR,
    OFF,
    UNNAMED_CORNER,
    UNNAMED_WAY,
    abbreviate,
    localise,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def downtown(sample_plans: dict[str, Plan]) -> tuple[Plan, Coverage, CoverageModel]:
    """Two posts and two footbeat loops on the downtown sample plan (real data)."""
    plan = sample_plans["downtown"]
    params = CoverageParameters(officers=4, mode="both")
    model = CoverageModel(plan, radius_m=params.cover_radius_m)
    return plan, cover(plan, params, model=model), model


def _names_from_data(plan: Plan) -> set[str]:
    """The names the page takes from the data: places, the area, and streets as OSM names them.

    Only the streets' own names (OSM names, sidewalks by their street), long and short,
    and the parts of names joined by " / "; the phrases made of them ("across X at Y")
    are words of the page, not data, and must be translated.
    """
    index = plan.index
    names = {str(n) for n in plan.places["name"]} | {plan.area.name}
    own = np.isin(index.segment_name_source, ["osm", "beside"])
    streets = {str(n) for n in index.segment_name[own]} | {str(n) for n in index.segment_osm_name if n}
    for street in list(streets):
        for part in street.split(" / "):
            names |= {part, abbreviate(part)}
    return names | streets | {abbreviate(s) for s in streets}


def _page_texts(plan: Plan, coverage: Coverage, model: CoverageModel, lang: str) -> list[str]:
    """Every text of every page (every matplotlib Text: titles, lists, map labels, footer), lines joined."""
    texts: list[str] = []
    for duty in assignments(coverage):
        fig = briefing_page(plan, coverage, model, duty, lang=lang)
        texts.extend(" ".join(t.get_text().split()) for t in fig.findobj(Text))  # as read: lines unwrapped
        plt.close(fig)
    return texts


def test_the_spanish_briefing_holds_no_english_message(downtown: tuple[Plan, Coverage, CoverageModel]) -> None:
    plan, coverage, model = downtown
    assert {d.kind for d in assignments(coverage)} == {"post", "footbeat"}
    data = _names_from_data(plan)
    spanish = _page_texts(plan, coverage, model, "es")
    joined = "\n".join(spanish)
    for word in ("Agente", "Ronda a pie", "Puesto en", "Recorrido de una vuelta", "Paradas (llegada-salida)",
                 "en su servicio", "caliente", "horario escolar no registrado", "colaboradores de OpenStreetMap"):
        assert word in joined, word
    assert _english_left(spanish, data) == []
    # the scan finds the English of the same pages, the walking names' phrases among them
    english = _page_texts(plan, coverage, model, "en")
    left = _english_left(english, data)
    assert {"Officer {officer}", "on your duty", "hot", "Stops (arrive-leave):"} <= set(left)
    made = {ACROSS, ACROSS_AT, OFF, FAR_CORNER, NEAR, *KIND_WORDS.values()}
    assert made & set(left), "the English pages hold walking names made by street_names"


def test_localise_gives_each_phrase_in_spanish_and_keeps_the_street_names() -> None:
    spanish = catalogue("es")
    made = {
        ACROSS_AT.format(street="S Main St", cross="E 5th St"): "cruce de S Main St en E 5th St",
        ACROSS.format(street="S Main St / Broadway"): "cruce de S Main St / Broadway",
        OFF.format(what=KIND_WORDS["service"], street="W 6th St"): "callejón junto a W 6th St",
        OFF.format(what=KIND_WORDS["steps"], street="Angels Flight"): "escaleras junto a Angels Flight",
        OFF.format(what=UNNAMED_WAY, street="S Hill St"): "camino sin nombre junto a S Hill St",
        FAR_CORNER.format(street="E 118th St", metres="90", other="Wilmington Ave"):
            "E 118th St, a 90 m de Wilmington Ave",
        NEAR.format(street="S Main St"): "cerca de S Main St",
        UNNAMED_WAY: "camino sin nombre",
        UNNAMED_CORNER: "esquina sin nombre",
        KIND_WORDS["footway"]: "sendero",
    }
    assert "across S Main St at E 5th St" in made and "alley off W 6th St" in made  # as StreetIndex stores them
    for label, expected in made.items():
        assert localise(label, "es") == expected
        assert localise(label, "en") == localise(label, None) == label
    for kind in KIND_WORDS.values():
        assert localise(kind, "es") == spanish[kind] != kind
        assert localise(OFF.format(what=kind, street="Main St"), "es") == f"{spanish[kind]} junto a Main St"
    # names from OpenStreetMap stay as they are, even where they hold words of the phrases
    for name in ("S Main St", "Avenue of the Stars", "Park Off Broadway", "Near North Ave", "Steps Alley",
                 "E 5th St & S Main St", "Across the River Trail", "footpath to the school", "", "7th St / Metro"):
        assert localise(name, "es") == name


def test_a_segment_label_reads_in_spanish() -> None:
    plan = hand_made_streets()
    assert street_label(plan, 0) == "unnamed way, 5th Street to Main Street"
    assert street_label(plan, 0, lang="es") == "camino sin nombre, de 5th Street a Main Street"
    assert street_label(plan, 1, lang="es") == "Main Street"
    plan.index.segment_name[0] = "alley off Main Street"
    assert street_label(plan, 0, lang="es") == "callejón junto a Main Street en 5th Street"


def test_the_officer_pack_in_spanish(downtown: tuple[Plan, Coverage, CoverageModel], tmp_path: Path) -> None:
    plan, coverage, model = downtown
    (scenario,) = [s for s in read_scenarios(ROOT / "scenarios" / "officer-coverage.toml")
                   if s.name == "both-4-afternoon"]
    written = write_officer_pack(ScenarioRun(scenario, plan, coverage, model), tmp_path / "pack", lang="es")
    page = written["map"].read_text(encoding="utf-8")
    assert '<html lang="es">' in page and "Calles por riesgo" in page
    pdf = written["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf
    assert len([k for k in written if k.endswith(".png")]) == len(assignments(coverage))


def test_brief_in_an_unknown_language_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from passages.cli import app

    result = CliRunner().invoke(app, ["brief", str(ROOT / "scenarios" / "officer-coverage.toml"), "--area",
                                      "downtown", "--offline", "--lang", "fr", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "language 'fr' is not offered" in lines[0] and "en, es" in lines[0]
    assert not (tmp_path / "out").exists()

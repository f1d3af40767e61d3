"""Languages: every marked message is in the catalogues, and Spanish outputs hold no English message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from matplotlib.text import Text

import passages
from passages._errors import InputError
from passages.community import community_content, community_flyer, flyer_bytes
from passages.i18n import LANGUAGES, catalogue, check_lang, english_messages, translator
from passages.plan import Plan

PACKAGE = Path(passages.__file__).resolve().parent


def _marked_messages() -> set[str]:
    """Every string the code marks with _("..."), read from the source as pybabel does."""
    found = extract_from_dir(str(PACKAGE), method_map=[("**.py", "python")], keywords={"_": None, "N_": None})
    return {message for _file, _line, message, _comments, _context in found if isinstance(message, str)}


def test_every_marked_message_is_in_the_template_and_translated() -> None:
    marked = _marked_messages()
    assert marked, "no message is marked for translation"
    template = english_messages()
    assert marked <= template, f"run pybabel extract (passages/locale/README.md): missing {sorted(marked - template)}"
    spanish = catalogue("es")
    untranslated = sorted(m for m in template if not spanish.get(m))
    assert not untranslated, f"no Spanish for {untranslated}"


def test_translator_and_language_check() -> None:
    assert translator("es")("Safe Passages") == "Pasajes Seguros"
    assert translator("en")("Safe Passages") == "Safe Passages"
    assert translator(None)("Park") == "Park"
    assert check_lang(" ES ") == "es"
    with pytest.raises(InputError, match="language 'fr' is not offered"):
        check_lang("fr")
    # a message without translation reads as written, never as nothing
    assert translator("es")("a message nobody marked") == "a message nobody marked"


def _english_left(texts: list[str], data: set[str]) -> list[str]:
    """The English messages (those Spanish changes) found in ``texts`` once the data's own names are taken out.

    Place and street names come from the data ("Grand Hope Park") and stay as they are
    in every language, so they are removed before the scan; a message with a number in it
    ("and {n} more") is looked for as its words around the number.
    """
    spanish = catalogue("es")
    english = [m for m in english_messages() if spanish.get(m, m) != m]
    cleaned = []
    for text in texts:
        for name in sorted(data, key=len, reverse=True):
            text = text.replace(name, " ")
        cleaned.append(text)
    joined = "\n".join(cleaned)
    left = []
    for message in english:
        parts = [re.escape(part.strip()) for part in re.split(r"\{[^}]*\}", message) if part.strip()]
        # words, not pieces of identifiers: "pp-officer" (a CSS class) is not the word "officer"
        pattern = r"(?<![\w\-.#])" + r"\s*\S*\s*".join(parts) + r"(?![\w\-])"
        # a value at the message's edge is there too, and is no code: "near S Main St", not "var near = 1"
        if message.startswith("{"):
            pattern = _FILLED + r"\s*" + pattern
        if message.endswith("}"):
            pattern += r"\s*" + _FILLED
        if parts and re.search(pattern, joined):
            left.append(message)
    return sorted(left)


#: A value in a message ("{street}"): some text that is not a piece of code.
_FILLED = r"[^\s=;:{}()\[\]<>\"'+*/|&]+"


def _data_names(plan: Plan) -> set[str]:
    names = {str(n) for n in plan.places["name"]} | {plan.area.name}
    names |= {street for street, _metres in community_content(plan, lang="en").streets}
    return names


@pytest.mark.parametrize("slug", ["south-la", "downtown"])
def test_the_spanish_flyer_holds_no_english_message(sample_plans: dict[str, Plan], slug: str) -> None:
    plan = sample_plans[slug]
    fig = community_flyer(plan, lang="es")
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert "Pasajes Seguros" in texts
    assert _english_left(texts, _data_names(plan)) == []
    # the scan finds English where there is some
    assert "Safe Passages" in _english_left([t.get_text() for t in community_flyer(plan, lang="en").findobj(Text)],
                                            _data_names(plan))
    english = [t.get_text() for t in community_flyer(plan, lang="en").findobj(Text)]
    assert "Safe Passages" in english


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_flyer_shows_streets_and_places_and_nothing_of_officers_or_risk(sample_plans: dict[str, Plan],
                                                                         lang: str) -> None:
    plan = sample_plans["downtown"]
    content = community_content(plan, lang=lang)
    streets = [street for street, _metres in content.streets]
    assert streets and len(streets) == len(set(streets))
    # every street listed is a street the passages walk, by a real name (no "across", no "off")
    assert not [s for s in streets if s.startswith("across ") or " off " in s]
    served = set(plan.route_set.routes["dest_name"])
    assert {name for _kind, name in content.places} <= served
    texts = " ".join(t.get_text() for t in community_flyer(plan, lang=lang).findobj(Text)).lower()
    for word in ("officer", "post ", "footbeat", "risk", "hot ", "incident", "agente", "riesgo"):
        assert word not in texts
    pdf, png = flyer_bytes(community_flyer(plan, lang=lang))
    assert pdf.startswith(b"%PDF") and png.startswith(b"\x89PNG")
    assert b"CreationDate" not in pdf


def _page_text(page: bytes) -> str:
    """The map page less the Leaflet library inlined in it and the comments of its code (not our words)."""
    from passages._map_elements import inline_leaflet

    text = page.decode("utf-8").replace(inline_leaflet(), "")
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)  # comments of the page's CSS and JavaScript


def test_the_spanish_community_map_holds_no_english_message_and_nothing_of_officers(
        sample_plans: dict[str, Plan]) -> None:
    from passages.community import community_map_html
    from passages.web.publish import community_map_problems

    plan = sample_plans["downtown"]
    page = community_map_html(plan, lang="es")
    text = _page_text(page)
    assert '<html lang="es">' in text
    assert "Pasajes Seguros" in text and "Acercar" in text
    assert _english_left([text], _data_names(plan) | _street_names(plan)) == []
    assert community_map_problems(page.decode("utf-8")) == []
    english = _page_text(community_map_html(plan, lang="en"))
    assert "Safe Passages" in _english_left([english], _data_names(plan))


def test_the_spanish_officer_map_has_the_officers_words_in_spanish(sample_plans: dict[str, Plan]) -> None:
    from passages.maps import map_html, plan_map
    from passages.plan import map_layers

    plan = sample_plans["south-la"]
    segments, passages_, places = map_layers(plan)
    page = map_html(plan_map(area=plan.area, segments=segments, passages=passages_, places=places, lang="es"))
    text = _page_text(page)
    assert "Calles por riesgo" in text and "Riesgo por 100 m" in text
    assert _english_left([text], _data_names(plan) | _street_names(plan)) == []


def _street_names(plan: Plan) -> set[str]:
    """Every name of the plan's streets, as the maps show them (data, not words to translate)."""
    index = plan.index
    return {str(n) for n in index.segment_name if n} | {str(n) for n in index.segment_osm_name if n}


def test_the_community_check_catches_officer_layers_in_spanish(sample_plans: dict[str, Plan]) -> None:
    from passages.maps import map_html, plan_map
    from passages.plan import map_layers
    from passages.web.publish import community_map_problems

    plan = sample_plans["south-la"]
    segments, passages_, places = map_layers(plan)
    officer_map = map_html(plan_map(area=plan.area, segments=segments, passages=passages_, places=places, lang="es"))
    problems = community_map_problems(officer_map.decode("utf-8"))
    assert "layer or marker 'Calles por riesgo'" in problems


def test_passages_community_writes_both_languages_and_no_officer_layer(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from passages.cli import app
    from passages.web.publish import community_map_problems

    result = CliRunner().invoke(app, ["community", "--area", "south-la", "--offline", "--data-dir", str(shared_data),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert written == sorted(f"community-{lang}.{ext}" for lang in LANGUAGES for ext in ("html", "pdf", "png"))
    for lang in LANGUAGES:
        page = (tmp_path / "out" / f"community-{lang}.html").read_text(encoding="utf-8")
        assert f'<html lang="{lang}">' in page
        assert community_map_problems(page) == []
        assert (tmp_path / "out" / f"community-{lang}.pdf").read_bytes().startswith(b"%PDF")


def test_an_unknown_language_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from passages.cli import app

    result = CliRunner().invoke(app, ["plan", "--area", "south-la", "--offline", "--lang", "fr",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "language 'fr' is not offered" in result.output and "en, es" in result.output
    assert not (tmp_path / "out").exists()

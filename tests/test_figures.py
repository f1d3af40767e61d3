"""The PNG canvas that draws fixed-width text from cached glyphs reads as matplotlib's own."""

from __future__ import annotations

import io
import string
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from PIL import Image

from passages._figures import _canvas_class, literal_text, png_bytes

LINES = [
    "Route of one lap: S Los Angeles St (186 m) > across S Los Angeles St (19 m) > footpath off E 3rd St",
    "  on your duty  walked         18.94 hot  South Los Angeles Street at East 3rd Street",
    "Schools: Para Los Niños Middle (bell times not on file); Ednovate - Brio College Prep; café 'x' · © —",
    "", "-", "_", "  ", string.printable.strip(),
]


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)


def _page(text: str, **kwargs: Any) -> Figure:
    figure = Figure(figsize=(8.5, 11))
    figure.text(0.05, 0.95, text, va="top", **kwargs)
    return figure


@pytest.mark.parametrize("size", [6.5, 7.0, 8.2, 11.0])
def test_cached_glyphs_measure_lines_as_freetype_does(size: float) -> None:
    renderer = _canvas_class()(Figure()).get_renderer()
    prop = FontProperties(family="DejaVu Sans Mono", size=size)
    for line in LINES:
        if line:
            assert renderer.get_text_width_height_descent(line, prop, False) == pytest.approx(
                RendererAgg.get_text_width_height_descent(renderer, line, prop, False)), line


@pytest.mark.parametrize("style", [{"family": "DejaVu Sans Mono", "fontsize": 8.2}, {"fontsize": 9.5},
                                   {"fontsize": 15, "fontweight": "bold"}, {"fontsize": 7, "color": "#4d4d4d"}])
def test_a_page_of_text_reads_as_matplotlib_draws_it(style: dict[str, Any]) -> None:
    text = "\n".join(LINES * 3)
    with literal_text():
        figure = _page(text, **style)
        plain = io.BytesIO()
        figure.savefig(plain, format="png", dpi=110)
        ours = _pixels(png_bytes(figure, dpi=110))
    theirs = _pixels(plain.getvalue())
    assert ours.shape == theirs.shape
    ink_ours, ink_theirs = 255 - ours, 255 - theirs
    # line by line (between the blank rows of matplotlib's page): the same ink, from and to the same column
    inked = np.flatnonzero(ink_theirs.sum(axis=1) + ink_ours.sum(axis=1) > 0)
    lines = np.split(inked, np.flatnonzero(np.diff(inked) > 1) + 1)
    assert len(lines) == sum(1 for line in LINES * 3 if line.strip())
    for rows in lines:
        band_ours, band_theirs = ink_ours[rows].sum(axis=0), ink_theirs[rows].sum(axis=0)
        assert band_ours.sum() == pytest.approx(band_theirs.sum(), rel=0.01, abs=40)
        columns_ours, columns_theirs = np.flatnonzero(band_ours), np.flatnonzero(band_theirs)
        assert abs(columns_ours[0] - columns_theirs[0]) <= 1 and abs(columns_ours[-1] - columns_theirs[-1]) <= 1
        # the letters in the same places: the column profiles line up best where they are
        lags = range(-3, 4)
        overlap = [float(np.dot(np.roll(band_ours, lag), band_theirs)) for lag in lags]
        assert abs(lags[int(np.argmax(overlap))]) <= 1
        assert max(overlap) >= 0.8 * float(np.linalg.norm(band_ours) * np.linalg.norm(band_theirs))
        # and on the same rows
        rows_ours = np.flatnonzero(ink_ours[rows].sum(axis=1))
        rows_theirs = np.flatnonzero(ink_theirs[rows].sum(axis=1))
        assert abs(rows_ours[0] - rows_theirs[0]) <= 1 and abs(rows_ours[-1] - rows_theirs[-1]) <= 1


def test_text_the_cache_cannot_draw_goes_through_matplotlib() -> None:
    # right-to-left (joined) and combining letters, rotated text: drawn as matplotlib draws them
    mono = {"family": "DejaVu Sans Mono"}
    for text, kwargs in [("بيت Main St", mono), ("Cafe\u0301 Main St", mono), ("بيت Main St", {}),
                         ("200 m", {**mono, "rotation": 30}), ("200 m", {"rotation": 90})]:
        with literal_text():
            figure = _page(text, fontsize=9, **kwargs)
            plain = io.BytesIO()
            figure.savefig(plain, format="png", dpi=110)
            assert np.array_equal(_pixels(png_bytes(figure, dpi=110)), _pixels(plain.getvalue())), text


def test_the_figure_still_saves_to_pdf_after_a_png() -> None:
    with literal_text():
        figure = _page("a $5 name", family="DejaVu Sans Mono")
        assert png_bytes(figure, dpi=110, metadata={"Software": None}).startswith(b"\x89PNG")
        pdf = io.BytesIO()
        figure.savefig(pdf, format="pdf")
    assert pdf.getvalue().startswith(b"%PDF")

"""Figures drawn with text taken from users' files, shown as the letters it holds; fast PNG text.

:func:`literal_text` makes matplotlib print names as written. :func:`png_bytes` renders a
figure to PNG with an Agg canvas that draws text from bitmaps FreeType renders once per
process: the lines of a fixed-width font (the lists of a briefing sheet, in DejaVu Sans
Mono) letter by letter from cached glyphs, other lines whole from a cache of recent lines
(a page's footer and map labels repeat on every page). Matplotlib's own Agg text asks
FreeType for every letter of every line again, about 0.15 ms a letter, most of a
text-heavy page's PNG time. A line neither cache can draw as FreeType would (rotated,
mathtext, a letter outside the simple scripts or missing from the font) is drawn by
matplotlib as usual.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.path import Path as MplPath


def literal_text() -> AbstractContextManager[Any]:
    """Return a context in which matplotlib draws every text literally.

    School, street and area names come from files: a name such as ``$5 Store $`` or
    ``\\frac{`` must be printed as written, not parsed as mathtext (which fails on a
    stray ``$`` and ends the run) nor sent to LaTeX. Create and save figures inside it.
    """
    return matplotlib.rc_context({"text.parse_math": False, "text.usetex": False})


#: zlib level of :func:`png_bytes`: on briefing pages (white paper, flat colours) level 3 takes
#: about two thirds of the time of Pillow's default 6 and gives files no larger.
PNG_COMPRESS_LEVEL = 3


def png_bytes(figure: Figure, *, dpi: float, metadata: dict[str, str | None] | None = None) -> bytes:
    """Return the figure as PNG bytes, its text drawn from cached bitmaps.

    The page reads as with ``figure.savefig(format="png")``: the same glyphs (FreeType's,
    hinted as matplotlib hints them) at the same line positions, each letter placed on a
    whole pixel. The figure keeps the canvas (a :class:`~matplotlib.figure.Figure` made
    without pyplot; saving it to PDF afterwards works as before). The same as
    :func:`encode_png` of :func:`render_rgba`, which a caller can run apart (Pillow lets
    other threads run while it compresses).

    Parameters
    ----------
    figure
        The figure.
    dpi
        Resolution (dots per inch).
    metadata
        PNG text chunks, as for :meth:`matplotlib.figure.Figure.savefig` (a ``None``
        value leaves the chunk out).
    """
    return encode_png(render_rgba(figure, dpi=dpi), dpi=dpi, metadata=metadata)


def render_rgba(figure: Figure, *, dpi: float) -> np.ndarray:
    """Return the figure drawn at ``dpi`` (dots per inch) as RGBA pixels, rows from the top.

    Drawn as :meth:`~matplotlib.figure.Figure.savefig` draws it, with the canvas of
    :func:`png_bytes`; the figure is left with a plain canvas, so that it does not keep
    the drawing's pixel buffer (a page's few megabytes) while it lives.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    canvas = _canvas_class()(figure)
    raw = io.BytesIO()
    figure.savefig(raw, format="raw", dpi=dpi)
    width, height = canvas.renderer.width, canvas.renderer.height
    canvas.renderer = None  # its buffer goes now, not when a collection finds the canvas's reference cycles
    FigureCanvasBase(figure)
    return np.frombuffer(raw.getbuffer(), dtype=np.uint8).reshape(int(height), int(width), 4)


def encode_png(rgba: np.ndarray, *, dpi: float, metadata: dict[str, str | None] | None = None) -> bytes:
    """Return RGBA pixels as PNG bytes as matplotlib writes them, at zlib level :data:`PNG_COMPRESS_LEVEL`.

    Parameters
    ----------
    rgba
        Pixels, ``(rows, columns, 4)`` bytes, rows from the top.
    dpi
        Resolution written in the file (dots per inch).
    metadata
        PNG text chunks; ``Software`` is matplotlib's unless given (``None`` leaves a
        chunk out).
    """
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    chunks = {"Software": f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/", **(metadata or {})}
    for key, value in chunks.items():
        if value is not None:
            info.add_text(key, value)
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="png", pnginfo=info, dpi=(dpi, dpi),
                               compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


@dataclass(frozen=True)
class _Glyph:
    """One letter of a font at one size, as FreeType renders it alone (pixels, y up from the baseline).

    Attributes
    ----------
    image
        Coverage (0-255), one row per pixel line, top first, with FreeType's blank margin.
    left
        Left edge of ``image`` from the pen position (pixels, before rounding).
    below
        Depth of the letter below the baseline (pixels; negative for a letter above it).
    low, high
        Bottom and top of the letter's box (1/64 pixel), 0 and 0 for a blank.
    advance
        Distance to the next letter's pen position (pixels).
    """

    image: np.ndarray
    left: float
    below: float
    low: int
    high: int
    advance: float


#: Glyphs drawn so far, by font file, size (points), resolution (dpi), hinting and
#: antialiasing, then by letter; a letter that must go through matplotlib maps to None.
_GLYPHS: dict[tuple[str, float, float, str, bool], dict[str, _Glyph | None]] = {}


def _simple(letter: str) -> bool:
    """Whether a letter is drawn alone as it is in a line: no shaping, joining, reordering or combining.

    Latin, Greek and Cyrillic letters, digits, punctuation and symbols, and spaces; not
    right-to-left letters, combining marks, format and control characters.
    """
    point = ord(letter)
    in_range = point < 0x0530 or 0x1E00 <= point < 0x2C00
    return (in_range and unicodedata.category(letter)[0] in "LNPSZ" and not unicodedata.combining(letter)
            and unicodedata.bidirectional(letter) in ("L", "EN", "ES", "ET", "CS", "ON", "WS"))


def _glyphs(font: Any, path: str, size: float, dpi: float, flags: Any, antialiased: bool,
            text: str) -> list[_Glyph] | None:
    """Return the cached glyphs of every letter of ``text``, or None when one must go through matplotlib."""
    cache = _GLYPHS.setdefault((path, size, dpi, str(flags), antialiased), {})
    glyphs = []
    for letter in text:
        if letter not in cache:
            cache[letter] = _render(font, size, dpi, flags, antialiased, letter)
        glyph = cache[letter]
        if glyph is None:
            return None
        glyphs.append(glyph)
    return glyphs


#: Most lines of proportional text kept by :func:`_line` (a bitmap of a few kilobytes each).
LINE_CACHE_SIZE = 512


@functools.lru_cache(maxsize=LINE_CACHE_SIZE)
def _line(path: str, size: float, dpi: float, flags: Any, antialiased: bool, text: str) -> _Glyph | None:
    """Return a whole line of text as FreeType lays it out and renders it, or None when it must go through matplotlib.

    The layout (kerning, ligatures) is FreeType's and libraqm's, as in matplotlib's own
    measure of the line; the bitmap is FreeType's, each letter on a whole pixel.
    """
    from matplotlib.font_manager import get_font

    font = get_font(path)
    if not all(_simple(letter) and font.get_char_index(ord(letter)) for letter in text):
        return None
    font.clear()
    font.set_size(size, dpi)
    font.set_text(text, 0.0, flags=flags)
    font.draw_glyphs_to_bitmap(antialiased=antialiased)
    image = np.array(font.get_image(), dtype=np.uint8)
    width, height = font.get_width_height()
    descent = font.get_descent()
    offset, _ = font.get_bitmap_offset()
    # a line's bitmap starts a pixel further right than a lone letter's (measured against
    # matplotlib's own drawing: tests/test_figures.py)
    return _Glyph(image=image, left=offset / 64 + 1, below=descent / 64, low=-descent, high=height - descent,
                  advance=width / 64)


def _render(font: Any, size: float, dpi: float, flags: Any, antialiased: bool, letter: str) -> _Glyph | None:
    """Render one letter alone with FreeType as matplotlib's Agg renderer sets the font up."""
    if not _simple(letter) or font.get_char_index(ord(letter)) == 0:
        return None
    font.clear()
    font.set_size(size, dpi)
    font.set_text(letter, 0.0, flags=flags)
    font.draw_glyphs_to_bitmap(antialiased=antialiased)
    image = np.array(font.get_image(), dtype=np.uint8)
    width, height = font.get_width_height()
    descent = font.get_descent()
    offset, _ = font.get_bitmap_offset()
    return _Glyph(image=image, left=offset / 64, below=descent / 64, low=-descent, high=height - descent,
                  advance=width / 64)


@functools.cache
def _canvas_class() -> type:
    """Return the Agg canvas class whose renderer draws fixed-width text from cached glyphs.

    Made on first use, so that importing this module does not import matplotlib's Agg
    backend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
    from matplotlib.font_manager import findfont, get_font
    from matplotlib.ft2font import FaceFlags

    class GlyphCacheRenderer(RendererAgg):
        """Agg renderer that draws text from :data:`_GLYPHS` (fixed-width fonts) and :func:`_line` (others)."""

        def _cached(self, text: str, prop: Any, antialiased: bool = True) -> list[_Glyph] | None:
            """Return the line as cached bitmaps: one per letter, or one for the whole line."""
            if not text:
                return None
            path = findfont(prop)
            font = get_font(path)
            size, flags = prop.get_size_in_points(), get_hinting_flag()
            if FaceFlags.FIXED_WIDTH in font.face_flags:
                return _glyphs(font, path, size, self.dpi, flags, antialiased, text)
            line = _line(path, size, self.dpi, flags, antialiased, text)
            return None if line is None else [line]

        def get_text_width_height_descent(self, s: str, prop: Any, ismath: Any) -> tuple[float, float, float]:
            glyphs = None if ismath else self._cached(s, prop)
            if glyphs is None:
                return super().get_text_width_height_descent(s, prop, ismath)
            # FreeType's box of a line: the union of its letters' boxes, a blank's at the baseline
            low = min(glyph.low for glyph in glyphs)
            high = max(glyph.high for glyph in glyphs)
            return sum(glyph.advance for glyph in glyphs), (high - low) / 64, -low / 64

        def draw_text(self, gc: Any, x: float, y: float, s: str, prop: Any, angle: float,
                      ismath: Any = False, mtext: Any = None) -> None:
            plain = not ismath and angle == 0 and (mtext is None or (
                not mtext.get_fontfeatures() and not mtext.get_language()))
            glyphs = self._cached(s, prop, bool(gc.get_antialiased())) if plain else None
            if glyphs is None:
                super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
                return
            # y runs down from the top here; each bitmap lands on a whole pixel, as FreeType
            # placed the letters when matplotlib drew a line as one bitmap
            lefts, bottoms, pen = [], [], x
            for glyph in glyphs:
                lefts.append(round(pen + glyph.left) - 1)
                bottoms.append(round(y + glyph.below) + 1)
                pen += glyph.advance
            if len(glyphs) == 1:
                self._renderer.draw_text_image(glyphs[0].image, lefts[0], bottoms[0], 0, gc)
                return
            left, right = min(lefts), max(a + g.image.shape[1] for a, g in zip(lefts, glyphs, strict=True))
            top = min(b - g.image.shape[0] for b, g in zip(bottoms, glyphs, strict=True))
            bottom = max(bottoms)
            line = np.zeros((bottom - top, right - left), dtype=np.uint8)
            for glyph, at, base in zip(glyphs, lefts, bottoms, strict=True):
                rows, columns = glyph.image.shape
                if rows and columns:
                    part = line[base - rows - top:base - top, at - left:at - left + columns]
                    np.maximum(part, glyph.image, out=part)
            self._renderer.draw_text_image(line, left, bottom, 0, gc)

    class GlyphCacheCanvas(FigureCanvasAgg):
        """Agg canvas drawing with :class:`GlyphCacheRenderer`."""

        def get_renderer(self, *args: Any, **kwargs: Any) -> Any:
            w, h = self.get_width_height(physical=True)
            key = (w, h, self.figure.dpi)
            if getattr(self, "_lastKey", None) != key or not isinstance(getattr(self, "renderer", None),
                                                                        GlyphCacheRenderer):
                self.renderer = GlyphCacheRenderer(w, h, self.figure.dpi)
                self._lastKey = key
            return self.renderer

    return GlyphCacheCanvas


def street_path(geometries: np.ndarray) -> MplPath:
    """Return line strings as one matplotlib path, each line its own sub-path.

    One path per style draws in one go in the PDF and PNG renderers, where a collection of
    thousands of lines costs a graphics state and a path object each.

    Parameters
    ----------
    geometries
        Shapely line strings (coordinates in metres, the plan's UTM CRS).

    Returns
    -------
    matplotlib.path.Path
        Their vertices (metres), a ``MOVETO`` at the start of each line and ``LINETO``
        along it.
    """
    import shapely
    from matplotlib.path import Path as MplPath

    coords, which = shapely.get_coordinates(geometries, return_index=True)
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    starts = np.ones(len(which), dtype=bool)
    starts[1:] = which[1:] != which[:-1]
    codes[starts] = MplPath.MOVETO
    return MplPath(coords, codes)

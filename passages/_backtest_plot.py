"""The curve of a backtest: hit rate and PAI against the share of street length chosen (PNG)."""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING

import numpy as np

from passages.evaluate import COUNTS, GRID_KDE, HOT_SET, PASSAGE_SET, PASSAGES, PLAN_RISK
from passages.hit_rates import RANDOM

if TYPE_CHECKING:
    from passages.evaluate import Backtest

#: Colour and line style of each method; other methods (covered segments) get _EXTRA colours.
_STYLE = {PLAN_RISK: ("#b2182b", "-"), PASSAGES: ("#2166ac", "-"), RANDOM: ("#777777", "--"),
          GRID_KDE: ("#e08214", "-."), COUNTS: ("#762a83", ":")}
_EXTRA = ("#1b7837", "#8c510a", "#01665e")
_SET_MARKERS = ("D", "s", "^", "v", "P")

#: PAI is drawn on a log axis; values below this (no hit at all) are drawn at it.
_PAI_FLOOR = 0.1


def curve_png(result: Backtest, *, dpi: int = 110) -> bytes:
    """Return the hit-rate and PAI curves of a backtest as PNG bytes (matplotlib, Agg).

    Left: hit rate (%) against the share of street length chosen (%); right: PAI on a log
    axis, with PAI = 1 (random) marked. The plan's methods carry their bootstrap interval
    as a band, the random baseline its spread across seeds; the fixed sets (hot segments,
    the Safe Passage network, covered segments) are marks with intervals at their own
    share. The PNG carries no software version or time, so the same backtest gives the
    same bytes.
    """
    from passages._figures import literal_text

    with literal_text():  # area and method names are drawn as written, never as mathtext
        return _curve_png(result, dpi=dpi)


def _curve_png(result: Backtest, *, dpi: int) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 5.6), layout="constrained")
    FigureCanvasAgg(figure)
    hit_axes, pai_axes = figure.subplots(1, 2)
    table = result.table
    extra = iter(_EXTRA)
    colours: dict[str, str] = {}
    for method, group in table[table["kind"] == "curve"].groupby("method", sort=False):
        colour, line = _STYLE.get(str(method)) or (next(extra, "#000000"), "-")
        colours[str(method)] = colour
        x = group["coverage"].to_numpy() * 100
        for axes, column, scale in ((hit_axes, "hit_rate", 100.0), (pai_axes, "pai", 1.0)):
            value, low, high = (np.maximum(group[c].to_numpy() * scale, _PAI_FLOOR if scale == 1 else 0)
                                for c in (column, f"{column}_low", f"{column}_high"))
            axes.plot(x, value, line, color=colour, marker="o", markersize=3, label=str(method))
            if method != COUNTS and method != GRID_KDE:
                axes.fill_between(x, low, high, color=colour, alpha=0.12, linewidth=0)
    for marker, record in zip(_SET_MARKERS, table[table["kind"] == "set"].to_dict("records"), strict=False):
        name, share = str(record["method"]), float(record["length_share"])
        colour = colours.get({PASSAGE_SET: PASSAGES, HOT_SET: PLAN_RISK}.get(name, name)) or next(extra, "#000000")
        for axes, column, scale, floor in ((hit_axes, "hit_rate", 100.0, 0.0), (pai_axes, "pai", 1.0, _PAI_FLOOR)):
            mid, lo, hi = (max(float(record[c]) * scale, floor) for c in (column, f"{column}_low", f"{column}_high"))
            axes.errorbar([share * 100], [mid], yerr=[[mid - lo], [hi - mid]], fmt=marker, color=colour,
                          markeredgecolor="black", markersize=7, capsize=3, label=f"{name} ({share:.1%} of streets)")
    hit_axes.set(xlabel="share of street length chosen (%)", ylabel="test incidents on the chosen streets (%)",
                 title="Hit rate (bands: 95% bootstrap interval; random: 95% of seeds)")
    pai_axes.set(xlabel="share of street length chosen (%)",
                 ylabel=f"PAI = hit rate / share of length (log; 0 drawn at {_PAI_FLOOR:g})",
                 title="PAI (1 = no better than random)", yscale="log")
    pai_axes.axhline(1.0, color="#777777", linewidth=0.8)
    hit_axes.set_ylim(bottom=0)
    for axes in (hit_axes, pai_axes):
        axes.set_xlim(left=0)
        axes.grid(alpha=0.3, which="both")
    handles, labels = hit_axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    windows, days = ", ".join(result.options["windows"]), len(result.options["weekdays"])
    title = (f"Backtest of {result.area.name}: {result.split.describe()}; {result.test_on_street:,} of them on a "
             f"street. Incidents: {windows}, {days} days a week.")
    figure.suptitle("\n".join(textwrap.wrap(title, 150)), fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()

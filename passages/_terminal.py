"""Terminal output of the command line: tables that fit the width, JSON and CSV for scripts.

A table is laid out for the width of the terminal, or, when the output is piped, for
``$COLUMNS`` (else 80 characters). Slugs and numbers are never cut: a cell wraps only at
its spaces, so every word of it stays whole. When the table is too wide for that, its
columns are split into several tables that each repeat the key column (the first); when
even one column beside the key does not fit, each row is printed as a stacked block of
``name: value`` lines. Nothing is read as Rich markup.

``--json`` and ``--csv`` write one document on standard output and nothing else
(:func:`print_json`, :func:`print_csv`): CSV cells pass :func:`passages._names.csv_cell`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

from passages._errors import PassagesError
from passages._names import csv_bytes

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["fit_table", "jsonable", "output_width", "print_csv", "print_json", "print_table"]

#: Width (characters) laid out for when the output is not a terminal and $COLUMNS is unset.
PIPE_WIDTH = 80

#: A column with ``overflow="fold"`` (paths, long notes) may be narrowed to this many
#: characters, its longer words folded; other columns never go below their longest word.
FOLD_MIN_WIDTH = 16

#: Narrowest width (characters) a table is ever laid out for.
MIN_WIDTH = 20


def output_width(console: Console) -> int:
    """Return the width to lay out for, in characters (columns of the terminal).

    The terminal's width when ``console`` writes to one; otherwise (piped, redirected)
    ``$COLUMNS`` if it is a number, else :data:`PIPE_WIDTH`. Never below :data:`MIN_WIDTH`.
    """
    if console.is_terminal:
        width = console.width
    else:
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH
    return max(MIN_WIDTH, width)


def _cell_widths(console: Console, renderable: RenderableType, *, no_wrap: bool) -> tuple[int, int]:
    """Return (narrowest without cutting a word, widest) of one cell, in characters."""
    if isinstance(renderable, str):
        renderable = console.render_str(renderable, markup=False, emoji=False, highlight=False)
    if isinstance(renderable, Text):
        lines = renderable.plain.split("\n")
        widest = max(Text(line).cell_len for line in lines)
        if no_wrap:
            return widest, widest
        words = [Text(word).cell_len for line in lines for word in line.split()]
        return max(words, default=0), widest
    measured = Measurement.get(console, console.options, renderable)
    return measured.minimum, measured.maximum


def _column_cells(table: Table, column: Column) -> list[RenderableType]:
    cells: list[RenderableType] = list(column.cells)
    if table.show_header:
        cells.append(column.header)
    return cells


def _extra_width(table: Table, columns: int) -> int:
    """Return the characters of a table's borders and padding that are not cell text."""
    left, right = table.padding[3], table.padding[1]
    padding = columns * (left + right)
    if not table.pad_edge:
        padding -= left + right
    borders = (columns - 1) if table.box else 0
    if table.box and table.show_edge:
        borders += 2
    return padding + borders


def _ranges(console: Console, table: Table) -> list[tuple[int, int]]:
    """Return each column's (minimum, maximum) text width, in characters."""
    ranges = []
    for column in table.columns:
        pairs = [_cell_widths(console, cell, no_wrap=column.no_wrap) for cell in _column_cells(table, column)]
        low = max((p[0] for p in pairs), default=1)
        high = max((p[1] for p in pairs), default=1)
        if column.overflow == "fold" and not column.no_wrap:
            low = min(low, FOLD_MIN_WIDTH)
        ranges.append((max(1, low), max(1, high, low)))
    return ranges


def _distribute(ranges: Sequence[tuple[int, int]], room: int) -> list[int]:
    """Return column widths: each its minimum, the spare ``room`` given to the narrowest needs first."""
    widths = [low for low, _ in ranges]
    spare = room - sum(widths)
    # the smallest needs first, each in full while it fits: fewer columns wrap
    for index in sorted(range(len(ranges)), key=lambda i: ranges[i][1] - ranges[i][0]):
        need = ranges[index][1] - widths[index]
        if need <= spare:
            widths[index] += need
            spare -= need
    wanting = [i for i, (_, high) in enumerate(ranges) if widths[i] < high]
    for position, index in enumerate(wanting):  # what is left, shared evenly
        give = min(ranges[index][1] - widths[index], spare // (len(wanting) - position))
        widths[index] += give
        spare -= give
    return widths


def _copy_table(table: Table, indexes: Sequence[int], *, title: str | Text | None) -> Table:
    """Return a table of some of ``table``'s columns (same style), rows in the same order."""
    part = Table(title=title, title_justify=table.title_justify, show_header=table.show_header,
                 show_lines=table.show_lines, box=table.box, show_edge=table.show_edge, padding=table.padding,
                 pad_edge=table.pad_edge, header_style=table.header_style)
    for index in indexes:
        column = table.columns[index]
        part.add_column(column.header, justify=column.justify, style=column.style, no_wrap=column.no_wrap,
                        overflow=column.overflow, header_style=column.header_style)
    cells = [list(table.columns[i].cells) for i in indexes]
    for row in zip(*cells, strict=True):
        part.add_row(*row)
    return part


def _fixed(console: Console, table: Table, width: int) -> Table | None:
    """Return ``table`` with fixed column widths that fit ``width`` whole-word, or ``None``."""
    if not table.columns:
        return table
    ranges = _ranges(console, table)
    room = width - _extra_width(table, len(table.columns))
    if sum(high for _, high in ranges) <= room:
        return table  # fits at its natural widths: Rich lays it out unchanged
    if sum(low for low, _ in ranges) > room:
        return None
    for column, column_width in zip(table.columns, _distribute(ranges, room), strict=True):
        column.width = column_width
        if not column.no_wrap:
            column.overflow = "fold"  # only for a fold column's longest words: the others fit
    return table


def _split(console: Console, table: Table, width: int) -> list[Table] | None:
    """Return ``table`` as several tables (the key column repeated) that each fit, or ``None``."""
    count = len(table.columns)
    if count < 3:
        return None
    ranges = _ranges(console, table)
    # what one more column costs in a table: its text, its padding and a border
    cost = [low + _extra_width(table, 2) - _extra_width(table, 1) for low, _ in ranges]
    room = width - _extra_width(table, 1) - ranges[0][0]  # beside the key column
    if max(cost[1:]) > room:
        return None  # the key and one column alone do not fit

    def pack(capacity: int) -> list[list[int]]:
        groups: list[list[int]] = [[]]
        used = 0
        for index in range(1, count):
            if groups[-1] and used + cost[index] > capacity:
                groups.append([])
                used = 0
            groups[-1].append(index)
            used += cost[index]
        return groups

    fewest = len(pack(room))
    if fewest > 4:
        return None  # a row would be spread over too many tables: stack it instead
    # the narrowest capacity that needs no more tables: the columns shared out evenly
    capacity = next(c for c in range(max(cost[1:]), room + 1) if len(pack(c)) <= fewest)
    groups = pack(capacity)
    parts = []
    for number, group in enumerate(groups):
        title = table.title if number == 0 else None
        if isinstance(title, str) and len(groups) > 1:
            title = f"{title} (1 of {len(groups)})"
        elif number:
            title = f"(continued, {number + 1} of {len(groups)})"
        fitted = _fixed(console, _copy_table(table, [0, *group], title=title), width)
        if fitted is None:
            return None
        parts.append(fitted)
    return parts


def _plain(console: Console, renderable: RenderableType) -> Text:
    if isinstance(renderable, Text):
        return renderable.copy()
    if isinstance(renderable, str):
        return Text(renderable)
    return Text("".join(segment.text for segment in console.render(renderable)).rstrip())


def _stacked(console: Console, table: Table, width: int) -> RenderableType:
    """Return the rows of ``table`` as blocks of ``name: value`` lines (the last resort)."""
    pieces: list[RenderableType] = []
    if table.title is not None:
        pieces.append(_plain(console, table.title))
    headers = [_plain(console, c.header).plain for c in table.columns]
    label_width = min(max((len(h) for h in headers[1:]), default=1) + 1, max(8, width // 3))
    columns = [list(c.cells) for c in table.columns]
    for row in zip(*columns, strict=True):
        key = _plain(console, row[0])
        key.stylize("bold")
        if table.show_header:
            pieces.append(Text(""))
        grid = Table.grid(padding=(0, 1), pad_edge=False)
        grid.add_column(width=2 if table.show_header else 0, no_wrap=True)
        grid.add_column(width=label_width, overflow="fold")
        grid.add_column(overflow="fold")
        if table.show_header:
            pieces.append(key)
            for header, cell in zip(headers[1:], row[1:], strict=True):
                grid.add_row("", f"{header}:", _plain(console, cell))
        else:  # a key-value table: the key is the label
            grid.add_row("", key, *(_plain(console, cell) for cell in row[1:2]))
        pieces.append(grid)
    return Group(*pieces)


def fit_table(console: Console, table: Table, *, width: int) -> RenderableType:
    """Return ``table`` laid out to fit ``width`` characters without cutting a word.

    Parameters
    ----------
    console
        The console it will be printed on (for measuring text).
    table
        The table; its first column is the key (a slug, a scenario, a label). Its columns
        may be given fixed widths.
    width
        Width to fit, in characters.

    Returns
    -------
    rich.console.RenderableType
        The table itself with column widths that keep every word whole; else its columns
        split into several tables that each repeat the key column; else the rows stacked
        as ``name: value`` blocks.
    """
    fitted = _fixed(console, table, width)
    if fitted is not None:
        return fitted
    parts = _split(console, table, width)
    if parts is not None:
        return Group(*(piece for i, part in enumerate(parts) for piece in ((Text(""), part) if i else (part,))))
    return _stacked(console, table, width)


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` on ``console`` laid out for :func:`output_width` (see :func:`fit_table`)."""
    width = output_width(console)
    console.print(fit_table(console, table, width=width), width=width)


def print_lines(console: Console, lines: Sequence[str | Text]) -> None:
    """Print lines as they are (no wrapping: paths stay whole for copying)."""
    for line in lines:
        console.print(line, soft_wrap=True)


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON values: NumPy and pandas scalars, paths, dates, frames.

    NaN and infinite numbers become ``None`` (strict JSON has no such numbers).
    """
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    # NumPy and pandas values exist only once those modules are loaded: looked up, not
    # imported, so that a command that never touched them starts without them
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        return [jsonable(row) for row in value.to_dict("records")]
    if isinstance(value, list | tuple | set | frozenset) or (
            np is not None and isinstance(value, np.ndarray)) or (pd is not None and isinstance(value, pd.Series)):
        return [jsonable(item) for item in list(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if pd is not None and value is pd.NaT:
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime.date | datetime.datetime) or (pd is not None and isinstance(value, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta) or (pd is not None and isinstance(value, pd.Timedelta)):
        return value.total_seconds()
    return str(value)


def print_json(document: Mapping[str, Any]) -> None:
    """Write ``document`` as one JSON document on standard output (UTF-8, strict JSON)."""
    sys.stdout.write(json.dumps(jsonable(document), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    sys.stdout.flush()


def print_csv(frame: pd.DataFrame) -> None:
    """Write ``frame`` as CSV on standard output; every text cell made safe (no formula)."""
    sys.stdout.write(csv_bytes(frame).decode("utf-8"))
    sys.stdout.flush()


def script_format(*, json_out: bool, csv_out: bool = False) -> str | None:
    """Return ``"json"``, ``"csv"`` or ``None`` (the table); refuse both options at once."""
    if json_out and csv_out:
        raise PassagesError("give --json or --csv, not both")
    return "json" if json_out else "csv" if csv_out else None

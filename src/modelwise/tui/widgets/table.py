"""The console's data table: Textual's DataTable with its measured column widths always shown, and
columns fitted to the width (numbers rounded or a column dropped, never a value cut)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets._data_table import RowKey


class Table(DataTable):
    """A DataTable that never shows rows cut to the width of their column labels.

    DataTable measures new rows when it is idle, but keeps the lines it rendered before that in caches
    keyed by an update count that measuring does not change (textual 8.2; upstream issue
    Textualize/textual#4470). A frame drawn between `add_row` and the measurement therefore stays on
    screen, cells cut to the labels' widths, until the cursor or the hover moves. Bumping the count
    after measuring makes the next frame use the measured widths."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        self._update_count += 1
        self.refresh()


# -- columns fitted to the width -------------------------------------------------------------------
#
# A table shows the first of its `levels` whose columns fit the table's width with every value whole:
# later levels round numbers to fewer digits or drop a less important column. The free-text column (an
# eligibility, a description, shown in full elsewhere) takes the width left over, cut with an ellipsis,
# and is dropped when fewer than `MIN_TEXT` cells are left. When even the last level does not fit, the
# table scrolls sideways with its first `fixed` columns (the model's name) kept in place.

MIN_TEXT = 10
PADDING = 2  # a cell's padding, one cell each side (DataTable's default cell_padding)
SCROLLBAR = 1  # the vertical scrollbar's width (app.tcss: scrollbar-size 1 1)


@dataclass(frozen=True)
class Level:
    """Which columns show (keys, in order) and how values are written (`fine`: full digits)."""

    columns: tuple[str, ...]
    fine: bool = True


@dataclass(frozen=True)
class Fit:
    """The chosen level, the columns shown (the text column dropped when it has no room) and the text
    column's width (None: as wide as its longest cell)."""

    level: int
    columns: tuple[str, ...]
    text_width: int | None
    widths: Mapping[str, int] | None = None  # each column's width at that level (None: not measured)


def column_width(label: str, values: Iterable[str]) -> int:
    """A column's rendered width: its widest value or label, with the cell padding."""
    return max([cell_len(label), *(cell_len(v) for v in values)]) + PADDING


def fit(
    levels: Sequence[Level],
    labels: Mapping[str, str],
    cells: Callable[[Level], Sequence[Mapping[str, str]]],
    text: str | None,
    width: int,
) -> Fit:
    """The first level whose columns fit `width` (the table's), values whole. `cells(level)`: each row's
    plain text by column key at that level; `text`: the free-text column's key."""
    last: Fit | None = None
    for i, level in enumerate(levels):
        rows = cells(level)
        need = {k: column_width(labels[k], (r[k] for r in rows)) for k in level.columns}
        least = max(MIN_TEXT, cell_len(labels[text])) if text else MIN_TEXT  # the label is never cut
        found = _fits(i, level, need, text, width, least)
        if found is not None:
            return found
        last = Fit(i, tuple(k for k in level.columns if k != text), None, need)
    assert last is not None
    return last


def fit_widths(levels: Sequence[Level], widths: Mapping[str, int], text: str | None, width: int) -> Fit:
    """`fit` for columns whose values do not change with the level (`widths`: each one's width)."""
    for i, level in enumerate(levels):
        found = _fits(i, level, {k: widths[k] for k in level.columns}, text, width)
        if found is not None:
            return found
    return Fit(len(levels) - 1, tuple(k for k in levels[-1].columns if k != text), None)


def _fits(
    i: int, level: Level, need: Mapping[str, int], text: str | None, width: int, least: int = MIN_TEXT
) -> Fit | None:
    fixed = sum(w for k, w in need.items() if k != text) + SCROLLBAR
    if text is not None and text in need:
        room = width - fixed
        if room >= need[text]:
            return Fit(i, level.columns, None, need)
        if room >= least + PADDING:
            return Fit(i, level.columns, room - PADDING, need)
    elif fixed <= width:
        return Fit(i, level.columns, None, need)
    return None


def apply_fit(table: DataTable, chosen: Fit, labels: Mapping[str, str], text: str | None) -> bool:
    """Give `table` the chosen columns and the text column's width. The columns are rebuilt (True: the
    rows must be added again) when they differ, or when one is wider than its values now need (a column
    only ever widens as cells change, so values that shrank would leave it too wide to fit)."""
    keys = tuple(str(k.value) for k in table.columns)
    widths = chosen.widths or {}
    stale = any(
        c.auto_width and str(k.value) in widths and c.content_width + PADDING > widths[str(k.value)]
        for k, c in table.columns.items()
    )
    rebuilt = keys != chosen.columns or stale
    if rebuilt:
        table.clear(columns=True)
        for key in chosen.columns:
            table.add_column(labels[key], key=key)
    if text is not None and text in table.columns:
        col = table.columns[text]  # type: ignore[index]
        want_auto = chosen.text_width is None
        if col.auto_width != want_auto or (not want_auto and col.width != chosen.text_width):
            col.auto_width = want_auto
            if not want_auto:
                col.width = chosen.text_width  # type: ignore[assignment]
            table._require_update_dimensions = True
            table.refresh()
    return rebuilt


def fill_fitted(
    table: DataTable,
    levels: Sequence[Level],
    labels: Mapping[str, str],
    text: str | None,
    rows: Sequence[Any],
    cells: Callable[[Any, Level], Mapping[str, Text]],
) -> Fit:
    """Clear `table` and add `rows` (`cells(row, level)`: the row's cells by column key) at the first
    level that fits its width (as it was, or the first level, while the table is not laid out)."""
    width = table.size.width
    if width:
        chosen = fit(levels, labels, lambda lv: [{k: c.plain for k, c in cells(r, lv).items()} for r in rows],
                     text, width)
    else:
        chosen = getattr(table, "_fitted", None) or Fit(0, levels[0].columns, None)
    table._fitted = chosen  # type: ignore[attr-defined]
    level = levels[chosen.level]
    if not apply_fit(table, chosen, labels, text):
        table.clear()
    for r in rows:
        by_key = cells(r, level)
        table.add_row(*(by_key[k] for k in chosen.columns))
    return chosen

"""The console's data table: Textual's DataTable with its measured column widths always shown, and
columns fitted to the width (numbers rounded or a column dropped, never a value cut)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
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
# and is dropped when less than `MIN_TEXT` cells are left. When even the last level does not fit, the
# table scrolls sideways with its first `fixed` columns (the model's name) kept in place.

MIN_TEXT = 12
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


def _width(label: str, values: Iterable[str]) -> int:
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
        need = {k: _width(labels[k], (r[k] for r in rows)) for k in level.columns}
        fixed = sum(w for k, w in need.items() if k != text) + SCROLLBAR
        if text in need:
            room = width - fixed
            if room >= need[text]:
                return Fit(i, level.columns, None)
            if room >= MIN_TEXT + PADDING:
                return Fit(i, level.columns, room - PADDING)
        elif fixed <= width:
            return Fit(i, level.columns, None)
        last = Fit(i, tuple(k for k in level.columns if k != text), None)
    assert last is not None
    return last


def apply_fit(table: DataTable, chosen: Fit, labels: Mapping[str, str], text: str | None) -> bool:
    """Give `table` the chosen columns (rebuilt when they differ: True, the rows must be added again)
    and the text column's width."""
    keys = tuple(str(k.value) for k in table.columns)
    rebuilt = keys != chosen.columns
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

"""The console's data table: Textual's DataTable with its measured column widths always shown."""

from __future__ import annotations

from collections.abc import Iterable

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

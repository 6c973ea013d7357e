"""The console's tables show their measured widths even when a frame was drawn before the
measurement (Textualize/textual#4470: DataTable kept such frames cached until the cursor moved)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from modelwise.tui.widgets.table import Table


class _OneTable(App):
    CSS = "DataTable { height: 5; }"  # a fixed height, as in the panes: adding a row does not resize it

    def __init__(self, cls: type[DataTable]):
        super().__init__()
        self.cls = cls

    def compose(self) -> ComposeResult:
        yield self.cls(id="t")


def _text(table: DataTable) -> list[str]:
    return [strip.text for strip in table.render_lines(Region(0, 0, table.size.width, 3))]


@pytest.mark.parametrize("cls, shows_full_cells", [(Table, True), (DataTable, False)])
async def test_a_frame_drawn_before_measuring_is_not_kept(cls, shows_full_cells):
    app = _OneTable(cls)
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one("#t", DataTable)
        table.add_columns("id", "n")
        await pilot.pause()
        table.add_row("claude-sonnet-4-20250514", "12345678")
        assert _text(table)[1].split() == ["cl", "1"]  # a frame drawn before the table measured the row
        await pilot.pause()
        assert table.columns[table.ordered_columns[0].key].content_width == len("claude-sonnet-4-20250514")
        row = _text(table)[1]
        # The plain DataTable is the control: it shows the bug this class exists for, so the test can fail.
        assert ("claude-sonnet-4-20250514" in row and "12345678" in row) is shows_full_cells, row

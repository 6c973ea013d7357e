"""Every size usable: which panes show at 200x50, 150x40, 100x40 and 80x24, five or more breakdown rows,
the budget pane whole; and numbers rounded to fit, never cut, with the name column frozen."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.geometry import Region
from textual.widgets import DataTable

from modelwise.tui.app import ModelwiseApp, layout_for
from modelwise.tui.format import money_short
from modelwise.tui.widgets.table import Level, fit
from tests.tui_support import CHART_REGISTRY, SNAPSHOT_CONFIG, deterministic_ids, seed, settle

PANES = ("route", "registry", "budget", "history")
TEXT_COLUMNS = {"eligibility", "description"}  # free text: cut at its end with an ellipsis, by design


@pytest.fixture
def app(make_service, clock, monkeypatch) -> ModelwiseApp:
    deterministic_ids(monkeypatch)
    seed(make_service(registry=CHART_REGISTRY, config=SNAPSHOT_CONFIG), clock)
    return ModelwiseApp(make_service(registry=CHART_REGISTRY, config=SNAPSHOT_CONFIG), cursor_blink=False)


def shown(app: ModelwiseApp) -> list[str]:
    return [p for p in PANES if app.query_one(f"#{p}").region.area > 0]


def visible_rows(table: DataTable) -> int:
    """Data rows in view: the table's height less its header and a horizontal scrollbar, if any."""
    return min(table.row_count, table.scrollable_content_region.height - table.header_height)


def assert_nothing_cut(table: DataTable) -> None:
    """Every visible cell of `table` is drawn whole on its row (free text aside), and the columns fit the
    table's width: nothing needs scrolling sideways to be read."""
    keys = [str(k.value) for k in table.columns]
    width = sum(c.get_render_width(table) for c in table.columns.values())
    assert width <= table.scrollable_content_region.width, (keys, width, table.size)
    lines = [s.text for s in table.render_lines(Region(0, 0, table.size.width, table.size.height))]
    for i in range(visible_rows(table)):
        row = table.get_row_at(i)
        line = lines[table.header_height + i]
        for key, cell in zip(keys, row, strict=True):
            plain = cell.plain if isinstance(cell, Text) else str(cell)
            if key not in TEXT_COLUMNS:
                assert plain in line, (key, plain, line)


@pytest.mark.parametrize(
    "size, layout, panes",
    [
        ((200, 50), "quad", PANES),
        ((150, 40), "quad", PANES),
        ((100, 40), "stack", ("route", "budget")),
        ((80, 24), "tabs", ("route",)),
    ],
)
async def test_each_size_has_its_layout_with_rows_in_view(app, size, layout, panes) -> None:
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert app.layout == layout == layout_for(*size)
        assert shown(app) == list(panes)
        breakdown = app.query_one("#breakdown", DataTable)
        assert visible_rows(breakdown) >= 5
        assert_nothing_cut(breakdown)
        if "budget" in panes:
            budget = app.query_one("#budget")
            assert budget.virtual_size.height <= budget.scrollable_content_region.height  # no scrolling
            assert app.query_one("#alerts").region.bottom <= budget.region.bottom
        if "history" in panes:
            assert_nothing_cut(app.query_one("#history-table", DataTable))
            assert "description" in app.query_one("#history-table", DataTable).columns
        if layout != "quad":
            await pilot.press("f5")  # history a key away; route and budget come back together
            await pilot.pause()
            assert shown(app) == ["history"]
            assert_nothing_cut(app.query_one("#history-table", DataTable))
            await pilot.press("f4")
            await pilot.pause()
            assert shown(app) == (["route", "budget"] if layout == "stack" else ["budget"])
            assert app.query_one("#alerts").region.bottom <= app.query_one("#budget").region.bottom


async def test_resizing_refits_the_columns_and_keeps_the_name_frozen(app) -> None:
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        breakdown = app.query_one("#breakdown", DataTable)
        assert "eligibility" in breakdown.columns and breakdown.get_cell("r0", "total").plain.count("0.") == 1
        wide_total = breakdown.get_cell("r0", "total").plain
        for size in ((150, 40), (100, 40), (80, 24), (60, 24)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
            if size != (60, 24):
                assert_nothing_cut(breakdown)
            for name in ("#registry-table", "#history-table"):
                app.query_one(name, DataTable)  # present at every size
        # The narrowest: rounded (a total to three places), and rank and name stay while the rest scrolls.
        assert breakdown.fixed_columns == 2
        assert len(breakdown.get_cell("r0", "total").plain) == len(wide_total) - 1
        await pilot.resize_terminal(200, 50)
        await settle(pilot)
        assert breakdown.get_cell("r0", "total").plain == wide_total
        assert app.query_one("#registry-table", DataTable).fixed_columns == 1
        assert app.query_one("#history-table", DataTable).fixed_columns == 1


async def test_a_pane_chosen_before_the_app_runs_is_the_one_it_opens_on(app) -> None:
    """Setting the pane (or the layout) before the panes exist only records it: compose opens there."""
    app.pane = "budget"
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert shown(app) == ["budget"]
        assert app.query_one("#pane-tabs").active == "tab-budget"


def test_money_short_never_shows_zero_for_a_cost() -> None:
    assert money_short(0.002612) == "$0.0026"
    assert money_short(0.000022) == "$0.000022"
    assert money_short(0.5) == "$0.50" and money_short(12.345) == "$12.35" and money_short(0) == "$0"


def test_fit_rounds_before_it_drops_and_drops_before_it_cuts() -> None:
    levels = (Level(("name", "q", "note")), Level(("name", "q", "note"), fine=False), Level(("name", "q")))
    labels = {"name": "name", "q": "q", "note": "note"}

    def cells(level: Level) -> list[dict[str, str]]:
        return [{"name": "Claude Fable 5", "q": "0.697" if level.fine else "0.70", "note": "x" * 30}]

    # 16 + 7 + 1 scrollbar = 24 cells before the note: the note gets what is left, cut at its end
    assert fit(levels, labels, cells, "note", 24 + 2 + 30).text_width is None
    chosen = fit(levels, labels, cells, "note", 38)
    assert chosen.level == 0 and chosen.text_width == 12
    chosen = fit(levels, labels, cells, "note", 35)  # no room for the note at full digits: rounded first
    assert chosen.level == 1 and chosen.text_width == 10
    chosen = fit(levels, labels, cells, "note", 25)  # then the note is dropped, the numbers whole
    assert chosen.columns == ("name", "q")

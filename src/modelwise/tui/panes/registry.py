"""The registry pane: every model with prices, quality for a task type, availability, latency and what
outcomes observed; sortable by any column, filtered by text and task type; for one task type, only the
cost/quality frontier, and the quality-against-price chart with the route form's winner marked."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, Select, Static
from textual.widgets.data_table import CellDoesNotExist

from modelwise.core.errors import terminal_safe
from modelwise.tui.format import Ordered, clip, num
from modelwise.tui.state import Winner
from modelwise.tui.widgets.table import Level, Table, column_width, fit_widths

if TYPE_CHECKING:
    from rich.console import JustifyMethod

CHUNK = 50

# (key, label, sort key on a models_table row, default order reversed?)
_INF = math.inf


def _q(r: dict[str, Any]) -> float:
    return r["quality"] if r["quality"] is not None else -_INF


def _observed(r: dict[str, Any]) -> str:
    o = r.get("observed")
    if not o or not o["outcomes"]:
        return "-"
    judged = o["successes"] + o["failures"]
    text = f"{o['successes']}/{judged} ok" if judged else f"{o['outcomes']} outcomes"
    if o["errors"]:
        text += f", {o['errors']} err"
    if o["medianLatencyMs"] is not None:
        text += f", {o['medianLatencyMs']:.0f} ms"
    return text


def _price(p: float | None) -> float:
    return _INF if p is None else p  # an unknown price sorts last, never as $0


def _price_text(p: float | None, digits: int, free: bool) -> Text:
    if p is None:
        return Text("unknown", justify="right", style="dim")
    return Text("free" if free and p == 0 else f"{p:.{digits}f}", justify="right")


COLUMNS: tuple[tuple[str, str, Callable[[dict[str, Any]], Any], bool], ...] = (
    ("name", "name", lambda r: r["name"].lower(), False),
    ("provider", "provider", lambda r: (r["provider"] or "~").lower(), False),
    ("input", "in $/1M", lambda r: _price(r["inputPer1M"]), False),
    ("output", "out $/1M", lambda r: _price(r["outputPer1M"]), False),
    ("blended", "$/1k", lambda r: _price(r["blendedPer1k"]), False),
    ("quality", "quality", _q, True),
    ("availability", "avail.", lambda r: r["availability"], True),
    ("latency", "latency", lambda r: r["latencyMs"] if r["latencyMs"] is not None else _INF, False),
    ("rated", "rated", lambda r: not r["rated"], False),
    ("observed", "observed", lambda r: -((r.get("observed") or {}).get("outcomes") or 0), False),
)
_BY_KEY = {c[0]: c for c in COLUMNS}


_KEYS = tuple(c[0] for c in COLUMNS)
_LABELS = {c[0]: c[1] + "  " for c in COLUMNS}  # room for the sort mark
# First that fits the width: every column; then, one at a time, those another column or the offers under
# the table say already or that matter least: rated or not, the blended $/1k, the provider, latency,
# availability, what outcomes observed.
_DROP = ("rated", "blended", "provider", "latency", "availability", "observed")
LEVELS = tuple(Level(tuple(k for k in _KEYS if k not in _DROP[:n])) for n in range(len(_DROP) + 1))


def _cells(r: dict[str, Any]) -> dict[str, Text]:
    right: JustifyMethod = "right"
    lat = r["latencyMs"]
    return {
        "name": Ordered(clip(r["name"], 32), r["id"]),
        "provider": Text(r["provider"] or "-"),
        "input": _price_text(r["inputPer1M"], 3, r.get("free", False)),
        "output": _price_text(r["outputPer1M"], 3, r.get("free", False)),
        "blended": _price_text(r["blendedPer1k"], 6, r.get("free", False)),
        "quality": Text(
            num(r["quality"]) if r["rated"] else "unrated", justify=right, style="" if r["rated"] else "dim"
        ),
        "availability": Text(f"{r['availability']:.3f}", justify=right),
        "latency": Text("-" if lat is None else f"{lat:.0f} ms", justify=right),
        "rated": Text(("borrowed" if r.get("ratingBorrowedFrom") else "rated") if r["rated"] else "unrated",
                      style="" if r["rated"] else "dim"),
        "observed": Text(_observed(r)),
    }


OFFER_LINES = 4  # offers listed under the table; the rest are counted


def _per_m(p: float | None, free: bool) -> str:
    if p is None:
        return "unknown"
    if p == 0 and free:
        return "free"
    return f"${p:,.2f}" if p >= 1 else f"${p:.3g}"


def offers_text(name: str, rows: list[dict[str, Any]], limit: int) -> Text:
    """`core.offers.offer_rows` as lines: ✓ or ✗, provider, $ per Mtok in / out, latency, and routing's
    choice or what would make the offer callable."""
    reachable = sum(r["reachable"] for r in rows)
    out = Text.assemble(
        ("offers of ", "dim"), (name, "bold"),
        (f": {len(rows)}, {reachable} reachable · $/Mtok in / out · latency", "dim"),
    )
    width = max(len(r["provider"]) for r in rows[:limit])
    for r in rows[:limit]:
        lat = "-" if r["latencyMs"] is None else f"{r['latencyMs']:,.0f} ms"
        price = f"{_per_m(r['inputPer1M'], r['free'])} / {_per_m(r['outputPer1M'], r['free'])}"
        out.append("\n")
        out.append("✓ " if r["reachable"] else "✗ ", style="green" if r["reachable"] else "red")
        out.append(f"{r['provider']:<{width}}  {price:<17} {lat:>8}  ", style="" if r["reachable"] else "dim")
        if r["chosen"]:
            out.append("★ routing calls this one", style="bold")
        elif r["reachable"]:
            out.append("reachable")
        else:
            out.append(r["why"] or "not reachable", style="dim")
    if len(rows) > limit:
        out.append(f"\n… {len(rows) - limit} more offer{'s' if len(rows) - limit > 1 else ''}", style="dim")
    out.no_wrap, out.overflow = True, "ellipsis"  # one line an offer, cut at the pane's edge
    return out


class RegistryPane(Vertical):
    """Shows the rows the app loads (`set_rows`); sorting and filtering happen here, on the loaded rows."""

    BORDER_TITLE = "Models"
    BINDINGS = [
        Binding(
            "s",
            "sort_cursor_column",
            "Sort",
            id="registry.sort",
            tooltip="Sort by the column under the cursor (again: reverse)",
        ),
        Binding("slash", "focus_filter", "Filter", id="registry.filter", tooltip="Filter the models by text"),
        Binding(
            "p",
            "toggle_frontier",
            "Frontier",
            id="registry.frontier",
            tooltip="Only the cost/quality frontier of the task type (again: all)",
        ),
        Binding(
            "c",
            "toggle_chart",
            "Chart",
            id="registry.chart",
            tooltip="Quality against price for the task type, the winner marked (again: hide)",
        ),
    ]

    @dataclass
    class TaskTypeChanged(Message):
        """The user picked another task type (None: all); the app reloads the rows for it."""

        pane: RegistryPane
        task_type: str | None

        @property
        def control(self) -> RegistryPane:
            return self.pane

    class FilterChanged(Message):
        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RegistryPane.FilterChanged)

    def __init__(
        self,
        task_types: tuple[str, ...],
        offers: Callable[[str], list[dict[str, Any]] | None] | None = None,
        *,
        id: str | None = None,
        classes: str | None = None,
    ):
        super().__init__(id=id, classes=classes)
        self.task_types = task_types
        self.offers = offers  # model id -> core.offers.offer_rows (None: the model is gone)
        self.offers_of: str | None = None  # the model whose offers are shown
        self.rows: list[dict[str, Any]] = []
        self.task_type: str | None = None
        self.chart_data: dict[str, Any] | None = None  # service.quality_price(task_type)
        self.frontier_only = False
        self.chart_shown = False
        self.winner: Winner | None = None
        self.sort_key: str = "quality"
        self.sort_reverse = False
        self.shown: list[str] | None = None
        self._pending: list[dict[str, Any]] = []
        self._order: dict[str, int] = {}
        self.total = 0
        self.columns: tuple[str, ...] = _KEYS  # the columns shown (LEVELS: those that fit)
        self._widths: dict[str, int] | None = None  # each column's width over all rows

    def compose(self) -> ComposeResult:
        with Horizontal(id="registry-bar"):
            yield Input(placeholder="filter by name, id or provider…", compact=True, id="registry-filter")
            yield Select(
                [(t, t) for t in self.task_types], prompt="all task types", compact=True, id="registry-type"
            )
            yield Label("loading…", id="registry-count")
        table: DataTable = Table(id="registry-table", cursor_type="cell", zebra_stripes=True, fixed_columns=1)
        for key in self.columns:
            table.add_column(_LABELS[key], key=key)
        yield table
        yield Static(id="registry-offers")
        with Vertical(id="registry-chart-box"):  # the chart itself is mounted when first shown
            yield Static(id="registry-chart-legend")

    # -- inputs ----------------------------------------------------------------------------------

    @on(Input.Changed, "#registry-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if (safe := terminal_safe(event.value)) != event.value:
            event.input.value = safe  # a pasted control character is kept as its escape, never drawn raw
            return
        self.post_message(self.FilterChanged())

    @on(FilterChanged)
    def _apply_filter(self, event: FilterChanged) -> None:
        event.stop()
        self.refresh_table()

    @on(Select.Changed, "#registry-type")
    def _type_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = event.value
        self.post_message(self.TaskTypeChanged(self, value if isinstance(value, str) else None))

    @on(DataTable.HeaderSelected, "#registry-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    def on_resize(self) -> None:
        if self._fit_columns():
            self.shown = None
            self.refresh_table()

    def _fit_columns(self) -> bool:
        """Show the first level's columns that fit the table's width; True when they changed (the
        table's columns are rebuilt, its rows must be added again)."""
        table = self.query_one("#registry-table", DataTable)
        if not table.size.width:
            return False
        if self._widths is None:
            plain = [{k: c.plain for k, c in _cells(r).items()} for r in self.rows]
            self._widths = {k: column_width(_LABELS[k], (p[k] for p in plain)) for k in _KEYS}
        chosen = fit_widths(LEVELS, self._widths, None, table.size.width)
        if chosen.columns == self.columns:
            return False
        self.columns = chosen.columns
        table.clear(columns=True)
        for key in self.columns:
            table.add_column(_LABELS[key], key=key)
        return True

    @on(DataTable.CellHighlighted, "#registry-table")
    def _cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        event.stop()
        self.show_offers(event.cell_key.row_key.value)

    def show_offers(self, model_id: str | None) -> None:
        """The highlighted model's offers: provider, price in and out per million tokens, latency, and
        whether a provider that is on can call it (the one routing calls marked ★)."""
        self.offers_of = model_id
        box = self.query_one("#registry-offers", Static)
        rows = self.offers(model_id) if self.offers is not None and model_id else None
        if not rows or not model_id:
            box.update("")
            return
        name = next((r["name"] for r in self.rows if r["id"] == model_id), model_id)
        box.update(offers_text(name, rows, OFFER_LINES))

    def action_sort_cursor_column(self) -> None:
        table = self.query_one("#registry-table", DataTable)
        self.sort_by(self.columns[table.cursor_column])

    def action_focus_filter(self) -> None:
        self.query_one("#registry-filter", Input).focus()

    def action_toggle_frontier(self) -> None:
        self.frontier_only = not self.frontier_only
        self._need_type()
        self.shown = None  # the rows change wholesale
        self.refresh_table()

    def action_toggle_chart(self) -> None:
        self.chart_shown = not self.chart_shown
        self.set_class(self.chart_shown, "-chart")
        self._need_type()
        if self.chart_shown:
            self.chart.focus()
            self._show_chart()
        else:
            self.query_one("#registry-table").focus()

    def _need_type(self) -> None:
        """The frontier and the chart are for one task type: with all types chosen, take the route
        form's (the app reloads the rows for it)."""
        if self.task_type is None and self.winner is not None and (self.frontier_only or self.chart_shown):
            self.query_one("#registry-type", Select).value = self.winner.task_type

    def focus_main(self) -> None:
        """Focus the table, or the chart when it is shown in its place."""
        (self.chart if self.chart_shown else self.query_one("#registry-table")).focus()

    @property
    def chart(self) -> Widget:
        """The chart widget, mounted on first use (plotext is imported then, not at start)."""
        from modelwise.tui.widgets.chart import QualityPriceChart

        found = self.query(QualityPriceChart)
        if found:
            return found.first()
        chart = QualityPriceChart(id="registry-chart")
        self.query_one("#registry-chart-box").mount(chart, before="#registry-chart-legend")
        return chart

    def set_winner(self, winner: Winner) -> None:
        self.winner = winner
        self._show_chart()

    def _show_chart(self) -> None:
        if not self.chart_shown:
            return
        from modelwise.tui.widgets.chart import legend

        chart = self.chart
        chart.show(self.chart_data, self.winner)  # type: ignore[attr-defined]
        self.query_one("#registry-chart-legend", Static).update(legend(chart))  # type: ignore[arg-type]

    def frontier_ids(self) -> set[str] | None:
        """The ids on the frontier of the task type, None when no type is chosen."""
        if self.chart_data is None:
            return None
        return {m["id"] for m in self.chart_data["frontier"]}

    # -- rows ------------------------------------------------------------------------------------

    def sort_by(self, key: str) -> None:
        if key not in _BY_KEY:
            return
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self.refresh_table()

    def set_rows(
        self, task_type: str | None, rows: list[dict[str, Any]], chart: dict[str, Any] | None = None
    ) -> None:
        """The models of a task type (None: all), and `service.quality_price` of that type."""
        self.task_type = task_type
        self.rows = rows
        self.chart_data = chart
        self.shown = None
        self._widths = None
        self._fit_columns()
        self.refresh_table()
        self._show_chart()

    def visible_rows(self) -> list[dict[str, Any]]:
        needle = self.query_one("#registry-filter", Input).value.strip().lower()
        rows = self.rows
        front = self.frontier_ids() if self.frontier_only else None
        if front is not None:
            rows = [r for r in rows if r["id"] in front]
        if needle:
            rows = [
                r
                for r in rows
                if needle in r["name"].lower()
                or needle in r["id"].lower()
                or needle in (r["provider"] or "").lower()
            ]
        _, _, key, desc = _BY_KEY[self.sort_key]
        return sorted(rows, key=lambda r: (key(r), r["id"]), reverse=desc != self.sort_reverse)

    def refresh_table(self) -> None:
        """Bring the table in line with the filter and the sort: remove rows that no longer match, add
        missing ones in chunks of `CHUNK` (a cell is measured as it is added, so 1,000 rows at once
        would stall a frame), then reorder with `DataTable.sort` (no re-measuring)."""
        table = self.query_one("#registry-table", DataTable)
        rows = self.visible_rows()
        self._order = {r["id"]: i for i, r in enumerate(rows)}
        by_id = {r["id"]: r for r in rows}
        with self.app.batch_update():
            if self.shown is None:  # new data: every row is rebuilt
                table.clear()
                self.shown = []
            present = set(self.shown)
            for key in present - by_id.keys():
                table.remove_row(key)
            self.shown = [k for k in self.shown if k in by_id]
            self._pending = [r for r in rows if r["id"] not in present]
            self._add_pending()
            for key, label, _, default_desc in COLUMNS:
                if key not in table.columns:
                    continue
                desc = default_desc != self.sort_reverse
                mark = (" ▼" if desc else " ▲") if key == self.sort_key else "  "
                table.columns[key].label = Text(label + mark)  # type: ignore[index]
            table.refresh()
        what = f"for {self.task_type}" if self.task_type else "in the registry"
        n, total = len(rows), len(self.rows)
        if self.frontier_only and self.task_type:
            count = f"frontier: {n:,} of {total:,} models"
            if n == 0:
                count = self._no_frontier(total)
        elif self.frontier_only:
            count = f"frontier: choose a task type ({total:,} models)"
        else:
            count = f"{n:,} models {what}" if n == total else f"{n:,} of {total:,} models {what}"
        self.query_one("#registry-count", Label).update(count)

    def _no_frontier(self, total: int) -> str:
        """Why the frontier shows no model: the filter leaves none of it, or the task type has none."""
        front = self.frontier_ids() or set()
        needle = self.query_one("#registry-filter", Input).value.strip()
        if front and needle:
            return f"frontier: none of its {len(front):,} models for {self.task_type} matches {needle!r}"
        return f"frontier: none for {self.task_type} (no rated model with a known price among {total:,})"

    def _add_pending(self) -> None:
        table = self.query_one("#registry-table", DataTable)
        if self.shown is None:  # the rows changed wholesale since: refresh_table starts again with them
            return
        chunk, self._pending = self._pending[:CHUNK], self._pending[CHUNK:]
        for r in chunk:
            cells = _cells(r)
            table.add_row(*(cells[k] for k in self.columns), key=r["id"])
            self.shown.append(r["id"])
        order = self._order
        table.sort("name", key=lambda cell: order.get(cell.order, len(order)))
        if self._pending:
            self.call_after_refresh(self._add_pending)
        self._cursor_offers()

    def _cursor_offers(self) -> None:
        table = self.query_one("#registry-table", DataTable)
        key = None
        if table.row_count:
            with suppress(CellDoesNotExist):
                key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key != self.offers_of or key is None:
            self.show_offers(key)

    @property
    def filling(self) -> bool:
        """True while rows are still being added."""
        return bool(self._pending)

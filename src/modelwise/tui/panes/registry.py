"""The registry pane: every model with prices, quality for a task type, availability, latency and what
outcomes observed; sortable by any column, filtered by text and task type."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Select

from modelwise.tui.format import Ordered, clip, num

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


COLUMNS: tuple[tuple[str, str, Callable[[dict[str, Any]], Any], bool], ...] = (
    ("name", "name", lambda r: r["name"].lower(), False),
    ("provider", "provider", lambda r: (r["provider"] or "~").lower(), False),
    ("input", "in $/1M", lambda r: r["inputPer1M"], False),
    ("output", "out $/1M", lambda r: r["outputPer1M"], False),
    ("blended", "$/1k", lambda r: r["blendedPer1k"], False),
    ("quality", "quality", _q, True),
    ("availability", "avail.", lambda r: r["availability"], True),
    ("latency", "latency", lambda r: r["latencyMs"] if r["latencyMs"] is not None else _INF, False),
    ("rated", "rated", lambda r: not r["rated"], False),
    ("observed", "observed", lambda r: -((r.get("observed") or {}).get("outcomes") or 0), False),
)
_BY_KEY = {c[0]: c for c in COLUMNS}


def _cells(r: dict[str, Any]) -> tuple[Text, ...]:
    right = "right"
    lat = r["latencyMs"]
    return (
        Ordered(clip(r["name"], 32), r["id"]),
        Text(r["provider"] or "-"),
        Text(f"{r['inputPer1M']:.3f}", justify=right),
        Text(f"{r['outputPer1M']:.3f}", justify=right),
        Text(f"{r['blendedPer1k']:.6f}", justify=right),
        Text(
            num(r["quality"]) if r["rated"] else "unrated", justify=right, style="" if r["rated"] else "dim"
        ),
        Text(f"{r['availability']:.3f}", justify=right),
        Text("-" if lat is None else f"{lat:.0f} ms", justify=right),
        Text("rated" if r["rated"] else "unrated", style="" if r["rated"] else "dim"),
        Text(_observed(r)),
    )


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

    def __init__(self, task_types: tuple[str, ...], *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.task_types = task_types
        self.rows: list[dict[str, Any]] = []
        self.task_type: str | None = None
        self.sort_key: str = "quality"
        self.sort_reverse = False
        self.shown: list[str] | None = None
        self._pending: list[dict[str, Any]] = []
        self._order: dict[str, int] = {}
        self.total = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="registry-bar"):
            yield Input(placeholder="filter by name, id or provider…", compact=True, id="registry-filter")
            yield Select(
                [(t, t) for t in self.task_types], prompt="all task types", compact=True, id="registry-type"
            )
            yield Label("loading…", id="registry-count")
        table: DataTable = DataTable(id="registry-table", cursor_type="cell", zebra_stripes=True)
        for key, label, _, _ in COLUMNS:
            table.add_column(label + "  ", key=key)
        yield table

    # -- inputs ----------------------------------------------------------------------------------

    @on(Input.Changed, "#registry-filter")
    def _filter_changed(self) -> None:
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

    def action_sort_cursor_column(self) -> None:
        table = self.query_one("#registry-table", DataTable)
        self.sort_by(COLUMNS[table.cursor_column][0])

    def action_focus_filter(self) -> None:
        self.query_one("#registry-filter", Input).focus()

    # -- rows ------------------------------------------------------------------------------------

    def sort_by(self, key: str) -> None:
        if key not in _BY_KEY:
            return
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self.refresh_table()

    def set_rows(self, task_type: str | None, rows: list[dict[str, Any]]) -> None:
        self.task_type = task_type
        self.rows = rows
        self.shown = None
        self.refresh_table()

    def visible_rows(self) -> list[dict[str, Any]]:
        needle = self.query_one("#registry-filter", Input).value.strip().lower()
        rows = self.rows
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
                desc = default_desc != self.sort_reverse
                mark = (" ▼" if desc else " ▲") if key == self.sort_key else "  "
                table.columns[key].label = Text(label + mark)  # type: ignore[index]
            table.refresh()
        what = f"for {self.task_type}" if self.task_type else "in the registry"
        n, total = len(rows), len(self.rows)
        count = f"{n:,} models {what}" if n == total else f"{n:,} of {total:,} models {what}"
        self.query_one("#registry-count", Label).update(count)

    def _add_pending(self) -> None:
        table = self.query_one("#registry-table", DataTable)
        chunk, self._pending = self._pending[:CHUNK], self._pending[CHUNK:]
        for r in chunk:
            table.add_row(*_cells(r), key=r["id"])
            self.shown.append(r["id"])
        order = self._order
        table.sort("name", key=lambda cell: order.get(cell.order, len(order)))
        if self._pending:
            self.call_after_refresh(self._add_pending)

    @property
    def filling(self) -> bool:
        """True while rows are still being added."""
        return bool(self._pending)

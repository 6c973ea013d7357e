"""The history pane: today's decisions, newest first, including other processes'; selecting one shows
the breakdown stored with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from modelwise.tui.format import Ordered, clip, clock_time, money, num
from modelwise.tui.state import LedgerState
from modelwise.tui.widgets.table import Table

COLUMNS = (
    ("time", "time"),
    ("agent", "agent"),
    ("type", "task type"),
    ("tier", "tier"),
    ("model", "model"),
    ("estimated", "est. $"),
    ("actual", "actual $"),
    ("status", "status"),
    ("description", "description"),
)
DETAIL_COLUMNS = (
    ("rank", "#"),
    ("model", "model"),
    ("capability", "cap"),
    ("performance", "perf"),
    ("availability", "avail"),
    ("cost", "cost"),
    ("total", "total"),
    ("estimated", "est. $"),
    ("eligibility", "eligibility"),
)
STATUS_STYLE = {"routed": "", "degraded": "yellow", "refused": "red"}


class HistoryPane(Vertical):
    """Rows keyed by decision id: new ones added, changed ones (an outcome arrived) updated in place."""

    BORDER_TITLE = "History"

    @dataclass
    class Selected(Message):
        """A decision was highlighted; the app loads its stored breakdown."""

        pane: HistoryPane
        decision_id: str

        @property
        def control(self) -> HistoryPane:
            return self.pane

    def __init__(self, tz=None, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.tz = tz
        self._cells: dict[str, tuple] = {}
        self.detail_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("reading the ledger…", id="history-count")
        table: DataTable = Table(id="history-table", cursor_type="row")
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        with Vertical(id="history-detail-box"):
            yield Static("select a decision to see its breakdown", id="history-detail")
            detail: DataTable = Table(id="history-candidates", cursor_type="none", zebra_stripes=True)
            for key, label in DETAIL_COLUMNS:
                detail.add_column(label, key=key)
            yield detail

    def _cells_of(self, d: dict[str, Any]) -> tuple:
        style = STATUS_STYLE.get(d["status"], "")
        actual = "-" if d["actualCost"] is None else money(d["actualCost"])
        status = d["status"] + (f" · {d['outcome']}" if d.get("outcome") else "")
        return (
            Ordered(clock_time(d["timestamp"], self.tz), (d["timestamp"], d["decisionId"])),
            Text(d["agent"] or "-"),
            Text(d["taskType"]),
            Text(d["tier"]),
            Text(clip(d["selectedModelName"] or "-", 24), style=style),
            Text(money(d["estimatedCost"]), justify="right"),
            Text(actual, justify="right"),
            Text(status, style=style),
            Text((d["description"] or "").replace("\n", " ")[:200], style="dim"),
        )

    def show(self, state: LedgerState) -> None:
        table = self.query_one("#history-table", DataTable)
        decisions = state.decisions
        seen = set()
        added = False
        with self.app.batch_update():
            for d in decisions:
                key = d["decisionId"]
                seen.add(key)
                cells = self._cells_of(d)
                sig = tuple((c.plain, str(c.style)) for c in cells)
                old = self._cells.get(key)
                if old is None:
                    table.add_row(*cells, key=key)
                    added = True
                elif old != sig:
                    for (col, _), cell, new, was in zip(COLUMNS, cells, sig, old, strict=True):
                        if new != was:
                            table.update_cell(key, col, cell, update_width=True)
                self._cells[key] = sig
            for key in [k for k in self._cells if k not in seen]:
                table.remove_row(key)
                del self._cells[key]
            if added:
                table.sort("time", key=lambda cell: cell.order, reverse=True)
        total = sum(t["decisions"] for t in state.budget["tiers"])
        shown = "" if total <= len(decisions) else f" · the latest {len(decisions):,} shown"
        self.query_one("#history-count", Static).update(
            Text.assemble(
                (f"{total:,} decision{'s' if total != 1 else ''} today", "bold"),
                f" · {money(state.budget['spent'])} · newest first{shown}",
            )
        )

    @on(DataTable.RowHighlighted, "#history-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Selected(self, str(event.row_key.value)))

    def show_detail(self, decision: dict[str, Any]) -> None:
        """Render a decision's stored breakdown (`service.decision(id)`)."""
        self.detail_id = decision["decisionId"]
        detail = decision.get("detail") or {}
        head = Text.assemble(
            (decision["selectedModelName"] or "no model", "bold"),
            f"  {decision['status']}",
            f"  est. {money(decision['estimatedCost'])}",
            f"  actual {money(decision['actualCost']) if decision['actualCost'] is not None else '-'}",
            ("  " + decision["decisionId"], "dim"),
        )
        lines: list[Text] = [head]
        if detail.get("reason"):
            lines.append(Text(detail["reason"], style="italic"))
        w = detail.get("weights")
        if w:
            lines.append(Text("weights " + "  ".join(f"{k} {v:g}" for k, v in w.items()), style="dim"))
        if decision.get("description"):
            lines.append(Text("“" + decision["description"] + "”", style="dim"))
        self.query_one("#history-detail", Static).update(Text("\n").join(lines))
        candidates = self.query_one("#history-candidates", DataTable)
        with self.app.batch_update():
            candidates.clear()
            for c in detail.get("candidates", []):
                style = "bold" if c.get("winner") else ("" if c["eligible"] else "dim")
                cells = (
                    ("★" if c.get("winner") else "") + str(c["rank"]),
                    clip(c["name"], 28),
                    f"{c['capability']:.0f}",
                    num(c["performance"]),
                    num(c["availability"]),
                    num(c["cost"]),
                    f"{c['total']:.4f}",
                    money(c["estimatedCost"]),
                    "winner" if c.get("winner") else (c["reason"] or "eligible"),
                )
                candidates.add_row(
                    *(
                        Text(v, style=style, justify="right" if i in (0, 2, 3, 4, 5, 6, 7) else "left")
                        for i, v in enumerate(cells)
                    )
                )

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

from modelwise.tui.format import Ordered, clip, clock_time, money, money_short
from modelwise.tui.panes.route import LABELS as CANDIDATE_LABELS
from modelwise.tui.panes.route import LEVELS as CANDIDATE_LEVELS
from modelwise.tui.panes.route import candidate_cells
from modelwise.tui.state import LedgerState
from modelwise.tui.widgets.table import Fit, Level, Table, apply_fit, fill_fitted, fit

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
LABELS = dict(COLUMNS)
_ALL = tuple(k for k, _ in COLUMNS)
# First that fits: all columns; the tier dropped (the task type implies it); the agent; the task type;
# costs to two significant digits and times to the minute. The description takes the width left (in full
# under the table once a decision is selected).
_SHORT = tuple(k for k in _ALL if k not in ("tier", "agent", "type"))
LEVELS = (
    Level(_ALL),
    Level(tuple(k for k in _ALL if k != "tier")),
    Level(tuple(k for k in _ALL if k not in ("tier", "agent"))),
    Level(_SHORT),
    Level(_SHORT, fine=False),
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
        self._fitted: Fit | None = None
        self._state: LedgerState | None = None
        self._decision: dict[str, Any] | None = None
        self.detail_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("reading the ledger…", id="history-count")
        table: DataTable = Table(id="history-table", cursor_type="row", fixed_columns=1)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        with Vertical(id="history-detail-box"):
            yield Static("select a decision to see its breakdown", id="history-detail")
            detail: DataTable = Table(
                id="history-candidates", cursor_type="none", zebra_stripes=True, fixed_columns=2
            )
            for key, label in CANDIDATE_LABELS.items():
                detail.add_column(label, key=key)
            yield detail

    def _cells_of(self, d: dict[str, Any], fine: bool = True) -> dict[str, Text]:
        style = STATUS_STYLE.get(d["status"], "")
        dollars = money if fine else money_short
        actual = "-" if d["actualCost"] is None else dollars(d["actualCost"])
        status = d["status"] + (f" · {d['outcome']}" if d.get("outcome") else "")
        return {
            "time": Ordered(
                clock_time(d["timestamp"], self.tz)[: None if fine else 5], (d["timestamp"], d["decisionId"])
            ),
            "agent": Text(d["agent"] or "-"),
            "type": Text(d["taskType"]),
            "tier": Text(d["tier"]),
            "model": Text(clip(d["selectedModelName"] or "-", 24), style=style),
            "estimated": Text(dollars(d["estimatedCost"]), justify="right"),
            "actual": Text(actual, justify="right"),
            "status": Text(status, style=style),
            "description": Text(
                (d["description"] or "").replace("\n", " ")[:200],
                style="dim", overflow="ellipsis", no_wrap=True,
            ),
        }

    def on_resize(self) -> None:
        if self._state is not None:
            self.show(self._state)
        if self._decision is not None:
            self.show_detail(self._decision)

    def _fit(self, decisions: list[dict[str, Any]]) -> Fit:
        width = self.query_one("#history-table", DataTable).size.width
        if not width:
            return self._fitted or Fit(0, _ALL, None)

        made: dict[bool, list[dict[str, str]]] = {}  # the levels differ only in `fine`: made once each

        def plain(level: Level) -> list[dict[str, str]]:
            if level.fine not in made:
                made[level.fine] = [{k: c.plain for k, c in self._cells_of(d, level.fine).items()}
                                    for d in decisions]
            return made[level.fine]

        return fit(LEVELS, LABELS, plain, "description", width)

    def show(self, state: LedgerState) -> None:
        self._state = state
        table = self.query_one("#history-table", DataTable)
        decisions = state.decisions
        chosen = self._fit(decisions)
        fine = LEVELS[chosen.level].fine
        seen = set()
        added = False
        with self.app.batch_update():
            if apply_fit(table, chosen, LABELS, "description"):
                self._cells = {}
            self._fitted = chosen
            for d in decisions:
                key = d["decisionId"]
                seen.add(key)
                by_key = self._cells_of(d, fine)
                cells = [by_key[k] for k in chosen.columns]
                sig = tuple((c.plain, str(c.style)) for c in cells)
                old = self._cells.get(key)
                if old is None:
                    table.add_row(*cells, key=key)
                    added = True
                elif old != sig:
                    for col, cell, new, was in zip(chosen.columns, cells, sig, old, strict=True):
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
        self._decision = decision
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
            fill_fitted(
                candidates, CANDIDATE_LEVELS, CANDIDATE_LABELS, "eligibility", detail.get("candidates", []),
                lambda c, level: candidate_cells(c, level.fine, 28),
            )

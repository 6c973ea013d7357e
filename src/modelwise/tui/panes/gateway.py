"""The gateway pane: today's calls through `modelwise serve`'s gateway, live: calls in flight with their
model, provider and the output tokens streamed so far, actual against reserved cost per call, a failed
attempt and the call that fell back from it, and spend by provider and by agent."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from modelwise.tui.format import clip, clock_time, money_short
from modelwise.tui.widgets.table import Table

COLUMNS = (
    ("time", "time"),
    ("agent", "agent"),
    ("model", "model"),
    ("provider", "provider"),
    ("state", "state"),
    ("tokens", "tokens in/out"),
    ("reserved", "reserved $"),
    ("actual", "actual $"),
    ("note", "note"),
)
STATE_STYLE = {"in flight": "bold cyan", "done": "", "failed": "red"}


def _tokens(call: dict[str, Any]) -> str:
    tin = call.get("inputTokens")
    tout = call.get("outputTokens")
    if call["state"] == "in flight":  # streamed so far (… when not published) of the most allowed
        out = ("…" if tout is None else f"{tout:,}") + f"/{call['maxOutputTokens']:,}"
    else:
        out = "-" if tout is None else f"{tout:,}"
    return f"{'?' if tin is None else f'{tin:,}'}/{out}"


def _note(call: dict[str, Any]) -> str:
    parts = []
    fb = call.get("fallbackFrom")
    if isinstance(fb, dict):
        parts.append(f"fell back from {fb.get('model') or fb.get('decisionId')}"
                     + (f" ({fb['why']})" if fb.get("why") else ""))
    if call["state"] == "failed":
        parts.append(f"upstream {call.get('outcome')}")
    if call.get("taskTypeFrom"):
        parts.append(f"{call['taskType']} by {call['taskTypeFrom']}")
    return "; ".join(parts)


def summary(traffic: dict[str, Any]) -> Text:
    """The pane's headline: calls, in flight, failed, and spend by provider and by agent."""
    n = len(traffic["calls"])
    head = Text.assemble(
        (f"{traffic['day']}  ", "bold"),
        f"{sum(p['calls'] for p in traffic['byProvider'].values())} calls · ",
        (f"{traffic['inFlight']} in flight", "bold cyan" if traffic["inFlight"] else ""),
        " · ",
        (f"{traffic['failed']} failed", "red" if traffic["failed"] else ""),
    )
    if not n:
        head.append("\nno call through the gateway today: point a tool at `modelwise serve`'s /v1", "dim")
        return head
    for title, sums in (("by provider", traffic["byProvider"]), ("by agent", traffic["byAgent"])):
        shown = ", ".join(f"{k} {money_short(v['spent'])} ({v['calls']})" for k, v in list(sums.items())[:6])
        head.append(f"\n{title}: ", "dim")
        head.append(shown)
    return head


class GatewayPane(Vertical, can_focus=True):
    """Filled by `show(traffic)` from `service.gateway_traffic()`; rows keyed by decision id, updated in
    place as calls stream and settle."""

    BORDER_TITLE = "Gateway"

    def __init__(self, tz: Any = None, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.tz = tz
        self._cells: dict[str, tuple] = {}

    def compose(self) -> ComposeResult:
        yield Static("reading the ledger…", id="gateway-summary")
        table: DataTable = Table(id="gateway-table", cursor_type="row")
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table

    def _row(self, c: dict[str, Any]) -> tuple:
        actual = c.get("actualCost")
        return (
            clock_time(c["timestamp"], self.tz),
            clip(c.get("agent") or "", 16),
            clip(c.get("modelName") or c.get("model") or "", 28),
            c.get("provider") or "",
            Text(c["state"], style=STATE_STYLE.get(c["state"], "")),
            _tokens(c),
            money_short(c["reserved"]),
            "" if actual is None else money_short(actual),
            clip(_note(c), 60),
        )

    def show(self, traffic: dict[str, Any]) -> None:
        self.query_one("#gateway-summary", Static).update(summary(traffic))
        table = self.query_one("#gateway-table", DataTable)
        wanted = [c["decisionId"] for c in traffic["calls"]]
        if [str(k.value) for k in table.rows] != wanted:
            table.clear()
            self._cells = {}
            for c in traffic["calls"]:
                cells = self._row(c)
                table.add_row(*cells, key=c["decisionId"])
                self._cells[c["decisionId"]] = cells
            return
        for c in traffic["calls"]:
            cells = self._row(c)
            if self._cells.get(c["decisionId"]) != cells:
                for (key, _), value in zip(COLUMNS, cells, strict=True):
                    table.update_cell(c["decisionId"], key, value)
                self._cells[c["decisionId"]] = cells

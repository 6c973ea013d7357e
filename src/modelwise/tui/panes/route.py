"""The route form: task type, description, budget and weights, with the live per-model breakdown."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Label, Select, Static

from modelwise.core.calibration import EMPTY
from modelwise.core.errors import BadInput
from modelwise.core.settings import WEIGHT_NAMES, Weights
from modelwise.service import TokenOptimizationService
from modelwise.tui.format import clip, flip_words, money, num
from modelwise.tui.state import LedgerState
from modelwise.tui.widgets.validators import BudgetValidator
from modelwise.tui.widgets.weights import WeightControl

TOP = 50
COLUMNS = (
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


@dataclass(frozen=True)
class Task:
    """What the form describes, ready for the service."""

    task_type: str
    description: str
    budget: str | None
    weights: Weights


class RoutePane(Vertical):
    """Re-ranks on every change of type, description, budget or weight (coalesced), showing the top
    `TOP` models by keyed position rows, the winner, its margin and the flip point."""

    BORDER_TITLE = "Route"

    weights: reactive[Weights] = reactive(Weights())
    ledger_state: reactive[LedgerState | None] = reactive(None, always_update=True)

    class Changed(Message):
        """The form changed; many in a row collapse into the newest one."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RoutePane.Changed)

    def __init__(
        self, service: TokenOptimizationService, *, id: str | None = None, classes: str | None = None
    ):
        super().__init__(id=id, classes=classes)
        self.service = service
        types = service.settings.task_types
        self.default_type = "code_generation" if "code_generation" in types else types[0]
        self.set_reactive(RoutePane.weights, service.settings.weights)
        self.breakdown: dict[str, Any] | None = None
        self.problem: str | None = None
        self.last_result: dict[str, Any] | None = None
        self.recomputes = 0
        self.last_recompute_ms = 0.0
        self.recomputed_at = 0.0
        self._computed: tuple | None = None
        self._cells: dict[str, tuple] = {}

    def compose(self) -> ComposeResult:
        types = self.service.settings.task_types
        with Horizontal(id="route-form"):
            yield Select(
                [(t, t) for t in types],
                value=self.default_type,
                allow_blank=False,
                compact=True,
                id="task-type",
            )
            yield Input(placeholder="describe the task…", compact=True, id="description")
            yield Input(
                placeholder="budget $",
                compact=True,
                id="task-budget",
                validators=[BudgetValidator()],
                validate_on=["changed", "submitted"],
            )
        with Horizontal(id="weights"):
            yield Label("weights", id="weights-label")
            for name in WEIGHT_NAMES:
                yield WeightControl(name, id=f"w-{name}").data_bind(RoutePane.weights)
        yield Static(id="verdict")
        table: DataTable = DataTable(id="breakdown", cursor_type="row")
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static(id="breakdown-note")

    def on_mount(self) -> None:
        self.query_one(
            "#task-budget", Input
        ).tooltip = "Most this task may cost, USD (empty: the type's default)"
        self.recompute()

    # -- what the form says ----------------------------------------------------------------------

    def task(self) -> Task:
        """The task as the form describes it. Raises BadInput when the budget is refused."""
        budget_input = self.query_one("#task-budget", Input)
        result = budget_input.validate(budget_input.value)
        if result is not None and not result.is_valid:
            raise BadInput(result.failure_descriptions[0])
        text = budget_input.value.strip().removeprefix("$").strip()
        value = self.query_one("#task-type", Select).value
        task_type = value if isinstance(value, str) else self.default_type
        return Task(task_type, self.query_one("#description", Input).value, text or None, self.weights)

    # -- changes ---------------------------------------------------------------------------------

    @on(Input.Changed, "#description, #task-budget")
    @on(Select.Changed, "#task-type")
    def _form_changed(self) -> None:
        self.post_message(self.Changed())

    @on(WeightControl.Nudged)
    def _nudged(self, event: WeightControl.Nudged) -> None:
        event.stop()
        current = getattr(self.weights, event.name)
        value = round(max(0.0, current + event.delta), 4)
        try:
            self.weights = Weights.checked(*self.weights.replace(event.name, value).as_tuple())
        except ValueError as exc:
            self.app.bell()
            self.notify(str(exc), severity="warning", timeout=3)

    def watch_weights(self) -> None:
        self.post_message(self.Changed())

    def watch_ledger_state(self) -> None:
        self.post_message(self.Changed())

    @on(Changed)
    def _on_changed(self, event: Changed) -> None:
        event.stop()
        self.recompute()

    def reset_weights(self, weights: Weights) -> None:
        self.weights = weights

    # -- the breakdown ---------------------------------------------------------------------------

    def recompute(self) -> None:
        """Ask the service for the breakdown (cached ranking, no ledger access) and show it."""
        started = time.perf_counter()
        self.recomputes += 1
        try:
            self._recompute()
        finally:
            self.recomputed_at = time.perf_counter()
            self.last_recompute_ms = (self.recomputed_at - started) * 1000.0

    def _recompute(self) -> None:
        state = self.ledger_state
        try:
            task = self.task()
        except BadInput as exc:
            self.problem = str(exc)
            self._computed = None
            self._show_verdict()
            return
        key = (task, None if state is None else (state.version, state.day, state.calibration.version))
        if key == self._computed:  # e.g. the Changed a widget posts when it mounts
            return
        self._computed = key
        try:
            self.breakdown = self.service.breakdown(
                task.task_type,
                task.description,
                task.budget,
                task.weights,
                spent_by_tier=None if state is None else state.spent_by_tier,
                calibration=EMPTY if state is None else state.calibration,
                top=TOP,
            )
            self.problem = None
        except BadInput as exc:
            self.problem = str(exc)
        self._show_verdict()
        if self.breakdown is not None:
            self._show_rows(self.breakdown["candidates"])
            self._show_note()

    def show_result(self, result: dict[str, Any]) -> None:
        self.last_result = result
        self._show_verdict()

    def _show_verdict(self) -> None:
        b = self.breakdown
        lines: list[Text] = []
        if b is not None:
            win = b["winner"]
            if win is None:
                lines.append(Text.assemble(("refused: ", "bold red"), b["reason"]))
            else:
                head = Text.assemble(("★ ", "bold"), (win["name"], "bold"), f"  {win['total']:.4f}")
                if b["margin"] is not None:
                    head.append(f"  +{b['margin']:.4f} over {b['runnerUp']['name']}")
                head.append(f"  · est. {money(b['estimatedCost'])}", style="dim")
                if b["status"] != "routed":
                    head.append(f"  [{b['status']}]", style="bold yellow")
                lines.append(head)
            tokens = b["estimatedTokens"]
            room = (
                "no budget check yet"
                if b["limit"] is None
                else f"{money(b['limit'])} left for the {b['tier']} tier"
            )
            lines.append(
                Text(
                    f"{b['eligible']:,} of {b['models']:,} models eligible · {tokens['input']:,} in + "
                    f"{tokens['output']:,} out tokens · task budget {money(b['taskBudget'])} · {room}",
                    style="dim",
                )
            )
            words = flip_words(b)
            lines.append(
                Text("flip: " + words) if words else Text("flip: no single weight change flips it", "dim")
            )
            for w in b["warnings"][:1]:
                lines.append(Text("warning: " + w, style="yellow"))
        if self.problem:
            lines.append(Text(self.problem, style="bold red"))
        elif self.last_result is not None:
            r = self.last_result
            what = "dry run" if r["status"] == "dry-run" else f"recorded {r.get('decisionId') or ''}".strip()
            model = r.get("selectedModelName") or "no model"
            lines.append(
                Text(
                    f"last: {what} → {model} ({r.get('wouldBe') or r['status']}, "
                    f"{money(r['estimatedCost'])})",
                    style="italic",
                )
            )
        self.query_one("#verdict", Static).update(Text("\n").join(lines))

    @on(DataTable.RowHighlighted, "#breakdown")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_note()

    def _show_note(self) -> None:
        """The highlighted model's eligibility in full (the column is cut on a narrow terminal)."""
        table = self.query_one("#breakdown", DataTable)
        rows = self.breakdown["candidates"] if self.breakdown else []
        row = table.cursor_row
        note = Text()
        if 0 <= row < len(rows):
            c = rows[row]
            why = "winner" if c["winner"] else (c["reason"] or "eligible")
            note = Text.assemble((f"#{c['rank']} {c['name']}: ", "bold"), why)
            extra = self.breakdown["models"] - len(rows)
            if extra > 0:
                note.append(f"  (top {len(rows)} of {self.breakdown['models']:,} shown)", style="dim")
        self.query_one("#breakdown-note", Static).update(note)

    def _show_rows(self, rows: list[dict[str, Any]]) -> None:
        """Rows keyed by position: only cells that changed are updated; rows added or removed at the end."""
        table = self.query_one("#breakdown", DataTable)
        wanted = [f"r{i}" for i in range(len(rows))]
        with self.app.batch_update():
            for key in list(self._cells)[len(rows) :]:
                table.remove_row(key)
                del self._cells[key]
            for key, row in zip(wanted, rows, strict=True):
                cells = self._cells_of(row)
                sig = tuple((c.plain, str(c.style)) for c in cells)
                old = self._cells.get(key)
                if old is None:
                    table.add_row(*cells, key=key)
                elif old != sig:
                    for (col, _), cell, new, was in zip(COLUMNS, cells, sig, old, strict=True):
                        if new != was:
                            table.update_cell(key, col, cell, update_width=True)
                self._cells[key] = sig

    @staticmethod
    def _cells_of(row: dict[str, Any]) -> tuple[Text, ...]:
        style = "bold" if row["winner"] else ("" if row["eligible"] else "dim")
        eligibility = "winner" if row["winner"] else (row["reason"] or "eligible")
        rank = ("★" if row["winner"] else "") + str(row["rank"])
        name = clip(row["name"], 24) + ("" if row["rated"] else " (unrated)")
        return (
            Text(rank, style=style, justify="right"),
            Text(name, style=style),
            Text(f"{row['capability']:.0f}", style=style, justify="right"),
            Text(num(row["performance"]), style=style, justify="right"),
            Text(num(row["availability"]), style=style, justify="right"),
            Text(num(row["cost"]), style=style, justify="right"),
            Text(f"{row['total']:.4f}", style=style, justify="right"),
            Text(money(row["estimatedCost"]), style=style, justify="right"),
            Text(eligibility, style=style),
        )

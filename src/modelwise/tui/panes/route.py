"""The route form: task type, description, budget and weights, with the live per-model breakdown, why
the winner wins, the live what-if for today under the form's weights and the sensitivity grid."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Label, Select, Static

from modelwise.core.calibration import EMPTY
from modelwise.core.errors import BadInput
from modelwise.core.explain import grid_current_cell
from modelwise.core.settings import WEIGHT_NAMES, Weights
from modelwise.service import TokenOptimizationService
from modelwise.tui.coalesce import LatestOnly
from modelwise.tui.format import clip, flip_words, lead_words, money, money_short, num, shown, whatif_words
from modelwise.tui.state import LedgerState, Winner
from modelwise.tui.widgets.table import Fit, Level, Table, apply_fit, fit
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
LABELS = dict(COLUMNS)
_ALL = tuple(k for k, _ in COLUMNS)
# The breakdown's levels, first that fits: all columns; numbers rounded; the capability column (0 or 1,
# the eligibility says why) dropped; the eligibility dropped (the note under the table says it for the
# highlighted row); availability dropped. The eligibility takes what width is left.
_NO_CAP = tuple(k for k in _ALL if k != "capability")
_NO_TEXT = tuple(k for k in _NO_CAP if k != "eligibility")
LEVELS = (
    Level(_ALL),
    Level(_ALL, fine=False),
    Level(_NO_CAP, fine=False),
    Level(_NO_TEXT, fine=False),
    Level(tuple(k for k in _NO_TEXT if k != "availability"), fine=False),
)
GRID_COLORS = ("cyan", "magenta", "yellow", "green", "bright_blue", "red")


def candidate_cells(row: dict[str, Any], fine: bool = True, name_width: int = 24) -> dict[str, Text]:
    """A breakdown row's cells by column key; `fine` False: scores to two places, the total to three, the
    estimate to two significant digits."""
    winner = row.get("winner")
    style = "bold" if winner else ("" if row["eligible"] else "dim")
    eligibility = "winner" if winner else (row["reason"] or "eligible")
    rank = ("★" if winner else "") + str(row["rank"])
    name = clip(row["name"], name_width) + ("" if row.get("rated", True) else " (unrated)")
    if row.get("free"):
        name += " (free)"
    digits = 3 if fine else 2
    return {
        "rank": Text(rank, style=style, justify="right"),
        "model": Text(name, style=style),
        "capability": Text(f"{row['capability']:.0f}", style=style, justify="right"),
        "performance": Text(num(row["performance"], digits), style=style, justify="right"),
        "availability": Text(num(row["availability"], digits), style=style, justify="right"),
        "cost": Text(num(row["cost"], digits), style=style, justify="right"),
        "total": Text(f"{row['total']:.{4 if fine else 3}f}", style=style, justify="right"),
        "estimated": Text(
            (money if fine else money_short)(row["estimatedCost"]), style=style, justify="right"
        ),
        "eligibility": Text(eligibility, style=style, overflow="ellipsis", no_wrap=True),
    }


@dataclass(frozen=True)
class Task:
    """What the form describes, ready for the service."""

    task_type: str
    description: str
    budget: float | None  # what BudgetValidator accepted (None: the task type's default)
    weights: Weights


class RoutePane(Vertical):
    """Re-ranks on every change of type, description, budget or weight (coalesced), showing the top
    `TOP` models by keyed position rows, the winner, its margin, its lead by component and the flip
    point. The what-if line (today's decisions replayed under the form's weights) and the sensitivity
    grid (shown in place of the table, `toggle_grid`) are computed in thread workers, one run at a time
    with the newest form (`LatestOnly`), so the re-rank on a keystroke never waits for them."""

    BORDER_TITLE = "Route"

    weights: reactive[Weights] = reactive(Weights())
    ledger_state: reactive[LedgerState | None] = reactive(None, always_update=True)

    class Changed(Message):
        """The form changed; many in a row collapse into the newest one."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RoutePane.Changed)

    @dataclass
    class WinnerChanged(Message):
        """The form's winner changed (the registry's chart marks it)."""

        winner: Winner

    @dataclass
    class WhatIfDone(Message):
        """A what-if run finished: `result` is `service.whatif_today`'s answer, None when it failed."""

        key: tuple
        result: dict[str, Any] | None

    @dataclass
    class GridDone(Message):
        """A sensitivity-grid run finished: `grid` is `service.sensitivity_grid`'s, None when it failed."""

        key: tuple
        grid: dict[str, Any] | None

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
        self._fitted: Fit | None = None
        self.winner: Winner | None = None
        self.whatif: dict[str, Any] | None = None  # the shown what-if: whatif_today's answer
        self.whatif_weights: Weights | None = None  # the weights it is for
        self._whatif = LatestOnly[tuple](self.whatif_worker)
        self.grid_shown = False
        self.grid: dict[str, Any] | None = None  # the shown grid: sensitivity_grid's answer
        self._grid = LatestOnly[tuple](self.grid_worker)
        self._grid_shape: tuple | None = None

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
        yield Static("today under these weights: reading the ledger…", id="whatif")
        table: DataTable = Table(id="breakdown", cursor_type="row", fixed_columns=2)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static(id="breakdown-note")
        with Vertical(id="grid-box"):
            yield Static(id="grid-title")
            with Horizontal(id="grid-row"):
                yield Table(id="grid", cursor_type="none", show_cursor=False, zebra_stripes=False)
                yield Static(id="grid-legend")

    def on_mount(self) -> None:
        self.query_one(
            "#task-budget", Input
        ).tooltip = "Most this task may cost, USD (empty: the type's default)"
        self.call_after_refresh(self.recompute)  # the first frame does not wait for the first ranking

    # -- what the form says ----------------------------------------------------------------------

    def form_task(self) -> Task:
        """The task as the form describes it. Raises BadInput when the budget is refused."""
        budget_input = self.query_one("#task-budget", Input)
        result = budget_input.validate(budget_input.value)
        if result is not None and not result.is_valid:
            raise BadInput(result.failure_descriptions[0])
        text = budget_input.value.strip().removeprefix("$").strip()
        value = self.query_one("#task-type", Select).value
        task_type = value if isinstance(value, str) else self.default_type
        budget = float(text) if text else None
        return Task(task_type, self.query_one("#description", Input).value, budget, self.weights)

    # -- changes ---------------------------------------------------------------------------------

    @on(Input.Changed, "#description, #task-budget")
    @on(Select.Changed, "#task-type")
    def _form_changed(self, event: Input.Changed | Select.Changed) -> None:
        if isinstance(event, Input.Changed) and (safe := shown(event.value)) != event.value:
            event.input.value = safe  # a pasted control character is kept as its escape, never drawn raw
            return  # the value's own Changed follows
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
        self._want_whatif()
        self._want_grid()

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
            task = self.form_task()
        except BadInput as exc:
            self.problem = str(exc)
            self._computed = None
            self._show_verdict()
            return
        key = (
            task,
            self.service.generation,  # the config or registry was read again
            None if state is None else (state.version, state.day, state.calibration.version),
        )
        if key == self._computed:  # e.g. the Changed a widget posts when it mounts
            return
        self._computed = key
        try:
            self.breakdown = shown(self.service.breakdown(
                task.task_type,
                task.description,
                task.budget,
                task.weights,
                spent_by_tier=None if state is None else state.spent_by_tier,
                calibration=EMPTY if state is None else state.calibration,
                top=TOP,
            ))
            self.problem = None
        except BadInput as exc:
            self.problem = shown(str(exc))
        self._show_verdict()
        if self.breakdown is not None:
            self._show_rows(self.breakdown["candidates"])
            self._show_note()
            win = self.breakdown["winner"]
            winner = Winner(task.task_type, win and win["model"], win and win["name"])
            if winner != self.winner:
                self.winner = winner
                self.post_message(self.WinnerChanged(winner))

    def show_result(self, result: dict[str, Any]) -> None:
        self.last_result = shown(result)
        self._show_verdict()

    def _show_verdict(self) -> None:
        """The winner, the eligible count and budgets, why it wins and the flip point, a line each: the
        long wording when it fits the pane's width, else a shorter one with the numbers first (a line
        longer still is cut at its end, which holds words, not numbers)."""
        b = self.breakdown
        width = self.query_one("#verdict").content_size.width or self.content_size.width or 10**6

        def fitting(long: Text, short: Text) -> Text:
            return long if long.cell_len <= width else short

        lines: list[Text] = []
        if b is not None:
            win = b["winner"]
            if win is None:
                lines.append(Text.assemble(("refused: ", "bold red"), b["reason"]))
            else:
                head = Text.assemble(("★ ", "bold"), (win["name"], "bold"), f"  {win['total']:.4f}")
                head.append(f"  · est. {money(b['estimatedCost'])}", style="dim")
                if b["status"] != "routed":
                    head.append(f"  [{b['status']}]", style="bold yellow")
                if b["margin"] is not None:
                    head.append(f"  +{b['margin']:.4f} over {b['runnerUp']['name']}")
                lines.append(head)
            tokens = b["estimatedTokens"]
            room = (
                "no budget check yet"
                if b["limit"] is None
                else f"{money(b['limit'])} left for the {b['tier']} tier"
            )
            short_room = room if b["limit"] is None else f"{b['tier']} {money(b['limit'])} left"
            lines.append(
                fitting(
                    Text(
                        f"{b['eligible']:,} of {b['models']:,} models eligible · {tokens['input']:,} in + "
                        f"{tokens['output']:,} out tokens · task budget {money(b['taskBudget'])} · {room}",
                        style="dim",
                    ),
                    Text(
                        f"{b['eligible']:,}/{b['models']:,} eligible · "
                        f"{tokens['input']:,}+{tokens['output']:,} tok · task {money(b['taskBudget'])} · "
                        f"{short_room}",
                        style="dim",
                    ),
                )
            )
            why = lead_words(b)
            if why:
                lines.append(fitting(Text("why: " + why), Text("why: " + (lead_words(b, short=True) or ""))))
            words = flip_words(b)
            if words:
                short_words = flip_words(b, short=True) or ""
                lines.append(fitting(Text("flip: " + words), Text("flip: " + short_words)))
            else:
                lines.append(Text("flip: no single weight change flips it", "dim"))
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
        breakdown = self.breakdown
        rows = breakdown["candidates"] if breakdown else []
        row = table.cursor_row
        note = Text()
        if breakdown and 0 <= row < len(rows):
            c = rows[row]
            why = "winner" if c["winner"] else (c["reason"] or "eligible")
            note = Text.assemble((f"#{c['rank']} {c['name']}: ", "bold"), why)
            extra = breakdown["models"] - len(rows)
            if extra > 0:
                note.append(f"  (top {len(rows)} of {breakdown['models']:,} shown)", style="dim")
        self.query_one("#breakdown-note", Static).update(note)

    def on_resize(self) -> None:
        if self.breakdown is not None:
            self._show_verdict()
            self._show_rows(self.breakdown["candidates"])

    def _fit(self, rows: list[dict[str, Any]]) -> Fit:
        table = self.query_one("#breakdown", DataTable)
        width = table.size.width or self.content_size.width
        if not width:  # not laid out yet (a hidden pane): as it was
            return self._fitted or Fit(0, _ALL, None)

        made: dict[bool, list[dict[str, str]]] = {}  # the levels differ only in `fine`: made once each

        def plain(level: Level) -> list[dict[str, str]]:
            if level.fine not in made:
                made[level.fine] = [
                    {k: c.plain for k, c in self._cells_of(r, level.fine).items()} for r in rows
                ]
            return made[level.fine]

        return fit(LEVELS, LABELS, plain, "eligibility", width)

    def _show_rows(self, rows: list[dict[str, Any]]) -> None:
        """Rows keyed by position: only cells that changed are updated; rows added or removed at the end.
        The columns are those of the first level that fits the width (`LEVELS`)."""
        table = self.query_one("#breakdown", DataTable)
        chosen = self._fit(rows)
        fine = LEVELS[chosen.level].fine
        wanted = [f"r{i}" for i in range(len(rows))]
        with self.app.batch_update():
            if apply_fit(table, chosen, LABELS, "eligibility"):
                self._cells = {}
            self._fitted = chosen
            for key in list(self._cells)[len(rows) :]:
                table.remove_row(key)
                del self._cells[key]
            for key, row in zip(wanted, rows, strict=True):
                by_key = self._cells_of(row, fine)
                cells = [by_key[k] for k in chosen.columns]
                sig = tuple((c.plain, str(c.style)) for c in cells)
                old = self._cells.get(key)
                if old is None:
                    table.add_row(*cells, key=key)
                elif old != sig:
                    for col, cell, new, was in zip(chosen.columns, cells, sig, old, strict=True):
                        if new != was:
                            table.update_cell(key, col, cell, update_width=True)
                self._cells[key] = sig

    @staticmethod
    def _cells_of(row: dict[str, Any], fine: bool = True) -> dict[str, Text]:
        return candidate_cells(row, fine)

    # -- what if: today's decisions under the form's weights ------------------------------------

    def _want_whatif(self) -> None:
        state = self.ledger_state
        if state is None:  # the ledger is read first; the what-if reads it again
            return
        key = (self.weights, state.version, state.day, state.calibration.version, self.service.generation)
        if key != self._whatif.wanted:
            self.query_one("#whatif").add_class("-stale")  # until the answer for these weights comes
            self._whatif.want(key)

    @work(thread=True, exit_on_error=False, group="whatif", name="what-if")
    def whatif_worker(self, key: tuple) -> None:
        svc = self.service
        result = None
        try:
            result = svc.whatif_today(key[0])
        finally:
            svc.release_thread()
            self.post_message(self.WhatIfDone(key, result))

    @on(WhatIfDone)
    def _whatif_done(self, message: WhatIfDone) -> None:
        message.stop()
        if not self._whatif.done() or message.result is None:
            return  # a newer run is on its way (or the app reports the failure)
        self.whatif, self.whatif_weights = shown(message.result), message.key[0]
        line = self.query_one("#whatif", Static)
        line.update(whatif_words(self.whatif))
        line.remove_class("-stale")

    # -- the sensitivity grid ----------------------------------------------------------------------

    def toggle_grid(self) -> None:
        self.grid_shown = not self.grid_shown
        self.set_class(self.grid_shown, "-grid")
        self._want_grid()

    def _want_grid(self) -> None:
        if not self.grid_shown:
            return
        try:
            task = self.form_task()
        except BadInput:
            return
        state = self.ledger_state
        key = (task, self.service.generation, None if state is None else (state.version, state.day))
        if key != self._grid.wanted:
            self.query_one("#grid-title", Static).update(Text("winner by weight: computing…", style="dim"))
            self._grid.want(key)

    @work(thread=True, exit_on_error=False, group="grid", name="sensitivity grid")
    def grid_worker(self, key: tuple) -> None:
        task: Task = key[0]
        svc = self.service
        grid = None
        try:
            grid = svc.sensitivity_grid(task.task_type, task.description, task.budget, weights=task.weights)
        finally:
            svc.release_thread()
            self.post_message(self.GridDone(key, grid))

    @on(GridDone)
    def _grid_done(self, message: GridDone) -> None:
        message.stop()
        if not self._grid.done() or message.grid is None:
            return
        self.grid = shown(message.grid)
        self._show_grid(self.grid)

    def _show_grid(self, g: dict[str, Any]) -> None:
        """The grid as a table keyed by row and column (cells updated in place), a letter per model."""
        rows, cols = g["rows"], g["cols"]
        table = self.query_one("#grid", DataTable)
        shape = (rows["weight"], tuple(rows["values"]), cols["weight"], tuple(cols["values"]))
        if shape != self._grid_shape:
            table.clear(columns=True)
            table.add_column(f"{rows['weight']} \\ {cols['weight']}", key="row")
            for j, v in enumerate(cols["values"]):
                table.add_column(Text(f"{v:g}", justify="center"), key=f"c{j}")
            for i, v in enumerate(rows["values"]):
                table.add_row(Text(f"{v:g}", justify="right"), *([""] * len(cols["values"])), key=f"g{i}")
            self._grid_shape = shape
        legend = g["legend"]
        color = {mid: GRID_COLORS[k % len(GRID_COLORS)] for k, mid in enumerate(legend)}
        here = grid_current_cell(g)
        with self.app.batch_update():
            for i, line in enumerate(g["winners"]):
                for j, mid in enumerate(line):
                    mark = "·" if mid is None else legend[mid]["mark"]
                    style = "dim" if mid is None else f"bold {color[mid]}"
                    if (i, j) == here:
                        cell = Text(f"[{mark}]", style=style + " reverse", justify="center")
                    else:
                        cell = Text(mark, style=style, justify="center")
                    table.update_cell(f"g{i}", f"c{j}", cell)
        self.query_one("#grid-title", Static).update(
            Text(
                f"who wins: {rows['weight']} weight (rows) × {cols['weight']} weight (columns), "
                "the others kept",
                style="dim",
            )
        )
        lines = [
            Text.assemble((f"{info['mark']} ", f"bold {color[mid]}"), clip(info["name"], 30))
            for mid, info in legend.items()
        ]
        lines.append(Text("[ ] the form's weights", style="dim"))
        if any(mid is None for line in g["winners"] for mid in line):
            lines.append(Text("· no model or no weight", style="dim"))
        self.query_one("#grid-legend", Static).update(Text("\n").join(lines))

"""The budget pane: today's spend against the daily budget, the tiers' allocations, spend over the day
and today's alerts."""

from __future__ import annotations

from contextlib import suppress

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import ProgressBar, Sparkline, Static

from modelwise.tui.format import clock_time, money
from modelwise.tui.state import LedgerState
from modelwise.tui.widgets.tierbar import TierBar


class BudgetPane(Vertical, can_focus=True):
    """Filled from a `LedgerState` by `show`; the gauge turns warning-coloured at the alert threshold and
    error-coloured at the limit. Focusable, so Tab reaches it like every other pane (and the arrow keys
    scroll it where it does not fit)."""

    BORDER_TITLE = "Budget"

    def __init__(self, tiers: tuple[str, ...], tz=None, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.tiers = tiers
        self.tz = tz
        self.level = "ok"

    def compose(self) -> ComposeResult:
        yield Static("reading the ledger…", id="budget-headline")
        yield ProgressBar(total=1.0, show_eta=False, id="gauge")
        yield Static("tiers: settled █  reserved ▒  free ░", classes="section")
        for name in self.tiers:
            yield TierBar(id=f"tier-{name}")
        yield Static("spend since midnight", id="spend-title", classes="section")
        yield Sparkline([0.0], summary_function=max, id="spend-line")
        yield Static(id="alerts")

    def show(self, state: LedgerState) -> None:
        b = state.budget
        daily, spent = b["dailyBudget"], b["spent"]
        share = spent / daily if daily > 0 else (1.0 if spent > 0 else 0.0)
        self.level = "over" if share >= 1.0 - 1e-12 else "warn" if share >= b["alertThreshold"] else "ok"
        gauge = self.query_one("#gauge", ProgressBar)
        gauge.set_class(self.level == "warn", "-warn")
        gauge.set_class(self.level == "over", "-over")
        gauge.update(total=max(daily, 1e-9), progress=min(spent, daily))
        headline = Text.assemble(
            (f"{b['day']}  ", "bold"),
            f"spent {money(spent)} of {money(daily)} · ",
            (f"{money(b['remaining'])} left", "bold" if self.level == "ok" else "bold red"),
            (f" · alert at {b['alertThreshold']:.0%}", "dim"),
        )
        self.query_one("#budget-headline", Static).update(headline)
        for tier in b["tiers"]:
            with suppress(NoMatches):  # a tier the config gained after start shows on the next start
                self.query_one(f"#tier-{tier['tier']}", TierBar).data = tier
        sp = state.spend
        self.query_one("#spend-line", Sparkline).data = sp["cumulative"] or [0.0]
        self.query_one("#spend-title", Static).update(
            f"spend since midnight ({sp['bucketMinutes']}-minute steps): "
            f"{money(sp['cumulative'][-1] if sp['cumulative'] else 0.0)} by now"
        )
        alerts = b["alerts"]
        if alerts:
            lines = [
                Text.assemble(
                    (clock_time(a["ts"], self.tz) + "  ", "bold"),
                    (a["message"], "red" if a["threshold"] >= 1 else "yellow"),
                )
                for a in alerts
            ]
            self.query_one("#alerts", Static).update(
                Text.assemble(Text("alerts today", style="bold"), "\n", Text("\n").join(lines))
            )
        else:
            self.query_one("#alerts", Static).update(Text("no alerts today", style="dim"))

"""Quality against blended price for one task type (issue 7): the rated capable models as dots, the
cost/quality frontier as a line and the route form's winner as a star, price on a log axis.

Imported only when the chart is first shown (plotext costs start-up time). The points come from
`service.quality_price`; this widget only places them."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual_plotext import PlotextPlot

from modelwise.tui.state import Winner

MODELS_COLOR = "blue"
FRONTIER_COLOR = "green"
WINNER_COLOR = "red"
WINNER_MARK = "★"


def log_x(prices: list[float]) -> tuple[list[float], float | None]:
    """Prices as log10 x positions. A free model (price 0) has no place on a log axis: it is put one
    decade left of the cheapest priced model (the axis labels that spot "free"); returned as the second
    value (None when no model is free)."""
    priced = [p for p in prices if p > 0]
    low = math.floor(math.log10(min(priced))) if priced else -5
    free_x = low - 1.0
    xs = [math.log10(p) if p > 0 else free_x for p in prices]
    return xs, (free_x if any(p <= 0 for p in prices) else None)


def _price_label(decade: int) -> str:
    return f"${10.0**decade:.{max(0, -decade)}f}"


class QualityPriceChart(PlotextPlot, can_focus=True):
    """`show(data, winner)` draws `service.quality_price(type)`; the star only when the winner is for
    the same task type and is one of the drawn (rated) models."""

    DEFAULT_CSS = "QualityPriceChart { height: 1fr; min-height: 8; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.data: dict[str, Any] | None = None
        self.winner: Winner | None = None

    def show(self, data: dict[str, Any] | None, winner: Winner | None) -> None:
        if data is self.data and winner == self.winner:
            return
        self.data, self.winner = data, winner
        self._draw()
        self.refresh()

    def marked_winner(self) -> dict[str, Any] | None:
        """The winner's point when it is drawn."""
        d, w = self.data, self.winner
        if d is None or w is None or w.task_type != d["taskType"]:
            return None
        return next((m for m in d["models"] if m["id"] == w.model), None)

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        d = self.data
        if d is None or not d["models"]:
            plt.title("no rated model for this task type")
            return
        models, frontier = d["models"], d["frontier"]
        xs, free_x = log_x([m["blendedPer1k"] for m in models])
        x_of = {m["id"]: x for m, x in zip(models, xs, strict=True)}
        plt.scatter(xs, [m["quality"] for m in models], marker="dot", color=MODELS_COLOR)
        fx, fy = [x_of[m["id"]] for m in frontier], [m["quality"] for m in frontier]
        plt.plot(fx, fy, marker="braille", color=FRONTIER_COLOR)
        plt.scatter(fx, fy, marker="o", color=FRONTIER_COLOR)
        win = self.marked_winner()
        if win is not None:
            plt.scatter([x_of[win["id"]]], [win["quality"]], marker=WINNER_MARK, color=WINNER_COLOR)
        lo, hi = math.floor(min(xs)), math.ceil(max(xs))
        decades = list(range(lo, hi + 1))
        labels = ["free" if free_x is not None and t == free_x else _price_label(t) for t in decades]
        plt.xticks([float(t) for t in decades], labels)
        plt.xlim(lo - 0.1, hi + 0.1)
        plt.xlabel("blended $ per 1k tokens (log)")
        plt.ylabel("quality")


def legend(chart: QualityPriceChart) -> Text:
    """One line under the chart: what the dots, the line and the star are."""
    data, w = chart.data, chart.winner
    if data is None:
        return Text("choose a task type", style="dim")
    out = Text.assemble(
        ("• ", MODELS_COLOR),
        f"{len(data['models']):,} rated models  ",
        ("o─ ", FRONTIER_COLOR),
        f"frontier ({len(data['frontier'])})  ",
    )
    win = chart.marked_winner()
    if win is not None:
        out.append_text(Text.assemble((f"{WINNER_MARK} ", WINNER_COLOR), f"winner {win['name']}"))
    elif w is None:
        pass
    elif w.task_type != data["taskType"]:
        out.append(f"no {WINNER_MARK}: the route form is on {w.task_type}", style="dim")
    elif w.model is None:
        out.append("no winner: the route form's task is refused", style="dim")
    else:
        out.append(f"winner {w.name} is unrated: not drawn", style="dim")
    return out

"""A tier's allocation bar: settled and reserved spend against what the tier is allocated today."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from modelwise.tui.format import money


class TierBar(Widget):
    """Two lines: the bar (settled █, reserved ▒, free ░) and the figures."""

    COMPONENT_CLASSES = {"tierbar--settled", "tierbar--reserved", "tierbar--free", "tierbar--over"}
    DEFAULT_CSS = """
    TierBar { height: 2; }
    TierBar > .tierbar--settled { color: $primary; }
    TierBar > .tierbar--reserved { color: $accent; }
    TierBar > .tierbar--free { color: $foreground 25%; }
    TierBar > .tierbar--over { color: $error; }
    """

    data: reactive[dict[str, Any] | None] = reactive(None)

    def render(self) -> RenderableType:
        d = self.data
        if d is None:
            return Text("…")
        name = f"{d['tier']:<8}"
        alloc = d["allocated"]
        settled, reserved = d["settled"], d["reserved"]
        spent = settled + reserved
        share = spent / alloc if alloc > 0 else (1.0 if spent > 0 else 0.0)
        tail = f" {share:>4.0%} of {money(alloc)}"
        width = max(self.size.width - len(name) - len(tail), 4)
        over = spent > alloc + 1e-12
        if alloc > 0:
            n_settled = min(width, round(settled / alloc * width))
            n_reserved = min(width - n_settled, round(reserved / alloc * width))
        else:
            n_settled, n_reserved = (width, 0) if spent > 0 else (0, 0)
        n_free = width - n_settled - n_reserved
        style = self.get_component_rich_style
        bar = Text(name, style="bold")
        bar.append("█" * n_settled, style=style("tierbar--over" if over else "tierbar--settled"))
        bar.append("▒" * n_reserved, style=style("tierbar--over" if over else "tierbar--reserved"))
        bar.append("░" * n_free, style=style("tierbar--free"))
        bar.append(tail)
        figures = Text(
            f"{'':8}settled {money(settled)} · reserved {money(reserved)} · left {money(alloc - spent)}"
            f" · {d['decisions']} decision{'s' if d['decisions'] != 1 else ''}",
            style="dim",
        )
        return Text("\n").join([bar, figures])

"""How the console writes money, times and flip points (presentation only)."""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text

from modelwise.core.errors import terminal_safe
from modelwise.core.routing import money

__all__ = [
    "money", "money_short", "num", "clip", "clock_time", "flip_words", "lead_words", "whatif_words",
    "Ordered", "shown",
]

# Keys whose values are looked up, not shown: kept as they are so lookups still find them.
_IDS = frozenset(
    {"id", "model", "selectedModel", "decisionId", "requestId", "upstreamId", "taskType", "tier"}
)


def shown(data: Any) -> Any:
    """`data` (a service answer: dicts, lists, strings) with every string the console shows written with
    its control characters escaped (C0, DEL, C1, bidi: `core.errors.terminal_safe`), so a model's name or
    a task's description cannot drive the terminal. Ids and other lookup keys are kept as they are."""
    if isinstance(data, str):
        return terminal_safe(data)
    if isinstance(data, dict):
        return {k: (v if k in _IDS else shown(v)) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(shown(v) for v in data) if not hasattr(data, "_fields") else data
    return data


def clip(text: str, width: int) -> str:
    """`text` (its control characters escaped) cut to `width` cells with an ellipsis (long model names
    would widen a column)."""
    text = terminal_safe(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def money_short(x: float) -> str:
    """Dollars to two significant digits ($0.0026, $0.12, $1.50): narrower than `money`, never "$0" for
    a cost that is not zero."""
    if x == 0:
        return "$0"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    places = max(2, 1 - math.floor(math.log10(abs(x))))
    return f"${x:.{places}f}"


def num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def clock_time(iso: str, tz: tzinfo | None) -> str:
    """`2026-11-26T12:00:01.000Z` as `12:00:01` in the configured zone."""
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(tz).strftime("%H:%M:%S")
    except ValueError:
        return iso


def flip_words(breakdown: dict[str, Any], short: bool = False) -> str | None:
    """ "Claude Sonnet 4 would win if cost weighed 0.04 instead of 0.1": the flip point (the smallest
    one-weight change that changes the winner) in words; the winner it names need not be the runner-up.
    `short`: the numbers first ("cost 0.1 → 0.04: Claude Sonnet 4 wins"), so a cut line keeps them."""
    flip = breakdown.get("flip")
    runner = breakdown.get("runnerUp")
    if not flip:
        return None
    name = flip.get("modelName")
    if not name:
        name = runner["name"] if runner and runner["model"] == flip["model"] else flip["model"]
    current = breakdown["weights"][flip["weight"]]
    if short:
        return f"{flip['weight']} {current:g} → {flip['value']:.4g}: {name} wins"
    return f"{name} would win if {flip['weight']} weighed {flip['value']:.4g} instead of {current:g}"


def lead_words(breakdown: dict[str, Any], short: bool = False) -> str | None:
    """ "over GPT-4o: cost +0.0200, performance -0.0060, availability -0.0020": the winner's lead over
    the runner-up by weighted component (they add up to the margin), biggest gain first."""
    lead = breakdown.get("lead")
    if not lead:
        return None
    parts = sorted(lead["components"].items(), key=lambda kv: -kv[1]["weighted"])
    shown = [f"{name} {c['weighted']:+.4f}" for name, c in parts if round(c["weighted"], 4) != 0]
    parts_text = ", ".join(shown) if shown else "a tie on every component"
    if short:  # the numbers first, so a cut line keeps them
        return f"{parts_text} over {lead['name']}"
    return f"over {lead['name']}: " + parts_text


def whatif_words(result: dict[str, Any]) -> str:
    """The live what-if line: `service.whatif_today`'s own line, or what to say when there is nothing
    to compare or nothing changes."""
    n = result["decisions"]
    if n == 0:
        return "today under these weights: no decisions recorded today to compare"
    recorded, replayed = money(result["recorded"]["cost"]), money(result["replayed"]["cost"])
    if result["changed"] == 0 and result["statusChanged"] == 0 and recorded == replayed:
        return f"today under these weights: {replayed} as recorded, none of the {n} decisions change model"
    return result["line"]


class Ordered(Text):
    """A table cell that sorts by `order` rather than by its text (newest-first history)."""

    def __init__(self, text: str, order: Any, style: str = ""):
        super().__init__(text, style=style)
        self.order = order

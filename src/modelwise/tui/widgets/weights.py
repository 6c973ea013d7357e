"""One scoring weight, adjustable from the keyboard, showing its raw and normalised value."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from modelwise.core.settings import WEIGHT_NAMES, Weights

FULL_WIDTH = len("availability 0.00 (100%)") + 1
SHORT = {"capability": "cap", "performance": "perf", "availability": "avail", "cost": "cost"}


class WeightControl(Widget, can_focus=True):
    """Shows `name raw (normalised%)`; +/- nudge it by 0.05, ] and [ by 0.01. The parent owns the value
    (bound to `weights`) and decides whether a nudge is allowed."""

    BINDINGS = [
        Binding(
            "plus,equals_sign,up",
            "nudge(0.05)",
            "+0.05",
            id="weights.raise",
            tooltip="Raise the focused weight by 0.05",
        ),
        Binding(
            "minus,down",
            "nudge(-0.05)",
            "-0.05",
            id="weights.lower",
            tooltip="Lower the focused weight by 0.05",
        ),
        Binding(
            "right_square_bracket",
            "nudge(0.01)",
            "+0.01",
            id="weights.raise-fine",
            show=False,
            tooltip="Raise the focused weight by 0.01",
        ),
        Binding(
            "left_square_bracket",
            "nudge(-0.01)",
            "-0.01",
            id="weights.lower-fine",
            show=False,
            tooltip="Lower the focused weight by 0.01",
        ),
    ]

    weights: reactive[Weights] = reactive(Weights())

    @dataclass
    class Nudged(Message):
        """The user asked to move one weight by `delta`."""

        control_widget: WeightControl
        name: str
        delta: float

        @property
        def control(self) -> WeightControl:
            return self.control_widget

    def __init__(self, name: str, *, id: str | None = None, classes: str | None = None):
        if name not in WEIGHT_NAMES:
            raise ValueError(f"unknown weight {name!r}")
        super().__init__(id=id, classes=classes)
        self.weight_name = name
        self.tooltip = f"{name} weight: +/- to change by 0.05, ] / [ by 0.01"

    def render(self) -> Text:
        raw = getattr(self.weights, self.weight_name)
        norm = self.weights.normalised()[WEIGHT_NAMES.index(self.weight_name)]
        value = f" {raw:.2f} ({norm:.0%})"
        # Full names only when the longest one fits, so the four controls (equal widths) read alike.
        label = self.weight_name if self.size.width >= FULL_WIDTH else SHORT[self.weight_name]
        return Text.assemble((label, "bold"), value)

    def action_nudge(self, delta: float) -> None:
        self.post_message(self.Nudged(self, self.weight_name, delta))

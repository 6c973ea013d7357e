"""The console's own key bindings, each with an id (remappable under `[keymap]` in the config) and a
tooltip; the panes declare theirs beside their widgets."""

from __future__ import annotations

from textual.binding import Binding, BindingType

APP_BINDINGS: list[BindingType] = [
    Binding("f1", "help", "Help", id="app.help", tooltip="Keys and panes"),
    Binding(
        "f2",
        "show_pane('registry')",
        "Models",
        id="app.pane.registry",
        show=False,
        tooltip="The registry",
    ),
    Binding(
        "f3", "show_pane('route')", "Route", id="app.pane.route", show=False, tooltip="The route form"
    ),
    Binding(
        "f4", "show_pane('budget')", "Budget", id="app.pane.budget", show=False, tooltip="Today's budget"
    ),
    Binding(
        "f5",
        "show_pane('history')",
        "History",
        id="app.pane.history",
        show=False,
        tooltip="Today's decisions",
    ),
    Binding(
        "f6",
        "show_pane('gateway')",
        "Gateway",
        id="app.pane.gateway",
        show=False,
        tooltip="Today's calls through the gateway, live",
    ),
    Binding("ctrl+r", "route", "Route it", id="route.record", tooltip="Route the task and record it"),
    Binding("ctrl+t", "dry_run", "Dry run", id="route.dry-run", tooltip="Route the task, record nothing"),
    Binding(
        "ctrl+o",
        "reset_weights",
        "Reset weights",
        id="route.reset-weights",
        show=False,
        tooltip="Back to the config's weights",
    ),
    Binding(
        "ctrl+s",
        "save_weights",
        "Save weights",
        id="route.save-weights",
        show=False,
        tooltip="Write the weights into the config",
    ),
    Binding(
        "ctrl+g",
        "toggle_grid",
        "Grid",
        id="route.grid",
        show=False,
        tooltip="Which model wins by cost and performance weight (again: the breakdown)",
    ),
]

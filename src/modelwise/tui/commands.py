"""The command palette's own commands: route, dry run, switch pane, reset and save weights, the
registry's frontier and chart, the route form's sensitivity grid, themes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from modelwise.tui.app import ModelwiseApp


class ModelwiseCommands(Provider):
    """Context-aware: the pane already shown and the theme in use are left out."""

    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app: ModelwiseApp = self.app  # type: ignore[assignment]
        help_command = ("Help", "keys and panes", app.action_help)
        if not app.ready:  # the registry is still loading: the other commands need the panes
            return [help_command]
        out: list[tuple[str, str, Callable[[], object]]] = [
            ("Route the task and record it", "route the form's task for real (ctrl+r)", app.action_route),
            ("Dry run the task", "route the form's task without recording it (ctrl+t)", app.action_dry_run),
            ("Reset weights", "back to the weights of the config", app.action_reset_weights),
            (
                "Save weights to the config",
                "write the form's weights into the config file",
                app.action_save_weights,
            ),
            (
                "Models: only the frontier",
                "the cost/quality frontier of the task type, or all models again (p)",
                partial(app.action_registry_view, "frontier"),
            ),
            (
                "Models: quality/price chart",
                "quality against price for the task type, the winner marked; again: hide (c)",
                partial(app.action_registry_view, "chart"),
            ),
            (
                "Route: sensitivity grid",
                "which model wins by cost and performance weight; again: the breakdown (ctrl+g)",
                app.action_toggle_grid,
            ),
            help_command,
        ]
        for pane, label in app.PANE_LABELS.items():
            if app.wide or pane != app.pane:
                out.append(
                    (
                        f"Show {label}",
                        f"switch to the {label.lower()} pane",
                        partial(app.action_show_pane, pane),
                    )
                )
        for name in app.file_themes:  # Textual's own themes are in its "Theme" command
            if name != app.theme:
                out.append(
                    (
                        f"Theme: {name}",
                        "switch theme (kept in the config)",
                        partial(app.action_set_theme, name),
                    )
                )
        return out

    async def discover(self) -> Hits:
        for name, help_text, callback in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)

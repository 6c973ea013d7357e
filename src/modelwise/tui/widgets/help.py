"""The help screen: what each pane shows and the keys in use (after the config's keymap)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

ABOUT = (
    "Models: the registry; click a header or press s to sort, / to filter.\n"
    "Route: type a task, tune the weights (focus one, then + / -); the breakdown re-ranks as you type.\n"
    "Budget: today's spend, the tiers' allocations, spend over the day, alerts.\n"
    "History: today's decisions from every process; select one for its stored breakdown.\n"
    'Keys are remappable in the config: [keymap] binding-id = "keys".'
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="help.close", tooltip="Close the help")]

    def __init__(self, bindings: list[tuple[str, str, str]]):
        super().__init__()
        self.rows = bindings

    def compose(self) -> ComposeResult:
        table = Table(box=None, header_style="bold", expand=True)
        table.add_column("key", no_wrap=True)
        table.add_column("does")
        table.add_column("id", style="dim", no_wrap=True)
        for key, description, binding_id in self.rows:
            table.add_row(key, description, binding_id)
        with VerticalScroll(id="help-box"):
            yield Static(Text("modelwise console", style="bold"))
            yield Static(Text(ABOUT), id="help-about")
            yield Static(table)

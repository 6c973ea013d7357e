"""The console app: four panes over one service, a ledger watcher thread and the app's commands.

`run()` is what `modelwise` with no arguments calls: its first frame is the layout with placeholders,
drawn from the settings alone (`tui.boot`); the service and the panes come in right after it. Every
ledger read or write happens in a thread worker that only posts messages; handlers on the main thread
own every state change."""

from __future__ import annotations

import threading
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Footer, Static, Tab, Tabs
from textual.worker import Worker, WorkerState, get_current_worker

from modelwise.core.errors import ModelwiseError, terminal_safe
from modelwise.core.settings import Settings, Weights
from modelwise.tui.boot import Boot, prepare
from modelwise.tui.commands import ModelwiseCommands
from modelwise.tui.keys import APP_BINDINGS
from modelwise.tui.messages import (
    ConfigRefused,
    ConfigReloaded,
    ConfigSaved,
    DecisionLoaded,
    GatewayLoaded,
    LedgerChanged,
    ModelsLoaded,
    Routed,
    ServiceFailed,
    ServiceReady,
)
from modelwise.tui.themes import load_themes
from modelwise.tui.watchers import OwnSaves

# The panes, the service and what they import load after the first frame (in the service's worker):
# only the layout's own widgets are needed to draw it.
if TYPE_CHECKING:
    from modelwise.service import TokenOptimizationService
    from modelwise.tui.panes.history import HistoryPane
    from modelwise.tui.panes.registry import RegistryPane
    from modelwise.tui.panes.route import RoutePane
    from modelwise.tui.state import LedgerState

DEFAULT_THEME = "modelwise-dark"
WIDE = (150, 40)  # columns and rows from which all four panes show at once
SIDE = (130, 24)  # route and budget side by side, the registry and history a key away
STACK = (90, 36)  # route above budget (a half-width split), the registry and history a key away
PAIR = ("route", "budget")  # the panes a split layout shows together
PANE_FOCUS = {
    "registry": "#registry-table",
    "route": "#description",
    "budget": None,
    "history": "#history-table",
    "gateway": "#gateway-table",
}
PANE_KEYS = {
    "registry": "f2",
    "route": "f3",
    "budget": "f4",
    "history": "f5",
    "gateway": "f6",
}


def layout_for(width: int, height: int) -> str:
    """The layout for a terminal size: "quad" (four panes), "side" (route and budget side by side),
    "stack" (route above budget) or "tabs" (one pane at a time)."""
    if width >= WIDE[0] and height >= WIDE[1]:
        return "quad"
    if width >= SIDE[0] and height >= SIDE[1]:
        return "side"
    if width >= STACK[0] and height >= STACK[1]:
        return "stack"
    return "tabs"


def is_short(layout: str, height: int) -> bool:
    """Whether the panes drop their spacing to keep the breakdown's rows and the whole budget in view."""
    return layout in ("side", "stack") or (layout == "quad" and height < 50)


def screenshot_folder(cache: Path) -> Path:
    """Where a screenshot goes: the user's Downloads folder when it exists and can be written, else the
    current folder, else modelwise's cache folder, else the system's temporary folder."""
    import os
    import tempfile

    from platformdirs import user_downloads_path

    for folder in (user_downloads_path(), Path.cwd(), cache):
        if folder.is_dir() and os.access(folder, os.W_OK):
            return folder
    with suppress(OSError):
        cache.mkdir(parents=True, exist_ok=True)
        if os.access(cache, os.W_OK):
            return cache
    return Path(tempfile.gettempdir())


def visible_panes(layout: str, pane: str) -> tuple[str, ...]:
    """The panes a layout shows when `pane` is the current one."""
    if layout == "quad":  # the gateway's calls take the history's place when asked for
        return ("route", "registry", "budget", "gateway" if pane == "gateway" else "history")
    if layout in ("side", "stack") and pane in PAIR:
        return PAIR
    return (pane,)


def shown(data: Any) -> Any:
    """`tui.format.shown`, imported on first use (it brings in core.routing: not needed to draw the first
    frame)."""
    from modelwise.tui.format import shown as escaped

    return escaped(data)


def money(x: float) -> str:
    """`core.routing.money`, imported on first use (see `shown`)."""
    from modelwise.core.routing import money as dollars

    return dollars(x)


LOADING = "loading the registry…"
# Actions that need the panes (and the service): refused until they are in (`check_action`).
PANE_ACTIONS = frozenset(
    {"show_pane", "route", "dry_run", "reset_weights", "save_weights", "toggle_grid", "registry_view"}
)


class ModelwiseApp(App[None]):
    """The console. `service` carries the registry, ledger, config and clock (inject one to test); or
    `boot` (`tui.boot.prepare`): the first frame is drawn from its settings, and the service is built
    in a worker right after it (a failure is shown, then the app exits: `run` raises it again)."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # the layout; what is inside the panes: PANES_CSS
    PANES_CSS = Path(__file__).with_name("panes.tcss")
    TITLE = "modelwise"
    AUTO_FOCUS = "#description"
    COMMANDS = App.COMMANDS | {ModelwiseCommands}
    PANE_LABELS: ClassVar[dict[str, str]] = {
        "registry": "Models",
        "route": "Route",
        "budget": "Budget",
        "history": "History",
        "gateway": "Gateway",
    }
    BINDINGS = APP_BINDINGS

    pane: reactive[str] = reactive("route", init=False)
    layout: reactive[str] = reactive("tabs", init=False)

    def __init__(
        self,
        service: TokenOptimizationService | None = None,
        *,
        boot: Boot | None = None,
        poll_interval: float = 0.2,
        refresh_seconds: float = 30.0,
        cursor_blink: bool = True,
    ):
        # With a boot, the panes' own CSS is read when they come in (the first frame needs the layout's).
        super().__init__(css_path=[self.CSS_PATH, self.PANES_CSS] if service is not None else None)
        if service is not None:
            self.service = service
            settings, paths = service.settings, service.paths
        elif boot is not None:
            settings, paths = boot.settings, boot.paths
        else:
            raise TypeError("ModelwiseApp needs a service or a boot")
        self.boot = None if service is not None else boot
        self.ready = service is not None  # the service and the panes are in
        self.boot_error: BaseException | None = None  # building the service failed (the app exits)
        self.boot_settings = settings
        self.poll_interval = poll_interval
        self.refresh_seconds = refresh_seconds
        self.cursor_blink = cursor_blink
        self.ledger_state: LedgerState | None = None
        self.default_weights = settings.weights
        self._watch_restarts = 0
        self._watch_stop = threading.Event()  # set on unmount: the watchers' threads end with the app
        self._reread = threading.Event()  # set when the settings changed: the ledger watcher reads again
        self._config_restarts = 0
        self._own_saves = OwnSaves()  # the config as the console's recent saves wrote it
        # Whether compose() built the panes: until then a layout or pane change only sets the value, and
        # compose uses it. (`App.is_mounted` is a method taking a widget, not a flag: always truthy.)
        self._panes_built = False
        self.paths = paths
        themes, self.theme_problems = load_themes(paths.themes, paths.cache)
        for theme in themes:
            self.register_theme(theme)
        self.file_themes = tuple(sorted(t.name for t in themes))
        wanted = settings.theme
        if wanted and wanted not in self.available_themes:
            self.theme_problems.append(f"theme {wanted!r} from the config is not installed")
            wanted = None
        fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = wanted or fallback
        if settings.keymap:
            self.set_keymap(settings.keymap)

    @property
    def settings(self) -> Settings:
        """The settings in force: the service's once it is in, else those the first frame was drawn with."""
        return self.service.settings if self.ready else self.boot_settings

    # -- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Classes for the size and the current pane are set here, so the first frame is styled once.
        width, height = self.size.width, self.size.height
        self.set_reactive(ModelwiseApp.layout, layout_for(width, height))
        tabs = Tabs(
            *(Tab(f"{label} [dim]{PANE_KEYS[p]}[/]", id=f"tab-{p}") for p, label in self.PANE_LABELS.items()),
            active=f"tab-{self.pane}",
            id="pane-tabs",
        )
        tabs.display = not self.wide
        yield tabs
        with Container(id="panes", classes=self._panes_classes(height)):
            if self.ready:
                yield from self._panes()
            else:  # the layout as it will be, each pane saying what it waits for
                for p in self.PANE_LABELS:
                    yield Static(Text(LOADING, style="dim"), id=p, classes=self._pane_classes(p))
        yield Footer()
        self._panes_built = True

    def _pane_classes(self, name: str) -> str:
        return "pane -current" if name in visible_panes(self.layout, self.pane) else "pane"

    def _panes(self) -> list[Widget]:
        """The panes over the service (imported here: not needed for the first frame)."""
        from modelwise.tui.panes.budget import BudgetPane
        from modelwise.tui.panes.gateway import GatewayPane
        from modelwise.tui.panes.history import HistoryPane
        from modelwise.tui.panes.registry import RegistryPane
        from modelwise.tui.panes.route import RoutePane

        settings, tz = self.service.settings, self.service.tz
        return [
            RoutePane(self.service, id="route", classes=self._pane_classes("route")),
            RegistryPane(
                settings.task_types, self.model_offers, id="registry", classes=self._pane_classes("registry")
            ),
            BudgetPane(
                tuple(t.name for t in settings.tiers), tz, id="budget", classes=self._pane_classes("budget")
            ),
            HistoryPane(tz, id="history", classes=self._pane_classes("history")),
            GatewayPane(tz, id="gateway", classes=self._pane_classes("gateway")),
        ]

    def on_unmount(self) -> None:
        self._watch_stop.set()

    def on_mount(self) -> None:
        self._titles()
        if self.theme_problems:
            self.notify(
                "\n".join(self.theme_problems),
                title="Some themes were skipped",
                severity="warning",
                timeout=10,
            )
        if self.ready:
            self._start()
        else:  # the service (registry, ledger) right after the first frame, not before it
            self.call_after_refresh(self.build_service)

    def _titles(self) -> None:
        for pane_id, label in self.PANE_LABELS.items():
            self.query_one(f"#{pane_id}").border_title = f"{label} [dim]{PANE_KEYS[pane_id]}[/]"

    def _start(self) -> None:
        """The panes are in: the watchers, the ledger and the registry table (right after this frame)."""
        from textual.widgets import Input

        for inp in self.query(Input):
            inp.cursor_blink = self.cursor_blink
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.call_after_refresh(self.watch_ledger)
        self.call_after_refresh(self.watch_config)
        self.call_after_refresh(self.load_models, None)
        self.set_interval(0.5, self._gateway_tick)

    @work(thread=True, exclusive=True, exit_on_error=False, group="boot", name="open the registry")
    def build_service(self) -> None:
        """Build the service (registry, config, paths) and import the panes, off the main thread."""
        assert self.boot is not None
        try:
            service = self.boot.build()
            import modelwise.tui.panes.budget
            import modelwise.tui.panes.history
            import modelwise.tui.panes.registry
            import modelwise.tui.panes.route  # noqa: F401 - the import is the point: off the main thread
        except Exception as exc:  # noqa: BLE001 - any failure is shown, then raised again by run()
            self.post_message(ServiceFailed(exc))
        else:
            self.post_message(ServiceReady(service))

    @on(ServiceReady)
    async def _service_ready(self, message: ServiceReady) -> None:
        if self._watch_stop.is_set():  # the app closed meanwhile
            message.service.close()
            return
        self.service = message.service
        settings = self.service.settings
        self.default_weights = settings.weights
        if settings.keymap != self.boot_settings.keymap:
            self.set_keymap(settings.keymap)
        box = self.query_one("#panes")
        with self.batch_update():
            self.stylesheet.read(self.PANES_CSS)
            self.refresh_css(animate=False)
            await box.remove_children()
            await box.mount_all(self._panes())
            self._titles()
        self.ready = True  # only now: until the panes are in, what needs them waits (check_action)
        self.query_one("#description").focus()
        self._start()
        self.refresh_bindings()

    @on(ServiceFailed)
    def _service_failed(self, message: ServiceFailed) -> None:
        error = message.error
        self.boot_error = error
        text = str(error) if isinstance(error, ModelwiseError) else f"{type(error).__name__}: {error}"
        for p in self.PANE_LABELS:
            self.query_one(f"#{p}", Static).update(Text(terminal_safe(text), style="bold red"))
        code = error.exit_code if isinstance(error, ModelwiseError) else 1
        self.call_after_refresh(self.exit, None, code)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys and commands that need the panes wait for them."""
        return self.ready or action not in PANE_ACTIONS

    @property
    def wide(self) -> bool:
        """All four panes are shown at once."""
        return self.layout == "quad"

    def _panes_classes(self, height: int) -> str:
        return f"-{self.layout}" + (" -short" if is_short(self.layout, height) else "")

    def on_resize(self, event: events.Resize) -> None:
        self.layout = layout_for(event.size.width, event.size.height)
        self._apply_layout()

    def _apply_layout(self) -> None:
        """The size's classes on the panes' container and which panes are shown (CSS does the rest)."""
        if not self._panes_built:
            return
        panes = self.query_one("#panes")
        height = self.size.height
        for name in ("quad", "side", "stack", "tabs"):
            panes.set_class(self.layout == name, f"-{name}")
        panes.set_class(is_short(self.layout, height), "-short")
        self.query_one("#pane-tabs").display = not self.wide
        shown = visible_panes(self.layout, self.pane)
        for p in self.PANE_LABELS:
            for box in self.query(f"#{p}"):  # none while the panes replace their placeholders
                box.set_class(p in shown, "-current")

    def watch_layout(self) -> None:
        self._apply_layout()

    def watch_pane(self, pane: str) -> None:
        if not self._panes_built:
            return
        self._apply_layout()
        tabs = self.query_one("#pane-tabs", Tabs)
        if tabs.active != f"tab-{pane}":
            tabs.active = f"tab-{pane}"

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab(self, event: Tabs.TabActivated) -> None:
        if event.tab.id:
            pane = event.tab.id.removeprefix("tab-")
            changed = pane != self.pane
            self.pane = pane
            focused = self.focused
            if changed and focused is not None and focused is not event.tabs and not self.wide:
                self._focus_pane(pane)  # a click on a tab: the old pane's widget is hidden now

    def action_show_pane(self, pane: str) -> None:
        self.pane = pane
        self._focus_pane(pane)

    def _focus_pane(self, pane: str) -> None:
        """Focus the pane's main widget; a pane with none (budget) gives focus to the tabs on a small
        terminal, so keys never go to a widget that is not shown."""
        target = PANE_FOCUS[pane]
        if pane == "registry":
            self.registry_pane.focus_main()
        elif target:
            self.query_one(target).focus()
        elif not self.wide:
            self.query_one("#pane-tabs").focus()
        else:
            self.query_one(f"#{pane}").focus()

    def action_focus_next(self) -> None:
        self._walk(+1)

    def action_focus_previous(self) -> None:
        self._walk(-1)

    def _walk(self, step: int) -> None:
        """Tab and shift+Tab: the next widget; where not every pane is shown, past the last widget of the
        panes in view, the next pane (so Tab walks every pane at every size)."""
        chain = [w for w in self.screen.focus_chain if w.id != "pane-tabs"]
        focused = self.focused
        edge = chain[-1 if step > 0 else 0] if chain else None
        if self.wide or focused is None or focused is not edge:
            if step > 0:
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
            return
        order = list(self.PANE_LABELS)
        shown = visible_panes(self.layout, self.pane)
        last = shown[-1] if step > 0 else shown[0]
        nxt = order[(order.index(last) + step) % len(order)]
        self.pane = nxt
        self.call_after_refresh(self._focus_in, nxt, step > 0)

    def _focus_in(self, pane: str, first: bool) -> None:
        """Focus the first (or last) focusable widget of a pane that was just shown."""
        box = self.query_one(f"#{pane}")
        inside = [w for w in self.screen.focus_chain if box in w.ancestors_with_self]
        if inside:
            inside[0 if first else -1].focus()

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """The palette's screenshot, saved where a file can be written (Textual says where)."""
        return super().deliver_screenshot(filename, path or str(screenshot_folder(self.paths.cache)),
                                          time_format)

    def action_help(self) -> None:
        rows: list[tuple[str, str, str]] = []
        from modelwise.tui.panes.registry import RegistryPane
        from modelwise.tui.widgets.help import HelpScreen
        from modelwise.tui.widgets.weights import WeightControl

        keymap = self.settings.keymap
        for b in [*self.BINDINGS, *RegistryPane.BINDINGS, *WeightControl.BINDINGS]:
            assert isinstance(b, Binding)
            keys = keymap.get(b.id or "", b.key)
            shown = " ".join(self.get_key_display(Binding(k.strip(), b.action)) for k in keys.split(","))
            rows.append((shown, b.tooltip or b.description, b.id or ""))
        rows.append(("^p", "command palette", ""))
        rows.append(("^q", "quit", ""))
        self.push_screen(HelpScreen(rows))

    # -- routing -------------------------------------------------------------------------------------

    @property
    def route_pane(self) -> RoutePane:
        from modelwise.tui.panes.route import RoutePane

        return self.query_one(RoutePane)

    @property
    def registry_pane(self) -> RegistryPane:
        from modelwise.tui.panes.registry import RegistryPane

        return self.query_one(RegistryPane)

    def action_route(self) -> None:
        self._route(dry_run=False)

    def action_dry_run(self) -> None:
        self._route(dry_run=True)

    def _route(self, dry_run: bool) -> None:
        try:
            task = self.route_pane.form_task()
        except ModelwiseError as exc:
            self.notify(str(exc), title="Not routed", severity="error")
            return
        self.route_worker(task.task_type, task.description, task.budget, task.weights, dry_run)

    @work(thread=True, exit_on_error=False, group="route", name="route")
    def route_worker(
        self, task_type: str, description: str, budget: float | None, weights: Weights, dry_run: bool
    ) -> None:
        svc = self.service
        try:
            result = svc.route_task(
                task_type, description, budget, weights=weights, dry_run=dry_run, agent="console"
            )
        finally:
            svc.release_thread()
        self.post_message(Routed(result))

    @on(Routed)
    def _routed(self, message: Routed) -> None:
        r = shown(message.result)
        with suppress(NoMatches):  # the app is closing
            self.route_pane.show_result(r)
        model = r.get("selectedModelName") or "no model"
        if r["status"] == "dry-run":
            self.notify(
                f"{model}: {r['wouldBe']}, {money(r['estimatedCost'])} (nothing recorded)", title="Dry run"
            )
        elif r["status"] == "refused":
            self.notify(r["reason"], title="Refused (recorded)", severity="warning")
        else:
            self.notify(f"{model}, {money(r['estimatedCost'])} ({r['status']})", title="Routed and recorded")

    def action_toggle_grid(self) -> None:
        self.route_pane.toggle_grid()
        if "route" not in visible_panes(self.layout, self.pane):
            self.action_show_pane("route")

    def action_registry_view(self, what: str) -> None:
        """From the command palette: the registry's frontier or chart toggle, with the pane shown."""
        if self.pane != "registry":
            self.action_show_pane("registry")
        pane = self.registry_pane
        if what == "frontier":
            pane.action_toggle_frontier()
        else:
            pane.action_toggle_chart()

    def on_route_pane_winner_changed(self, message: RoutePane.WinnerChanged) -> None:
        with suppress(NoMatches):
            self.registry_pane.set_winner(message.winner)

    def action_reset_weights(self) -> None:
        self.route_pane.reset_weights(self.default_weights)

    def action_save_weights(self) -> None:
        self.save_config_worker(
            "weights", {"weights": self.route_pane.weights.to_json()}, self.route_pane.weights
        )

    def action_set_theme(self, name: str) -> None:
        self.theme = name

    def _theme_changed(self, theme: Any) -> None:
        if theme.name != self.settings.theme:  # not one the config already names (just read)
            self.save_config_worker("theme", {"theme": theme.name})

    @work(thread=True, exclusive=False, exit_on_error=False, group="config", name="save config")
    def save_config_worker(self, what: str, updates: dict[str, Any], weights: Weights | None = None) -> None:
        path = self.save_config(updates)
        self.post_message(ConfigSaved(what, str(path), weights))

    def save_config(self, updates: dict[str, Any]) -> Path:
        """Write `updates` into the config as the console's own: the watcher reads it again quietly."""
        return self._own_saves.save(lambda: self.service.save_config(updates))

    @on(ConfigSaved)
    def _saved(self, message: ConfigSaved) -> None:
        if message.weights is not None:
            self.default_weights = message.weights
        self.notify(f"{message.what} saved to {message.path}", timeout=4)

    # -- the ledger ----------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="ledger-watch", name="ledger watcher")
    def watch_ledger(self) -> None:
        """Post a snapshot of the ledger whenever another connection committed, the day turned, or
        `refresh_seconds` passed (tui.watchers.poll_ledger)."""
        from modelwise.tui.watchers import poll_ledger

        poll_ledger(self, get_current_worker())

    @work(thread=True, exclusive=True, exit_on_error=False, group="config-watch", name="config watcher")
    def watch_config(self) -> None:
        """Put a changed config or registry in force, or say why not (tui.watchers.poll_files)."""
        from modelwise.tui.watchers import poll_files

        poll_files(self, get_current_worker())

    @on(ConfigReloaded)
    def _config_reloaded(self, message: ConfigReloaded) -> None:
        self._config_restarts = 0
        settings, old = self.service.settings, message.old
        if settings.keymap != old.keymap:
            self.set_keymap(settings.keymap)
        theme = settings.theme
        if theme and theme != self.theme and theme in self.available_themes:
            self.theme = theme
        previous, self.default_weights = self.default_weights, settings.weights
        with suppress(NoMatches):
            pane = self.route_pane
            if pane.weights == previous:  # the form showed the config's weights: it shows the new ones
                pane.reset_weights(settings.weights)
            pane.post_message(pane.Changed())  # ranked again under the new settings
            self.load_models(self.registry_pane.task_type)
        if message.own or (settings == old and message.registry is None):
            return  # the console's own save (already said), or nothing that matters changed
        changed = [message.config] + ([message.registry] if message.registry else [])
        self.notify(
            f"{' and '.join(changed)} read again: daily budget {money(settings.daily_budget)}",
            title="Settings applied",
            timeout=4,
        )

    @on(ConfigRefused)
    def _config_refused(self, message: ConfigRefused) -> None:
        self.notify(
            f"{shown(message.error)}\nThe settings in force are unchanged.",
            title=message.title,
            severity="error",
            timeout=10,
        )

    @on(LedgerChanged)
    def _ledger_changed(self, message: LedgerChanged) -> None:
        from modelwise.tui.panes.budget import BudgetPane
        from modelwise.tui.panes.history import HistoryPane

        state = message.state
        previous = self.ledger_state
        self.ledger_state = state
        self._watch_restarts = 0
        with suppress(NoMatches):  # a snapshot that arrives while the app closes
            self.route_pane.ledger_state = state
            self.query_one("#budget", BudgetPane).show(state)
            self.query_one("#history", HistoryPane).show(state)
            if "gateway" in visible_panes(self.layout, self.pane):
                self.load_gateway()
            if previous is not None and previous.calibration.version != state.calibration.version:
                self.load_models(self.registry_pane.task_type)

    @work(thread=True, exclusive=True, exit_on_error=False, group="gateway", name="gateway traffic")
    def load_gateway(self) -> None:
        """Today's gateway calls, with the tokens of those in flight (a ledger read and a few small files)."""
        svc = self.service
        try:
            traffic = shown(svc.gateway_traffic())
        finally:
            svc.release_thread()
        self.post_message(GatewayLoaded(traffic))

    @on(GatewayLoaded)
    def _gateway_loaded(self, message: GatewayLoaded) -> None:
        from modelwise.tui.panes.gateway import GatewayPane  # loaded with the panes, after the first frame

        with suppress(NoMatches):
            self.query_one("#gateway", GatewayPane).show(message.traffic)

    def _gateway_tick(self) -> None:
        """Calls in flight stream tokens without touching the ledger: read again while the pane shows."""
        if self.ready and "gateway" in visible_panes(self.layout, self.pane):
            self.load_gateway()

    @work(thread=True, exclusive=True, exit_on_error=False, group="models", name="load models")
    def load_models(self, task_type: str | None) -> None:
        svc = self.service
        try:
            rows = shown(svc.models_table(task_type))
            chart = shown(svc.quality_price(task_type)) if task_type else None
        finally:
            svc.release_thread()
        self.post_message(ModelsLoaded(task_type, rows, chart))

    @on(ModelsLoaded)
    def _models_loaded(self, message: ModelsLoaded) -> None:
        with suppress(NoMatches):
            self.registry_pane.set_rows(message.task_type, message.rows, message.chart)

    def model_offers(self, model_id: str) -> list[dict[str, Any]] | None:
        """The offers of a registry model (core.offers.offer_rows), None when it is no longer listed."""
        from modelwise.core.offers import offer_rows

        svc = self.service
        model = svc.registry.get(model_id)
        if model is None:
            return None
        try:
            return shown(offer_rows(model, svc.reach))
        except ModelwiseError:  # a config the reach cannot be computed from: the app reports it elsewhere
            return None

    def on_registry_pane_task_type_changed(self, message: RegistryPane.TaskTypeChanged) -> None:
        self.load_models(message.task_type)

    def on_history_pane_selected(self, message: HistoryPane.Selected) -> None:
        self.load_decision(message.decision_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="decision", name="load decision")
    def load_decision(self, decision_id: str) -> None:
        svc = self.service
        try:
            decision = shown(svc.decision(decision_id))
        finally:
            svc.release_thread()
        self.post_message(DecisionLoaded(decision))

    @on(DecisionLoaded)
    def _decision_loaded(self, message: DecisionLoaded) -> None:
        from modelwise.tui.panes.history import HistoryPane

        with suppress(NoMatches):
            self.query_one("#history", HistoryPane).show_detail(message.decision)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures are handled: say what failed; restart the ledger watcher."""
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        error = worker.error
        if isinstance(error, ModelwiseError):
            self.notify(shown(str(error)), title=f"{worker.name.capitalize()} failed", severity="error")
        else:
            self.notify(
                shown(f"{type(error).__name__}: {error}"),
                title=f"{worker.name.capitalize()} failed",
                severity="error",
            )
        if worker.group == "ledger-watch" and not self._watch_stop.is_set():
            self._watch_restarts += 1
            self.set_timer(min(30.0, 2.0**self._watch_restarts), self.watch_ledger)
        if worker.group == "config-watch" and not self._watch_stop.is_set():
            self._config_restarts += 1
            self.set_timer(min(30.0, 2.0**self._config_restarts), self.watch_config)


def run(service: TokenOptimizationService | None = None, *, boot: Boot | None = None) -> int:
    """Open the console on `service`, or on what `boot` (default: `tui.boot.prepare()`, the configured
    registry, ledger and config) builds after the first frame. A failure to build it (a bad registry,
    ledger or config value) is shown in the app, which exits, and raised again here for the CLI."""
    if service is None and boot is None:
        boot = prepare()
    app = ModelwiseApp(service, boot=boot)
    try:
        app.run()
    finally:
        if app.ready:
            app.service.close()
    if app.boot_error is not None:
        raise app.boot_error
    return app.return_code or 0

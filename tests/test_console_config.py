"""The console and its config file, driven with Pilot: saving keeps the user's comments and layout, and
an edit made elsewhere (the config or the registry) is put in force while the console runs, or refused
with the reason, the old settings staying."""

from __future__ import annotations

import json

from textual.widgets import Static

from modelwise.core.settings import Weights
from modelwise.tui.app import ModelwiseApp
from modelwise.tui.panes.route import RoutePane
from tests.conftest import BRIEF_REGISTRY
from tests.tui_support import settle, wait_for

COMMENTED = """\
# The team's modelwise config. Ask Ana before changing the budget.
timezone = "UTC"
daily_budget = 5.0  # dollars, reviewed monthly

# Quality first.
[weights]
capability = 0.4  # what the task needs
performance = 0.3
availability = 0.2
cost = 0.2   # money matters less

[tiers.simple]
share = 0.15  # cheap work
"""


def headline(app: ModelwiseApp) -> str:
    return str(app.query_one("#budget-headline", Static).render())


def notes(app: ModelwiseApp, title: str) -> list[str]:
    return [n.message for n in app._notifications if n.title == title]


async def test_saving_weights_and_theme_keeps_the_comments(make_service) -> None:
    svc = make_service(config=COMMENTED)
    path = svc.paths.config
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        pane = app.query_one(RoutePane)
        app.query_one("#w-performance").focus()
        await pilot.press("plus", "right_square_bracket")  # 0.3 -> 0.36
        assert pane.weights == Weights(0.4, 0.36, 0.2, 0.2)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "0.36" in path.read_text())
        app.action_set_theme("ledger-green")
        await wait_for(pilot, lambda: "ledger-green" in path.read_text())
        # Read again by the console's config watcher, quietly: its own save was already reported.
        await wait_for(pilot, lambda: svc.settings.theme == "ledger-green", timeout=5)
        assert notes(app, "Settings applied") == []
    assert path.read_text() == COMMENTED.replace(
        "performance = 0.3\n", "performance = 0.36\n"
    ).replace('daily_budget = 5.0  # dollars, reviewed monthly\n',
              'daily_budget = 5.0  # dollars, reviewed monthly\ntheme = "ledger-green"\n')


async def test_a_save_made_while_the_watcher_reads_the_one_before_stays_quiet(make_service) -> None:
    """The race CI once lost: the watcher reads the weights save again and, while it does, the theme
    is saved. The save it read is still the console's own, so neither is announced as an edit."""
    svc = make_service(config=COMMENTED)
    path = svc.paths.config
    app = ModelwiseApp(svc, cursor_blink=False)
    reload, reloads = svc.reload, []

    def reload_while_saving(**kwargs):
        done = reload(**kwargs)
        if not reloads:  # the first read again: the console saves the theme meanwhile
            app.save_config({"theme": "ledger-green"})
        reloads.append(done)
        return done

    svc.reload = reload_while_saving
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.query_one("#w-performance").focus()
        await pilot.press("plus", "right_square_bracket", "ctrl+s")
        await wait_for(pilot, lambda: len(reloads) == 2 and svc.settings.theme == "ledger-green", timeout=5)
        await settle(pilot)
        assert notes(app, "Settings applied") == []
    assert "performance = 0.36" in path.read_text() and 'theme = "ledger-green"' in path.read_text()


async def test_an_edited_config_is_followed_and_a_broken_one_refused(make_service) -> None:
    svc = make_service(config=COMMENTED)
    path = svc.paths.config
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert "of $5.00" in headline(app)
        pane = app.query_one(RoutePane)
        limit = pane.breakdown["limit"]
        # Another editor changes the budget.
        path.write_text(COMMENTED.replace("daily_budget = 5.0", "daily_budget = 10.0"))
        await wait_for(pilot, lambda: "of $10.00" in headline(app), timeout=5)
        assert svc.settings.daily_budget == 10.0
        await wait_for(pilot, lambda: pane.breakdown["limit"] == 2 * limit)  # the form ranked again
        assert any(str(path) in m for m in notes(app, "Settings applied"))
        # And a weight: the form showed the config's weights, so it shows the new ones.
        path.write_text(COMMENTED.replace("daily_budget = 5.0", "daily_budget = 10.0").replace(
            "cost = 0.2", "cost = 0.5"
        ))
        await wait_for(pilot, lambda: pane.weights == Weights(0.4, 0.3, 0.2, 0.5))
        await wait_for(pilot, lambda: pane.breakdown["weights"]["cost"] == 0.5)
        # A broken file: said, naming the file and the error; the budget in force stays.
        path.write_text("daily_budget = = 3\n")
        await wait_for(pilot, lambda: notes(app, "Config change not applied") != [], timeout=5)
        (message,) = notes(app, "Config change not applied")
        assert str(path) in message and "not valid TOML" in message
        assert svc.settings.daily_budget == 10.0 and "of $10.00" in headline(app)
        # A value that does not validate: the same.
        path.write_text('timezone = "UTC"\ndaily_budget = -1\n')
        await wait_for(pilot, lambda: len(notes(app, "Config change not applied")) == 2, timeout=5)
        assert "daily_budget" in notes(app, "Config change not applied")[1]
        assert svc.settings.daily_budget == 10.0
        # Fixed: followed again.
        path.write_text('timezone = "UTC"\ndaily_budget = 2.5\n')
        await wait_for(pilot, lambda: "of $2.50" in headline(app), timeout=5)


async def test_a_timezone_other_than_the_ledgers_is_reported_not_applied(make_service) -> None:
    svc = make_service(config='timezone = "UTC"\ndaily_budget = 4.0\n')
    path = svc.paths.config
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        path.write_text('timezone = "Asia/Tokyo"\ndaily_budget = 8.0\n')
        await wait_for(pilot, lambda: notes(app, "Config change not applied") != [], timeout=5)
        (message,) = notes(app, "Config change not applied")
        assert str(path) in message and "'Asia/Tokyo' differs from 'UTC'" in message
        assert svc.settings.daily_budget == 4.0 and svc.settings.timezone == "UTC"
        assert "of $4.00" in headline(app)


async def test_an_edited_registry_is_followed(make_service, tmp_path) -> None:
    registry = tmp_path / "registry.json"
    data = json.loads(BRIEF_REGISTRY.read_text())
    registry.write_text(json.dumps(data))
    svc = make_service(registry=registry, config='timezone = "UTC"\n')
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        before = len(svc.registry.models)
        models = data["models"]
        data["models"] = models[: len(models) - 1]
        registry.write_text(json.dumps(data))
        await wait_for(pilot, lambda: len(svc.registry.models) == before - 1, timeout=5)
        await wait_for(pilot, lambda: len(app.query_one("#registry").rows) == before - 1, timeout=5)
        # A broken registry: said, and the one in force stays.
        registry.write_text("{not json")
        await wait_for(pilot, lambda: notes(app, "Registry change not applied") != [], timeout=5)
        (message,) = notes(app, "Registry change not applied")
        assert str(registry) in message and "not valid JSON" in message
        assert len(svc.registry.models) == before - 1

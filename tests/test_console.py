"""The console driven with Pilot: re-ranking as you type, routing, other processes' decisions, bad
budgets, layout, themes, keymap and the command palette."""

from __future__ import annotations

import asyncio
import tomllib

import pytest
from textual.widgets import DataTable, Input, Select

from modelwise.core.settings import Weights
from modelwise.service import TokenOptimizationService
from modelwise.tui.app import ModelwiseApp
from modelwise.tui.panes.route import RoutePane
from tests.conftest import BRIEF_REGISTRY, run_cli
from tests.tui_support import SNAPSHOT_CONFIG, seed, settle, wait_for


def breakdown_cell(app: ModelwiseApp, row: int, column: str) -> str:
    table = app.query_one("#breakdown", DataTable)
    return table.get_cell(f"r{row}", column).plain


async def test_typing_and_weights_rerank_the_breakdown(make_service) -> None:
    app = ModelwiseApp(make_service(config='timezone = "UTC"'), cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        pane = app.query_one(RoutePane)
        app.query_one("#task-type", Select).value = "documentation"
        app.query_one("#task-budget", Input).value = "0.01"
        await pilot.pause()
        assert pane.breakdown["winner"]["name"] == "GPT-4o Mini"  # the brief's worked example
        assert breakdown_cell(app, 0, "model") == "GPT-4o Mini"
        assert breakdown_cell(app, 0, "total") == "0.9515"

        # Cost weight 0.10 -> 0.00: quality decides, GPT-4o wins (raw and normalised shown).
        app.query_one("#w-cost").focus()
        await pilot.press("minus", "minus")
        await pilot.pause()
        assert pane.weights == Weights(0.4, 0.3, 0.2, 0.0)
        assert "cost 0.00 (0%)" in str(app.query_one("#w-cost").render())
        assert "capability 0.40 (44%)" in str(app.query_one("#w-capability").render())
        assert pane.breakdown["winner"]["name"] == "GPT-4o"
        assert breakdown_cell(app, 0, "model") == "GPT-4o"
        assert breakdown_cell(app, 0, "eligibility") == "winner"

        # Typing the description raises the estimated tokens as you type...
        app.query_one("#description").focus()
        await pilot.press(*"docs")
        await pilot.pause()
        assert pane.breakdown["estimatedTokens"]["input"] == 1000 + 1
        # ...and a long one pushes GPT-4o over the $0.01 task budget: Claude Sonnet 4 takes over.
        app.query_one("#description", Input).insert_text_at_cursor("x" * 996)
        await pilot.pause()
        assert pane.breakdown["estimatedTokens"]["input"] == 1000 + 250
        assert pane.breakdown["winner"]["name"] == "Claude Sonnet 4"
        assert "over the task budget $0.0100" in breakdown_cell(app, 0, "eligibility")
        assert breakdown_cell(app, 1, "eligibility") == "winner"
        # The highlighted row's reason in full, under the table.
        note = str(app.query_one("#breakdown-note").render())
        assert note.startswith("#1 GPT-4o: estimated cost $0.0103 over the task budget $0.0100")


async def test_flip_point_in_words(make_service) -> None:
    app = ModelwiseApp(make_service(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.query_one("#task-type", Select).value = "code_generation"
        await pilot.pause()
        verdict = str(app.query_one("#verdict").render())
        assert "Claude Sonnet 4" in verdict and "+0.0120 over GPT-4o" in verdict
        assert "GPT-4o would win if cost weighed 0.04 instead of 0.1" in verdict


@pytest.mark.clock
async def test_routing_records_and_dry_run_does_not(make_service) -> None:
    svc = make_service(config='timezone = "UTC"')
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.query_one("#description").focus()
        await pilot.press(*"add a cache")
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert app.query_one(RoutePane).last_result["status"] == "dry-run"
        assert svc.decisions() == []

        await pilot.press("ctrl+r")
        await settle(pilot)
        recorded = svc.decisions()
        assert len(recorded) == 1
        assert recorded[0]["agent"] == "console" and recorded[0]["description"] == "add a cache"
        assert recorded[0]["selectedModelName"] == "Claude Sonnet 4"
        # The app's own write reaches the history through the watcher like any other.
        history = app.query_one("#history-table", DataTable)
        await wait_for(pilot, lambda: history.row_count == 1)
        assert history.get_cell(recorded[0]["decisionId"], "model").plain == "Claude Sonnet 4"


@pytest.mark.clock
async def test_a_decision_from_another_process_appears_in_the_history(cli_env, backend) -> None:
    cli_env["MODELWISE_LEDGER"] = backend.location  # a SQLite file, or a PostgreSQL database
    svc = TokenOptimizationService(
        registry=cli_env["MODELWISE_REGISTRY"],
        ledger=cli_env["MODELWISE_LEDGER"],
        config=cli_env["MODELWISE_CONFIG"],
    )
    app = ModelwiseApp(svc, cursor_blink=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            history = app.query_one("#history-table", DataTable)
            assert history.row_count == 0
            # The history is the budget day's. A decision made in the day's last second, which the
            # console reads after midnight, is rightly not in it: then the next day's is waited for.
            for _ in range(2):
                day = svc.today()
                done = await asyncio.to_thread(
                    run_cli,
                    "route",
                    "documentation",
                    "Write the changelog",
                    "--agent",
                    "ci-bot",
                    "--json",
                    env=cli_env,
                )
                assert done.returncode == 0, done.stderr
                waited = await wait_for(pilot, lambda day=day: history.row_count == 1 or svc.today() != day,
                                        timeout=3.0)
                if svc.today() == day:
                    break
            assert history.row_count == 1
            assert waited < 1.0, f"took {waited:.2f} s to show another process's decision"
            row = history.get_row_at(0)
            assert [c.plain for c in row[1:5]] == ["ci-bot", "documentation", "simple", "GPT-4o Mini"]
            budget_line = str(app.query_one("#budget-headline").render())
            assert "spent $0.000271" in budget_line
    finally:
        svc.close()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-3", "budget must be more than $0, not -3"),
        ("abc", "budget 'abc' is not a number of USD"),
        ("nan", "budget must be a finite number of USD, not 'nan'"),
        ("0", "budget must be more than $0, not 0"),
    ],
)
async def test_a_bad_budget_is_refused_with_its_reason(make_service, text: str, reason: str) -> None:
    svc = make_service()
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        budget = app.query_one("#task-budget", Input)
        budget.focus()
        await pilot.press(*text)
        await pilot.pause()
        assert not budget.is_valid
        assert budget.has_class("-invalid")
        assert reason in str(app.query_one("#verdict").render())
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert any(reason in n.message for n in app._notifications)
        assert svc.decisions() == []
        # A good budget is accepted again.
        budget.value = "$0.5"
        await pilot.pause()
        assert budget.is_valid and app.query_one(RoutePane).problem is None


async def test_history_selection_shows_the_stored_breakdown(make_service, clock) -> None:
    seed(make_service(config=SNAPSHOT_CONFIG), clock)
    app = ModelwiseApp(make_service(config=SNAPSHOT_CONFIG), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        history = app.query_one("#history-table", DataTable)
        assert [history.get_cell(history.ordered_rows[i].key, "type").plain for i in range(4)] == [
            "debugging",
            "architecture",
            "code_generation",
            "documentation",
        ]  # newest first
        await pilot.press("down")
        await settle(pilot)
        pane = app.query_one("#history")
        selected = history.coordinate_to_cell_key(history.cursor_coordinate).row_key.value
        assert pane.detail_id == selected
        candidates = app.query_one("#history-candidates", DataTable)
        assert candidates.row_count == 3
        assert "Design the ledger replication" in str(app.query_one("#history-detail").render())


async def test_layout_all_panes_when_wide_one_at_a_time_when_small(make_service) -> None:
    app = ModelwiseApp(make_service(), cursor_blink=False)
    panes = ("registry", "route", "budget", "history")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.wide
        assert all(app.query_one(f"#{p}").region.area > 0 for p in panes)
        assert not app.query_one("#pane-tabs").display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.wide
        assert [p for p in panes if app.query_one(f"#{p}").region.area > 0] == ["route"]
        await pilot.press("f4")
        await pilot.pause()
        assert [p for p in panes if app.query_one(f"#{p}").region.area > 0] == ["budget"]
        # Nothing of the budget pane falls off the 80x24 screen.
        assert app.query_one("#alerts").region.bottom <= 23
        assert app.focused is app.query_one("#pane-tabs")  # not the hidden description
        await pilot.press("right")  # the tabs switch panes from the keyboard too
        await pilot.pause()
        assert app.pane == "history"
        await pilot.press("f3")
        assert app.focused is app.query_one("#description")
        await pilot.click("#tab-registry")
        await pilot.pause()
        assert app.pane == "registry"
        assert app.focused is app.query_one("#pane-tabs")  # the clicked tabs, shown, not a hidden input


async def test_registry_sort_filter_and_task_type(make_service) -> None:
    svc = make_service()
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        table = app.query_one("#registry-table", DataTable)
        names = lambda: [table.get_row_at(i)[0].plain for i in range(table.row_count)]  # noqa: E731
        assert names() == ["GPT-4o", "Claude Sonnet 4", "GPT-4o Mini"]  # quality, best first
        x = sum(c.get_render_width(table) for c in list(table.columns.values())[:2]) + 2
        await pilot.click("#registry-table", offset=(x, 0))  # the third header: in $/1M
        await pilot.pause()
        assert app.query_one("#registry").sort_key == "input"
        assert names() == ["GPT-4o Mini", "Claude Sonnet 4", "GPT-4o"]
        table.focus()
        await pilot.press("s")  # the cursor's column (name)
        assert names() == ["Claude Sonnet 4", "GPT-4o", "GPT-4o Mini"]
        await pilot.press("s")
        assert names() == ["GPT-4o Mini", "GPT-4o", "Claude Sonnet 4"]
        await pilot.press("slash", *"mini")
        await pilot.pause()
        assert names() == ["GPT-4o Mini"]
        assert "1 of 3 models" in str(app.query_one("#registry-count").render())
        app.query_one("#registry-filter", Input).value = ""
        app.query_one("#registry-type", Select).value = "architecture"
        await settle(pilot)
        assert sorted(names()) == ["Claude Sonnet 4", "GPT-4o"]  # GPT-4o Mini cannot do architecture
        assert "2 models for architecture" in str(app.query_one("#registry-count").render())


async def test_observed_values_show_once_outcomes_exist(make_service, clock) -> None:
    seed(make_service(config=SNAPSHOT_CONFIG), clock)
    app = ModelwiseApp(make_service(config=SNAPSHOT_CONFIG), cursor_blink=False)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        app.query_one("#registry-type", Select).value = "documentation"
        await settle(pilot)
        table = app.query_one("#registry-table", DataTable)
        observed = {
            table.get_row_at(i)[0].plain: table.get_row_at(i)[9].plain for i in range(table.row_count)
        }
        assert observed["GPT-4o Mini"] == "1/1 ok, 900 ms"
        assert observed["GPT-4o"] == "-"


async def test_themes_bad_file_reported_once_choice_persists(make_service, tmp_path) -> None:
    svc = make_service(config='timezone = "UTC"\ndaily_budget = 7.5\n')
    user_themes = svc.paths.config.parent / "themes"
    user_themes.mkdir()
    (user_themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (user_themes / "garbage.json").write_text("{not json")
    (user_themes / "mine.json").write_text('{"name": "mine", "primary": "#ff00aa", "dark": true}')
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.theme == "modelwise-dark"
        assert {"modelwise-dark", "modelwise-light", "ledger-green", "mine"} <= set(app.available_themes)
        assert "broken" not in app.available_themes
        notes = [n for n in app._notifications if n.title == "Some themes were skipped"]
        assert len(notes) == 1
        assert "broken.toml: primary: Value error, 'not-a-colour' is not a colour" in notes[0].message or (
            "broken.toml" in notes[0].message and "not a colour" in notes[0].message
        )
        assert "garbage.json" in notes[0].message
        app.action_set_theme("ledger-green")
        await wait_for(pilot, lambda: "ledger-green" in svc.paths.config.read_text())
    saved = tomllib.loads(svc.paths.config.read_text())
    assert saved == {"timezone": "UTC", "daily_budget": 7.5, "theme": "ledger-green"}
    # The next start uses it.
    again = ModelwiseApp(make_service(config=svc.paths.config.read_text()), cursor_blink=False)
    assert again.theme == "ledger-green"


async def test_save_and_reset_weights(make_service) -> None:
    svc = make_service(config="daily_budget = 5.0\n[weights]\ncost = 0.2\n")
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        pane = app.query_one(RoutePane)
        assert pane.weights == Weights(0.4, 0.3, 0.2, 0.2)
        app.query_one("#w-performance").focus()
        await pilot.press("plus", "right_square_bracket")
        assert pane.weights == Weights(0.4, 0.36, 0.2, 0.2)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "0.36" in svc.paths.config.read_text())
        saved = tomllib.loads(svc.paths.config.read_text())
        assert saved == {
            "daily_budget": 5.0,
            "weights": {"cost": 0.2, "capability": 0.4, "performance": 0.36, "availability": 0.2},
        }
        await pilot.press("minus", "minus")
        assert pane.weights.performance == pytest.approx(0.26)
        await pilot.press("ctrl+o")  # back to the config's (the saved) weights
        assert pane.weights == Weights(0.4, 0.36, 0.2, 0.2)


async def test_weights_cannot_all_be_zero(make_service) -> None:
    svc = make_service(config="[weights]\ncapability = 0.05\nperformance = 0\navailability = 0\ncost = 0\n")
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.query_one("#w-capability").focus()
        await pilot.press("minus")
        await pilot.pause()
        assert app.query_one(RoutePane).weights.capability == 0.05
        assert any("must not all be zero" in n.message for n in app._notifications)


async def test_keymap_from_the_config_remaps_a_binding(make_service) -> None:
    svc = make_service(config='[keymap]\n"route.dry-run" = "ctrl+y"\n')
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")  # no longer bound
        await settle(pilot)
        assert app.query_one(RoutePane).last_result is None
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert app.query_one(RoutePane).last_result["status"] == "dry-run"


async def test_command_palette_has_the_apps_commands(make_service) -> None:
    svc = make_service(config="[weights]\ncost = 0.3\n")
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        pane = app.query_one(RoutePane)
        pane.weights = Weights(1, 1, 1, 1)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"reset weights")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert pane.weights == Weights(0.4, 0.3, 0.2, 0.3)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"show budget")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.pane == "budget"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"theme: ledger-green")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "ledger-green"
        await wait_for(pilot, lambda: "ledger-green" in svc.paths.config.read_text())


async def test_help_screen_opens_and_closes(make_service) -> None:
    app = ModelwiseApp(make_service(config='[keymap]\n"route.record" = "f9"\n'), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "HelpScreen"
        rows = app.screen.rows
        assert ("f9", "Route the task and record it", "route.record") in rows
        assert ("/", "Filter the models by text", "registry.filter") in rows
        assert "[keymap]" in str(app.screen.query_one("#help-about").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ != "HelpScreen"


def test_route_never_imports_textual(cli_env) -> None:
    code = (
        "import sys, modelwise.cli as c; rc = c.main(['route', 'documentation', 'x', '--dry-run', '--json']);"
        "print('TEXTUAL' if 'textual' in sys.modules else 'CLEAN', rc)"
    )
    import os
    import subprocess
    import sys

    env = dict(os.environ, **cli_env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip().endswith("CLEAN 0"), out.stdout + out.stderr
    assert "console" in run_cli("--help", env=cli_env).stdout


def test_brief_registry_fixture_is_the_one_in_use() -> None:
    assert BRIEF_REGISTRY.name == "brief_registry.json"


async def test_history_keeps_the_latest_decisions_and_says_so(make_service, clock, monkeypatch) -> None:
    monkeypatch.setattr("modelwise.tui.state.HISTORY_LIMIT", 2)
    seed(make_service(config=SNAPSHOT_CONFIG), clock)
    app = ModelwiseApp(make_service(config=SNAPSHOT_CONFIG), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        history = app.query_one("#history-table", DataTable)
        types = [history.get_row_at(i)[2].plain for i in range(history.row_count)]
        assert types == ["debugging", "architecture"]
        count = str(app.query_one("#history-count").render())
        assert count.startswith("4 decisions today") and "the latest 2 shown" in count


@pytest.mark.clock
async def test_an_outcome_recorded_elsewhere_updates_the_row_in_place(make_service, clock) -> None:
    decisions = seed(make_service(config=SNAPSHOT_CONFIG), clock)
    app = ModelwiseApp(make_service(config=SNAPSHOT_CONFIG), cursor_blink=False)
    other = make_service(config=SNAPSHOT_CONFIG)  # its own connections, as another process would have
    target = decisions[1]["decisionId"]  # code_generation on Claude Sonnet 4
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.query_one("#registry-type", Select).value = "code_generation"
        await settle(pilot)
        table = app.query_one("#registry-table", DataTable)

        def observed(name: str) -> str:
            keys = [r.key for r in table.ordered_rows]
            return {table.get_cell(k, "name").plain: table.get_cell(k, "observed").plain for k in keys}[name]

        assert observed("Claude Sonnet 4") == "-"
        history = app.query_one("#history-table", DataTable)
        assert history.get_cell(target, "actual").plain == "-"
        await asyncio.to_thread(other.record_outcome, target, "failure", cost=0.02, latency_ms=1500)
        # $0.02 to four places, or to two significant digits where the pane is narrow
        await wait_for(pilot, lambda: history.get_cell(target, "actual").plain in ("$0.0200", "$0.020"))
        assert history.get_cell(target, "status").plain == "routed · failure"
        assert history.row_count == 4
        # The calibration changed, so the registry reloads by itself with what was observed.
        await wait_for(pilot, lambda: observed("Claude Sonnet 4") == "0/1 ok, 1500 ms")


async def test_a_ledger_that_cannot_open_is_reported_not_fatal(make_service, tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    app = ModelwiseApp(make_service(ledger=blocker / "ledger.sqlite3"), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: any(n.title == "Ledger watcher failed" for n in app._notifications))
        # The form still works on the registry alone.
        app.query_one("#description").focus()
        await pilot.press(*"still here")
        assert app.query_one(RoutePane).breakdown["winner"]["name"] == "Claude Sonnet 4"
        assert app.is_running

"""Snapshots of every console pane at 80x24 and of the whole console at 160x48: a fixed registry, a
temporary ledger seeded by a fixed clock, a fixed theme, no cursor blink."""

from __future__ import annotations

import pytest
from tests.tui_support import SNAPSHOT_CONFIG, deterministic_ids, seed, settle

from modelwise.tui.app import ModelwiseApp


@pytest.fixture
def app(make_service, clock, monkeypatch) -> ModelwiseApp:
    deterministic_ids(monkeypatch)
    seed(make_service(config=SNAPSHOT_CONFIG), clock)
    return ModelwiseApp(make_service(config=SNAPSHOT_CONFIG), cursor_blink=False)


@pytest.mark.parametrize("pane", ["registry", "route", "budget", "history"])
def test_each_pane_at_80x24(snap_compare, app: ModelwiseApp, pane: str) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        app.action_show_pane(pane)
        if pane == "route":
            await pilot.press(*"write docs")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_all_panes_at_160x48(snap_compare, app: ModelwiseApp) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        app.action_show_pane("history")
        await pilot.press("down")
        await settle(pilot)
        app.action_show_pane("route")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)


def test_refused_budget_at_80x24(snap_compare, app: ModelwiseApp) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        app.query_one("#task-budget").focus()
        await pilot.press(*"-3")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_light_theme_at_80x24(snap_compare, make_service, clock, monkeypatch) -> None:
    deterministic_ids(monkeypatch)
    config = 'timezone = "UTC"\ntheme = "modelwise-light"\n'
    seed(make_service(config=config), clock)
    app = ModelwiseApp(make_service(config=config), cursor_blink=False)

    async def run_before(pilot) -> None:
        await settle(pilot)
        app.action_show_pane("budget")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)

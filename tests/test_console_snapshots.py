"""Snapshots of every console pane at 80x24 and of the whole console at 160x48: a fixed registry, a
temporary ledger seeded by a fixed clock, a fixed theme, no cursor blink."""

from __future__ import annotations

import pytest

from modelwise.tui.app import ModelwiseApp
from tests.tui_support import CHART_REGISTRY, SNAPSHOT_CONFIG, deterministic_ids, seed, settle


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


# Issue 7: the explanation, the what-if line, the sensitivity grid and the frontier chart, over a
# registry of twelve models (six on the frontier, one free, one unrated) with four decisions today.


@pytest.fixture
def chart_app(make_service, clock, monkeypatch) -> ModelwiseApp:
    deterministic_ids(monkeypatch)
    seed(make_service(registry=CHART_REGISTRY, config=SNAPSHOT_CONFIG), clock)
    return ModelwiseApp(make_service(registry=CHART_REGISTRY, config=SNAPSHOT_CONFIG), cursor_blink=False)


async def _cost_weight_zero(pilot) -> None:
    """Cost no longer counts: the winner changes and so do two of today's four decisions."""
    await settle(pilot)
    pilot.app.query_one("#w-cost").focus()
    await pilot.press("minus", "minus")
    await settle(pilot)


def test_explanation_and_whatif_at_80x24(snap_compare, chart_app: ModelwiseApp) -> None:
    assert snap_compare(chart_app, terminal_size=(80, 24), run_before=_cost_weight_zero)


def test_sensitivity_grid_at_80x24(snap_compare, chart_app: ModelwiseApp) -> None:
    async def run_before(pilot) -> None:
        await _cost_weight_zero(pilot)
        await pilot.press("ctrl+g")
        await settle(pilot)

    assert snap_compare(chart_app, terminal_size=(80, 24), run_before=run_before)


def test_frontier_chart_at_80x24(snap_compare, chart_app: ModelwiseApp) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f2", "c")
        await settle(pilot)

    assert snap_compare(chart_app, terminal_size=(80, 24), run_before=run_before)


def test_frontier_table_at_80x24(snap_compare, chart_app: ModelwiseApp) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f2", "p")
        await settle(pilot)

    assert snap_compare(chart_app, terminal_size=(80, 24), run_before=run_before)


def test_explanation_chart_and_grid_at_160x48(snap_compare, chart_app: ModelwiseApp) -> None:
    async def run_before(pilot) -> None:
        await _cost_weight_zero(pilot)
        await pilot.press("ctrl+g")
        app = pilot.app
        app.action_show_pane("registry")
        await pilot.press("p", "c")
        await settle(pilot)
        app.action_show_pane("route")
        await settle(pilot)

    assert snap_compare(chart_app, terminal_size=(160, 48), run_before=run_before)


# Issue 17: the layout of each size people use (four panes, four compact panes, the half-width split of
# route and budget, tabs), over the twelve-model registry with four decisions today.


@pytest.mark.parametrize("size", [(200, 50), (150, 40), (100, 40), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_layout_at_size(snap_compare, chart_app: ModelwiseApp, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        app = pilot.app
        app.action_show_pane("history")
        await pilot.press("down")
        await settle(pilot)
        app.action_show_pane("route")
        await settle(pilot)

    assert snap_compare(chart_app, terminal_size=size, run_before=run_before)

"""Issue 7 in the console, checked by definition against the service: the registry's frontier toggle
and quality/price chart, the route form's live what-if line and its sensitivity grid."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Select

from modelwise.core.explain import grid_current_cell
from modelwise.core.settings import Weights
from modelwise.tui.app import ModelwiseApp
from modelwise.tui.coalesce import LatestOnly
from modelwise.tui.format import money
from modelwise.tui.panes.registry import RegistryPane
from modelwise.tui.panes.route import RoutePane
from tests.tui_support import CHART_REGISTRY, SNAPSHOT_CONFIG, seed, settle, wait_for


def seeded(make_service, clock) -> tuple:
    """Four decisions today over the chart registry; a service of its own (as another process would
    have) to compute what the console should show, and the console."""
    seed(make_service(registry=CHART_REGISTRY, config=SNAPSHOT_CONFIG), clock)
    other = make_service(registry=CHART_REGISTRY, config=SNAPSHOT_CONFIG)
    app = ModelwiseApp(make_service(registry=CHART_REGISTRY, config=SNAPSHOT_CONFIG), cursor_blink=False)
    return other, app


def table_ids(app: ModelwiseApp) -> list[str]:
    table = app.query_one("#registry-table", DataTable)
    return [str(k.value) for k in table.rows]


async def test_frontier_toggle_shows_exactly_the_pareto_models(make_service) -> None:
    svc = make_service(registry=CHART_REGISTRY)
    app = ModelwiseApp(make_service(registry=CHART_REGISTRY), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        pane = app.query_one(RegistryPane)
        assert len(table_ids(app)) == 12 and pane.task_type is None
        await pilot.press("p")  # all task types chosen: the frontier of the route form's type
        await settle(pilot)
        assert pane.task_type == "code_generation"
        front = [r["id"] for r in svc.pareto("code_generation")]
        assert len(front) == 6
        assert sorted(table_ids(app)) == sorted(front)
        assert str(app.query_one("#registry-count").render()) == "frontier: 6 of 12 models"
        app.query_one("#registry-type", Select).value = "architecture"  # another type: its frontier
        await settle(pilot)
        assert sorted(table_ids(app)) == sorted(r["id"] for r in svc.pareto("architecture"))
        await pilot.press("p")
        await pilot.pause()
        assert len(table_ids(app)) == 12
        assert str(app.query_one("#registry-count").render()) == "12 models for architecture"


async def test_chart_draws_the_service_points_and_marks_the_forms_winner(make_service) -> None:
    svc = make_service(registry=CHART_REGISTRY)
    app = ModelwiseApp(make_service(registry=CHART_REGISTRY), cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        route = app.query_one(RoutePane)
        await pilot.press("f2", "c")
        await settle(pilot)
        chart = app.query_one("#registry-chart")
        assert app.focused is chart  # the chart took the table's place, and its keys
        assert chart.data == svc.quality_price("code_generation")
        winner = route.breakdown["winner"]["model"]
        assert winner == "core-2"
        assert chart.marked_winner()["id"] == winner
        assert "★" in chart.render().plain
        legend = str(app.query_one("#registry-chart-legend").render())
        assert "11 rated models" in legend and "frontier (6)" in legend and "winner Core 2" in legend

        # The form's winner changes (cost no longer counts): the star moves with it.
        route.weights = Weights(0.4, 0.3, 0.2, 0.0)
        await settle(pilot)
        expected = svc.breakdown("code_generation", "", None, (0.4, 0.3, 0.2, 0.0))["winner"]["model"]
        assert expected != winner
        assert chart.marked_winner()["id"] == expected == route.breakdown["winner"]["model"]

        # The form on another task type: no star on this type's chart, and the legend says why.
        app.query_one("#task-type", Select).value = "documentation"
        await settle(pilot)
        assert chart.marked_winner() is None
        assert "★" not in chart.render().plain
        assert "the route form is on documentation" in str(app.query_one("#registry-chart-legend").render())

        # The chart's own type changes: the service's points for it.
        app.query_one("#registry-type", Select).value = "documentation"
        await settle(pilot)
        assert chart.data == svc.quality_price("documentation")
        assert chart.marked_winner()["id"] == route.breakdown["winner"]["model"]
        await pilot.press("c")
        await pilot.pause()
        assert app.query_one("#registry-chart-box").region.area == 0
        assert app.focused is app.query_one("#registry-table")


@pytest.mark.parametrize(
    "weights", [Weights(0.4, 0.3, 0.2, 0.0), Weights(0.4, 0.3, 0.2, 0.1), Weights(0.1, 0.1, 0.1, 0.9)]
)
async def test_whatif_line_is_whatif_today_for_the_forms_weights(make_service, clock, weights) -> None:
    other, app = seeded(make_service, clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        pane = app.query_one(RoutePane)
        pane.weights = weights
        await settle(pilot)
        assert pane.whatif_weights == weights
        line = str(app.query_one("#whatif").render())
        expected = other.whatif_today(weights)
        assert expected["decisions"] == 4
        rec, rep = money(expected["recorded"]["cost"]), money(expected["replayed"]["cost"])
        if expected["changed"]:
            assert line == (
                f"today under these weights: {rep} instead of {rec}, "
                f"{expected['changed']} of 4 decisions change model"
            )
        else:  # the config's weights: every decision was routed with them
            assert weights == Weights(0.4, 0.3, 0.2, 0.1)
            assert (
                line == f"today under these weights: {rec} as recorded, none of the 4 decisions change model"
            )
        assert pane.whatif == expected


async def test_whatif_follows_the_last_of_quick_weight_changes(make_service, clock) -> None:
    other, app = seeded(make_service, clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        pane = app.query_one(RoutePane)
        app.query_one("#w-cost").focus()
        await pilot.press(*["plus"] * 8)  # no pause: the re-rank keeps up, the what-if coalesces
        assert pane.weights.cost == pytest.approx(0.5)
        await settle(pilot)
        assert pane.whatif_weights == pane.weights
        assert not app.query_one("#whatif").has_class("-stale")
        assert pane.whatif["replayed"] == other.whatif_today(pane.weights)["replayed"]
        # A new decision (another process) re-runs it for the same weights.
        before = pane.whatif["decisions"]
        other.route_task("documentation", "one more", None, agent="elsewhere")
        await wait_for(pilot, lambda: pane.whatif is not None and pane.whatif["decisions"] == before + 1)


async def test_whatif_line_with_no_decisions_today(make_service) -> None:
    app = ModelwiseApp(make_service(config=SNAPSHOT_CONFIG), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        line = str(app.query_one("#whatif").render())
        assert line == "today under these weights: no decisions recorded today to compare"


def test_latest_only_runs_one_at_a_time_and_then_the_newest() -> None:
    started: list[int] = []
    latest = LatestOnly[int](started.append)
    latest.want(1)
    latest.want(2)
    latest.want(3)
    assert started == [1]  # 2 and 3 wait; only the newest matters
    assert latest.done() is False  # 1 is stale: 3 starts
    assert started == [1, 3]
    assert latest.done() is True and not latest.busy
    latest.want(4)
    latest.want(3)  # back to what ran last, while 4 runs
    assert latest.done() is False and started == [1, 3, 4, 3]


def grid_marks(app: ModelwiseApp) -> list[list[str]]:
    table = app.query_one("#grid", DataTable)
    return [[c.plain for c in table.get_row_at(i)[1:]] for i in range(table.row_count)]


async def test_grid_cells_are_the_services_sensitivity_grid(make_service, clock) -> None:
    svc, app = seeded(make_service, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = app.query_one(RoutePane)
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert app.query_one("#grid").region.area > 0 and app.query_one("#breakdown").region.area == 0

        def check(description: str, weights: Weights) -> None:
            g = svc.sensitivity_grid("code_generation", description, None, weights=weights)
            assert pane.grid == g
            here = grid_current_cell(g)
            mark_of = {mid: info["mark"] for mid, info in g["legend"].items()}
            expected = [
                [
                    (f"[{mark_of[m]}]" if (i, j) == here else mark_of[m])
                    if m
                    else ("[·]" if (i, j) == here else "·")
                    for j, m in enumerate(line)
                ]
                for i, line in enumerate(g["winners"])
            ]
            assert grid_marks(app) == expected
            assert len(set(mark_of)) >= 2  # more than one model wins somewhere: the grid says something
            legend = str(app.query_one("#grid-legend").render())
            assert all(f"{info['mark']} {info['name']}" in legend for info in g["legend"].values())

        check("", Weights(0.4, 0.3, 0.2, 0.1))
        pane.weights = Weights(0.4, 0.6, 0.2, 0.4)
        app.query_one("#description").focus()
        await pilot.press(*"a long description")
        await settle(pilot)
        check("a long description", Weights(0.4, 0.6, 0.2, 0.4))
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert app.query_one("#breakdown").region.area > 0 and app.query_one("#grid").region.area == 0


async def test_new_keys_are_remappable_and_in_the_palette(make_service) -> None:
    config = '[keymap]\n"registry.frontier" = "f"\n"registry.chart" = "k"\n"route.grid" = "ctrl+y"\n'
    app = ModelwiseApp(make_service(registry=CHART_REGISTRY, config=config), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        pane = app.query_one(RegistryPane)
        route = app.query_one(RoutePane)
        await pilot.press("ctrl+y")
        assert route.grid_shown
        await pilot.press("f2", "p", "c")  # no longer bound
        assert not pane.frontier_only and not pane.chart_shown
        await pilot.press("f")
        await settle(pilot)
        assert pane.frontier_only
        await pilot.press("k")
        await settle(pilot)
        assert pane.chart_shown
        for command, done in (
            ("frontier", lambda: not pane.frontier_only),
            ("chart", lambda: not pane.chart_shown),
            ("sensitivity grid", lambda: not route.grid_shown),
        ):
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*command)
            await pilot.pause(0.3)
            await pilot.press("enter")
            await settle(pilot)
            assert done(), command
        await pilot.press("f1")
        await pilot.pause()
        rows = app.screen.rows
        assert (
            "k",
            "Quality against price for the task type, the winner marked (again: hide)",
            "registry.chart",
        ) in rows

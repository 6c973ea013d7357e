"""Keys that do what they say: Tab walks every pane at every size, + and - type into a text field, weight
keys act only on weights, the palette's screenshot is saved where it can be and says where, and an empty
frontier says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select

from modelwise.core.settings import Weights
from modelwise.tui.app import ModelwiseApp
from tests.tui_support import CHART_REGISTRY, settle, wait_for

PANES = ("route", "registry", "budget", "history")


def pane_of(app: ModelwiseApp) -> str | None:
    focused = app.focused
    for p in PANES:
        if focused is not None and app.query_one(f"#{p}") in focused.ancestors_with_self:
            return p
    return None


@pytest.mark.parametrize("size", [(160, 48), (100, 40), (80, 24)])
async def test_tab_walks_every_pane_and_back(make_service, size) -> None:
    app = ModelwiseApp(make_service(), cursor_blink=False)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for key in ("tab", "shift+tab"):
            reached = set()
            for _ in range(20):  # 14 focusable widgets in all
                await pilot.press(key)
                reached.add(pane_of(app))
                focused = app.focused
                assert focused is not None and focused.region.area > 0  # never a hidden widget
                if reached >= set(PANES):
                    break
            assert reached >= set(PANES), (key, reached)


async def test_plus_and_minus_type_into_text_fields_and_weights_move_only_on_a_weight(make_service) -> None:
    app = ModelwiseApp(make_service(), cursor_blink=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        route = app.query_one("#route")
        start = route.weights
        for field in ("#description", "#registry-filter"):
            app.query_one(field).focus()
            await pilot.press("plus", "minus", "equals_sign", "left_square_bracket", "right_square_bracket")
            assert app.query_one(field, Input).value == "+-=[]"
            app.query_one(field, Input).value = ""
        for other in ("#breakdown", "#registry-table", "#history-table", "#budget"):
            app.query_one(other).focus()
            await pilot.press("plus", "minus", "right_square_bracket")
            await pilot.pause()
            assert route.weights == start, other
        app.query_one("#w-performance").focus()
        await pilot.press("plus")
        await pilot.pause()
        assert route.weights == Weights(0.4, 0.35, 0.2, 0.1)


async def test_screenshot_is_saved_where_it_can_be_and_says_where(make_service, tmp_path, monkeypatch):
    missing = tmp_path / "no-downloads-here"
    monkeypatch.setattr("platformdirs.user_downloads_path", lambda: missing)
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    app = ModelwiseApp(make_service(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.deliver_screenshot()  # what the palette's "Screenshot" command calls
        await wait_for(pilot, lambda: any(n.title == "Screenshot" for n in app._notifications))
        note = next(n for n in app._notifications if n.title == "Screenshot")
        saved = list(here.glob("*.svg"))
        assert len(saved) == 1 and "<svg" in saved[0].read_text()
        assert str(saved[0]) in note.message and note.severity != "error"
        assert not missing.exists()


async def test_an_empty_frontier_says_why(make_service) -> None:
    app = ModelwiseApp(make_service(registry=CHART_REGISTRY), cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        app.query_one("#registry-type", Select).value = "code_generation"
        await settle(pilot)
        app.query_one("#registry-table").focus()
        await pilot.press("p")
        await settle(pilot)
        count = lambda: str(app.query_one("#registry-count").render())  # noqa: E731
        assert count().startswith("frontier: 6 of 12 models")
        app.query_one("#registry-filter", Input).value = "no such model"
        await wait_for(pilot, lambda: "none of its" in count())
        assert count() == "frontier: none of its 6 models for code_generation matches 'no such model'"
        assert "0 of" not in count()


def test_screenshot_folder_falls_back_when_nothing_else_is_writable(tmp_path, monkeypatch) -> None:
    from modelwise.tui.app import screenshot_folder

    monkeypatch.setattr("platformdirs.user_downloads_path", lambda: tmp_path / "missing")
    monkeypatch.chdir(tmp_path)
    assert screenshot_folder(tmp_path / "cache") == tmp_path  # the current folder
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    monkeypatch.setattr("platformdirs.user_downloads_path", lambda: downloads)
    assert screenshot_folder(tmp_path / "cache") == Path(downloads)

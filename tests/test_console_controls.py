"""Model names, descriptions, agents and reasons are drawn with their control characters escaped (C0,
DEL, C1, bidi), never raw, in every pane."""

from __future__ import annotations

import json

from modelwise.core.settings import Settings
from modelwise.tui.app import ModelwiseApp
from modelwise.tui.format import shown
from tests.tui_support import settle

EVIL = "Evil\x1b[31mRed\x07\x7f\x9b2J\u202egnp.exe\u2066"
RAW = ("\x1b", "\x07", "\x7f", "\x9b", "\u202e", "\u2066")


def _registry(tmp_path):
    models = [
        {"id": "evil-1", "name": EVIL, "provider": "acme\x1b]0;pwned\x07",
         "capabilities": list(Settings().task_types), "pricing": {"inputPer1M": 1.0, "outputPer1M": 2.0},
         "performance": {"quality": 0.99, "latency": 500}, "availability": 0.99},
        {"id": "plain-1", "name": "Plain", "provider": "acme", "capabilities": list(Settings().task_types),
         "pricing": {"inputPer1M": 1.0, "outputPer1M": 2.0}, "performance": {"quality": 0.5, "latency": 500},
         "availability": 0.99},
    ]
    path = tmp_path / "evil.json"
    path.write_text(json.dumps({"schemaVersion": 2, "models": models}))
    return path


def test_shown_escapes_strings_and_keeps_ids() -> None:
    data = shown({"id": EVIL, "name": EVIL, "rows": [{"reason": "a\x1bb", "model": "m\x1b"}], "n": 3})
    assert data["id"] == EVIL and data["rows"][0]["model"] == "m\x1b"  # looked up, not shown
    assert data["name"] == "Evil\\x1b[31mRed\\x07\\x7f\\x9b2J\\u202egnp.exe\\u2066"
    assert data["rows"][0]["reason"] == "a\\x1bb" and data["n"] == 3


async def test_no_pane_draws_a_control_character(make_service, tmp_path) -> None:
    svc = make_service(registry=_registry(tmp_path), config='timezone = "UTC"')
    svc.route_task("code_generation", "describe \x1b[2J this\u202e", agent="bot\x9b")
    svc.close()
    svc = make_service(registry=_registry(tmp_path), config='timezone = "UTC"')
    app = ModelwiseApp(svc, cursor_blink=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        app.query_one("#description").value = "why \x1b[5m now"
        app.action_show_pane("history")
        await pilot.press("down", "up")
        await settle(pilot)
        app.query_one("#registry-table").focus()
        await settle(pilot)
        screen = app.export_screenshot()
        assert "Evil\\x1b[31mRed" in screen  # the name, escaped
        raw = [screen[screen.index(c) - 80 : screen.index(c) + 20] for c in RAW if c in screen]
        assert not raw, raw
        assert app.query_one("#description").value == "why \\x1b[5m now"  # pasted: kept as its escape

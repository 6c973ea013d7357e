"""The console's first frame does not wait for the service: it is the layout with placeholders, drawn from
the settings alone; the registry and the ledger come in right after it. A bad config is still reported
before the screen changes; a registry that cannot be read is shown in the app, which exits with the
message and the exit code the CLI gives for it."""

from __future__ import annotations

import dataclasses
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Static

from modelwise.tui.app import LOADING, ModelwiseApp
from modelwise.tui.boot import Boot, prepare
from modelwise.tui.commands import ModelwiseCommands
from modelwise.tui.panes.route import RoutePane
from tests.conftest import BRIEF_REGISTRY, run_cli
from tests.tui_support import SNAPSHOT_CONFIG, settle, wait_for


@pytest.fixture
def boot(tmp_path) -> Boot:
    config = tmp_path / "config.toml"
    config.write_text(SNAPSHOT_CONFIG)
    return prepare(registry=BRIEF_REGISTRY, ledger=tmp_path / "ledger.sqlite3", config=config)


def gated(boot: Boot) -> tuple[Boot, list[bool]]:
    """`boot` whose service is built only once the test says so (`open_gate[0] = True`)."""
    open_gate = [False]

    def build():
        for _ in range(3000):  # polled, not a timed wait (CI runs console tests under libfaketime)
            if open_gate[0]:
                break
            time.sleep(0.01)
        return boot.build()

    return dataclasses.replace(boot, build=build), open_gate


async def test_the_first_frame_is_the_layout_with_placeholders_then_the_panes(boot) -> None:
    slow, open_gate = gated(boot)
    app = ModelwiseApp(boot=slow, cursor_blink=False)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            assert not app.ready
            for pane in ("route", "registry", "budget", "history"):  # every pane of the layout, framed
                box = app.query_one(f"#{pane}", Static)
                assert LOADING in str(box.render()) and box.region.area > 0
                assert box.border_title
            assert app.theme == "modelwise-dark"  # the config's theme, from the first frame on
            await pilot.press("ctrl+r")  # a key that needs the panes waits for them: nothing breaks
            await pilot.pause()
            assert not app.query(RoutePane)
            assert [c[0] for c in ModelwiseCommands(app.screen).commands()] == ["Help"]  # the palette too
            open_gate[0] = True
            await settle(pilot)
            assert app.ready and app.query_one("#route") is app.query_one(RoutePane)
            assert app.focused is app.query_one("#description")
            assert app.query_one("#task-type").size.width == 22  # the panes' own CSS came in with them
            assert app.query_one("#registry").rows  # the registry table filled, the ledger watched
            assert app.ledger_state is not None
            assert "Route the task and record it" in [c[0] for c in ModelwiseCommands(app.screen).commands()]
            await pilot.press("ctrl+t")  # the keys work once the panes are in
            await wait_for(pilot, lambda: any(n.title == "Dry run" for n in app._notifications))
    finally:
        if app.ready:
            app.service.close()


async def test_a_registry_that_cannot_be_read_is_shown_then_the_app_exits_with_its_code(tmp_path) -> None:
    bad = tmp_path / "registry.json"
    bad.write_text("{not json")
    slow, open_gate = gated(prepare(registry=bad, ledger=tmp_path / "l.sqlite3"))
    app = ModelwiseApp(boot=slow, cursor_blink=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        box = app.query_one("#route", Static)
        open_gate[0] = True
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2 and not app.ready
    assert str(bad) in str(app.boot_error) and str(bad) in str(box.render())  # shown in the pane
    assert not (tmp_path / "l.sqlite3").exists()  # nothing written


def _console_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """`modelwise console ...` on a pseudo-terminal (as a user runs it: Textual draws on stderr); its
    exit code, what the terminal showed until the full-screen app closed, and what it printed after."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelwise", "console", *args],
        stdin=follower, stdout=follower, stderr=follower,
        env={**os.environ, **env, "TERM": "xterm-256color"},
    )
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    code = proc.wait(timeout=30)
    screen, _, after = out.decode(errors="replace").replace("\r\n", "\n").rpartition(LEAVE)
    return code, screen, CONTROL.sub("", after)


CONTROL = re.compile(r"\x1b\[[0-9;?>$]*[a-zA-Z]")  # the terminal modes the app sets back as it closes
ENTER, LEAVE = "\x1b[?1049h", "\x1b[?1049l"  # the alternate screen a full-screen app opens and closes


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_the_cli_reports_a_bad_config_before_the_screen_and_a_bad_registry_after_it(cli_env, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("daily_budget = [\n")
    code, screen, after = _console_on_a_terminal(["--config", str(broken)], cli_env)
    assert code == 2 and not screen  # the full-screen app never started
    assert after.count("\n") == 1 and "not valid TOML" in after and str(broken) in after

    bad = tmp_path / "registry.json"
    bad.write_text("{not json")
    code, screen, after = _console_on_a_terminal(["--registry", str(bad)], cli_env)
    same = run_cli("models", "--registry", str(bad), env=cli_env)  # as any command reports it
    assert same.returncode == 2 and same.stderr.startswith("modelwise: ") and str(bad) in same.stderr
    assert code == 2 and ENTER in screen  # shown in the app first
    assert after.strip().splitlines()[-1] == same.stderr.strip()  # then the same line, once
    assert after.count("modelwise: ") == 1
    assert not Path(cli_env["MODELWISE_LEDGER"]).exists()
